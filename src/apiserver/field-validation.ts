// fieldValidation (Ignore, Warn, Strict; Warn when unset) and what the
// decoder makes of a write's body with it, for every kind: built-in kinds are
// decoded into their Go types (builtin/decode.ts), custom resources pruned
// and defaulted by their CRD's schema and CustomResourceDefinitions decoded
// as their typed object (crd/decoders.ts). Unknown fields become warnings the
// router sends as Warning headers (Warn), vanish (Ignore), or refuse the
// request (Strict): a create or update with the decoder's 400, a patch with
// a 422 naming the patched object, as the real patch handler words it.
import { decodesByType, decodeTyped, type FieldValidation } from './builtin/decode.ts';
import { decoderOf } from './crd/decoders.ts';
import type { KindSpec, KubeObject } from './kinds.ts';
import { isRecord, sortKeys } from './kinds.ts';
import type { Verb } from './request-info.ts';
import { ApiError, badRequest, failure, optionsInvalid, type OptionsKind } from './status.ts';
import { quote } from './validation.ts';

export type { FieldValidation } from './builtin/decode.ts';

const OPTIONS_KIND: Partial<Record<Verb, OptionsKind>> = { create: 'CreateOptions', update: 'UpdateOptions', patch: 'PatchOptions' };

/**
 * The request's directive, validated as ValidateCreateOptions (and its update and patch
 * siblings) do; the supported values are listed as the real server's sorted set lists them.
 */
export function fieldValidation(query: URLSearchParams, verb: Verb | undefined): FieldValidation {
  const v = query.get('fieldValidation') ?? '';
  if (v === '') return 'Warn';
  if (v === 'Ignore' || v === 'Warn' || v === 'Strict') return v;
  const kind = (verb && OPTIONS_KIND[verb]) ?? 'CreateOptions';
  throw optionsInvalid(kind, [{ field: 'fieldValidation', type: 'Unsupported value', detail: `${quote(v)}: supported values: "", "Ignore", "Strict", "Warn"` }]);
}

const decodePrefix = (spec: KindSpec): string => `${spec.kind} in version ${JSON.stringify(spec.version)} cannot be handled as a ${spec.kind}: `;

/** A create or update body of a kind with a schema decoder (custom resources, CRDs), decoded in place. */
function decodeBySchema(spec: KindSpec, body: KubeObject, directive: FieldValidation, warn: (text: string) => void): KubeObject {
  const unknown = decoderOf(spec)!.decode(body).map((p) => `unknown field ${JSON.stringify(p)}`);
  if (directive === 'Strict' && unknown.length) throw badRequest(`${decodePrefix(spec)}strict decoding error: ${unknown.join(', ')}`);
  if (directive === 'Warn') for (const w of unknown) warn(w);
  return body;
}

/** A body as the server decodes it for `spec`; warnings go to `warn`. `verb` tells a patched object from a body. */
export function decodeBody(spec: KindSpec, body: unknown, directive: FieldValidation, warn: (text: string) => void, verb?: Verb): unknown {
  if (!isRecord(body)) return body;
  const run = (): unknown => {
    if (decoderOf(spec)) return decodeBySchema(spec, body as KubeObject, directive, warn);
    if (spec.customResource || !decodesByType(spec.kind)) return body;
    const { object, warnings } = decodeTyped(spec.kind, spec.version, body as KubeObject, directive);
    for (const w of warnings) warn(w);
    return object;
  };
  if (verb !== 'patch') return run();
  // The real patch handler decodes the patched object itself: its refusals are 422s on `patch`.
  const patched = JSON.stringify(sortKeys(body));
  try {
    return run();
  } catch (e) {
    const prefix = decodePrefix(spec);
    const message = e instanceof ApiError && e.status.code === 400 ? (e.status.message ?? '') : '';
    if (!message.startsWith(prefix)) throw e;
    const detail = `${JSON.stringify(patched)}: ${message.slice(prefix.length)}`;
    throw failure(422, 'Invalid', ` "" is invalid: patch: Invalid value: ${detail}`, { causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${detail}`, field: 'patch' }] });
  }
}
