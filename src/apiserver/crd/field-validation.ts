// The fieldValidation query parameter of create, update and patch, as the
// real server's handlers read it: Strict refuses a body with fields the kind
// does not have, Warn (the default since Kubernetes 1.27) drops them and says
// so in a `Warning: 299 - "unknown field \"spec.foo\""` header per field,
// Ignore drops them silently. A create or update refused is a 400 from the
// decoder (`IPPool in version "v1alpha1" cannot be handled as a IPPool:
// strict decoding error: unknown field "spec.foo"`); a patch refused is a
// 422 on the patched object (handlers/patch.go).
import type { KindSpec } from '../kinds.ts';
import type { ApiRequest, ApiResponse } from '../request.ts';
import { badRequest, failure, type ApiError } from '../status.ts';
import { sortKeys } from '../kinds.ts';
import { notSupported } from './field-errors.ts';

export type Directive = 'Strict' | 'Warn' | 'Ignore';

const OPTIONS_KIND = { create: 'CreateOptions', update: 'UpdateOptions', patch: 'PatchOptions' } as const;

/** The request's directive; an unknown value is the real 422 on its options object. */
export function fieldValidation(req: ApiRequest, verb: keyof typeof OPTIONS_KIND): Directive {
  const value = req.query.get('fieldValidation') ?? '';
  if (value === '') return 'Warn';
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value;
  const e = notSupported('fieldValidation', value, ['', 'Ignore', 'Strict', 'Warn']);
  const text = `${e.field}: ${e.type}: ${e.detail}`;
  throw failure(422, 'Invalid', `${OPTIONS_KIND[verb]}.meta.k8s.io "" is invalid: ${text}`, {
    group: 'meta.k8s.io',
    kind: OPTIONS_KIND[verb],
    causes: [{ reason: 'FieldValueNotSupported', message: `${e.type}: ${e.detail}`, field: e.field }],
  });
}

const unknownField = (path: string): string => `unknown field "${path}"`;

/** The decoder's refusal of a create or update body. */
export function strictDecodingError(spec: KindSpec, unknown: readonly string[]): ApiError {
  return badRequest(`${spec.kind} in version "${spec.version}" cannot be handled as a ${spec.kind}: strict decoding error: ${unknown.map(unknownField).join(', ')}`);
}

/** The patch handler's refusal: the patched object, as JSON with sorted keys, is the bad value. */
export function strictPatchError(patched: unknown, unknown: readonly string[]): ApiError {
  const detail = `strict decoding error: ${unknown.map(unknownField).join(', ')}`;
  const value = JSON.stringify(JSON.stringify(sortKeys(patched)));
  return failure(422, 'Invalid', ` "" is invalid: patch: Invalid value: ${value}: ${detail}`, {
    causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${value}: ${detail}`, field: 'patch' }],
  });
}

/** One warning per unknown field, as addStrictDecodingWarnings records them. */
export const unknownFieldWarnings = (unknown: readonly string[]): string[] => unknown.map(unknownField);

/** The header value of a warning: code 299, no agent, the text quoted. */
const warningHeader = (text: string): string => `299 - "${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Adds `Warning` headers (one value per warning, comma-separated as HTTP allows), once per distinct text. */
export function withWarnings(res: ApiResponse, warnings: readonly string[]): ApiResponse {
  if (warnings.length === 0) return res;
  const values = [...new Set(warnings)].map(warningHeader);
  const prior = res.headers['warning'];
  return { ...res, headers: { ...res.headers, warning: prior ? `${prior}, ${values.join(', ')}` : values.join(', ') } };
}
