// fieldValidation (Ignore, Warn, Strict; Warn when unset) and what the
// decoder makes of a write's body with it: built-in kinds are decoded into
// their Go types (builtin/decode.ts), unknown fields becoming warnings the
// router sends as Warning headers. Other kinds pass through (custom
// resources are checked against their own schemas).
import { decodesByType, decodeTyped, type FieldValidation } from './builtin/decode.ts';
import type { KindSpec, KubeObject } from './kinds.ts';
import { isRecord } from './kinds.ts';
import type { Verb } from './request-info.ts';
import { optionsInvalid, type OptionsKind } from './status.ts';
import { quote } from './validation.ts';

const OPTIONS_KIND: Partial<Record<Verb, OptionsKind>> = { create: 'CreateOptions', update: 'UpdateOptions', patch: 'PatchOptions' };

/** The request's directive, validated as ValidateCreateOptions (and its update and patch siblings) do. */
export function fieldValidation(query: URLSearchParams, verb: Verb | undefined): FieldValidation {
  const v = query.get('fieldValidation') ?? '';
  if (v === '') return 'Warn';
  if (v === 'Ignore' || v === 'Warn' || v === 'Strict') return v;
  const kind = (verb && OPTIONS_KIND[verb]) ?? 'CreateOptions';
  throw optionsInvalid(kind, [{ field: 'fieldValidation', type: 'Unsupported value', detail: `${quote(v)}: supported values: "Ignore", "Warn", "Strict"` }]);
}

/** A body as the server decodes it for `spec`; warnings go to `warn`. */
export function decodeBody(spec: KindSpec, body: unknown, directive: FieldValidation, warn: (text: string) => void): unknown {
  if (spec.customResource || !decodesByType(spec.kind) || !isRecord(body)) return body;
  const { object, warnings } = decodeTyped(spec.kind, spec.version, body as KubeObject, directive);
  for (const w of warnings) warn(w);
  return object;
}
