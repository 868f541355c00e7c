// Request bodies as the real server decodes them: objects as JSON or YAML,
// patches by their media type (DeleteOptions: delete-options.ts).
// Bodies an in-process client passes as values are taken as decoded JSON.
import { parse as parseYaml } from 'yaml';
import type { KindSpec } from './kinds.ts';
import type { ApiRequest } from './request.ts';
import { badRequest, unsupportedMediaType } from './status.ts';

const text = (req: ApiRequest): string => (req.body && 'bytes' in req.body ? Buffer.from(req.body.bytes).toString('utf8') : '');

function parseJson(req: ApiRequest, what: (message: string) => string): unknown {
  if (req.body && 'value' in req.body) return req.body.value;
  try {
    return JSON.parse(text(req));
  } catch (e) {
    throw badRequest(what((e as Error).message));
  }
}

/** A create or update body: JSON or YAML; any other media type is 415. */
export function decodeObject(req: ApiRequest, spec: KindSpec): unknown {
  const type = req.contentType;
  if (type === '' || type === 'application/json' || type === '*/*') return parseJson(req, (m) => `couldn't get version/kind; json parse error: ${m}`);
  if (type === 'application/yaml') {
    if (req.body && 'value' in req.body) return req.body.value;
    try {
      return parseYaml(text(req));
    } catch (e) {
      throw badRequest(`error converting YAML to JSON: ${(e as Error).message}`);
    }
  }
  throw unsupportedMediaType(spec.customResource ? ['application/json', 'application/yaml'] : ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
};

/**
 * A patch body and its type. Strategic merge is only defined for built-in
 * kinds (415 for custom resources, as real); apply configurations are YAML
 * (or JSON, which is YAML) objects.
 */
export function decodePatch(req: ApiRequest, spec: KindSpec): { type: PatchType; patch: unknown } {
  const accepted = Object.keys(PATCH_TYPES).filter((t) => !(spec.customResource && PATCH_TYPES[t] === 'strategic'));
  const type = accepted.includes(req.contentType) ? PATCH_TYPES[req.contentType]! : undefined;
  if (!type) throw unsupportedMediaType(accepted);
  if (type === 'apply') return { type, patch: decodeApplyConfiguration(req) };
  const patch = parseJson(req, () => 'invalid JSON patch');
  if (type !== 'json' && (typeof patch !== 'object' || patch === null || Array.isArray(patch))) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
  return { type, patch };
}

function decodeApplyConfiguration(req: ApiRequest): unknown {
  let config: unknown;
  if (req.body && 'value' in req.body) config = req.body.value;
  else {
    try {
      config = parseYaml(text(req));
    } catch (e) {
      throw badRequest(`error encoding patch: ${(e as Error).message}`);
    }
  }
  // An empty document is an empty configuration, as YAML decoding into a map leaves it.
  if (config === null || config === undefined) return {};
  if (typeof config !== 'object' || Array.isArray(config)) {
    const what = Array.isArray(config) ? 'array' : typeof config === 'boolean' ? 'bool' : typeof config;
    throw badRequest(`error decoding patch: json: cannot unmarshal ${what} into Go value of type map[string]interface {}`);
  }
  return config;
}
