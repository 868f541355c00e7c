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

export type PatchType = 'merge' | 'json';

/**
 * A patch body and its type. Strategic merge is only defined for built-in
 * kinds and is applied as a JSON merge patch; server-side apply is 415.
 */
export function decodePatch(req: ApiRequest, spec: KindSpec): { type: PatchType; patch: unknown } {
  const type = req.contentType;
  const accepted = spec.customResource
    ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
    : ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
  const isMerge = type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && !spec.customResource);
  const isJsonPatch = type === 'application/json-patch+json';
  if (!isMerge && !isJsonPatch) throw unsupportedMediaType(type === 'application/apply-patch+yaml' ? ['application/json-patch+json', 'application/merge-patch+json'] : accepted);
  const patch = parseJson(req, (m) => `error decoding patch: ${m}`);
  if (isMerge && (typeof patch !== 'object' || patch === null || Array.isArray(patch))) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
  return { type: isMerge ? 'merge' : 'json', patch };
}
