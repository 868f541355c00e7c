/**
 * Kubernetes label selectors (`metav1.LabelSelector`): validation of the
 * user-written form, matching against a label set, and the compact string
 * form used in messages. Pool affinities are written in this shape so that
 * selectors can be copied between tidepool pools and other Kubernetes objects.
 */
import { describeValue, field, isRecord } from './values.ts';
import type { ErrorCode } from './errors.ts';
import { TidepoolError } from './errors.ts';

/** Operators of a match expression; `Gt`/`Lt` exist only for node selectors, not label selectors. */
export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One entry of `matchExpressions`; `values` is non-empty for In/NotIn and absent for Exists/DoesNotExist. */
export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  readonly values?: readonly string[];
}

/** A label selector; every listed requirement must hold (logical AND). Empty matches everything. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** Called with the full field path and the message text (without owner prefix); must throw. */
export type RejectSelector = (field: string, text: string) => never;

const OPERATORS: readonly LabelSelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const SELECTOR_FIELDS = ['matchLabels', 'matchExpressions'] as const;
const REQUIREMENT_FIELDS = ['key', 'operator', 'values'] as const;
const NAME_PART = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME_PART = 63;
const MAX_PREFIX = 253;

/** Kubernetes label key: optional DNS-1123 subdomain prefix and `/`, then a 1-63 character name. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > MAX_PREFIX || !DNS1123_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length <= MAX_NAME_PART && NAME_PART.test(name);
}

/** Kubernetes label value: empty, or 1-63 alphanumerics, `-`, `_`, `.` starting and ending alphanumeric. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= MAX_NAME_PART && NAME_PART.test(value));
}

function rejectUnknownFields(reject: RejectSelector, obj: Record<string, unknown>, path: string, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = near === undefined ? '' : ` (did you mean ${path}.${near}?)`;
    reject(`${path}.${key}`, `${path}.${key} is not a known field${hint}`);
  }
}

function planMatchLabels(reject: RejectSelector, value: unknown, path: string): Record<string, string> {
  if (!isRecord(value)) reject(path, `${path} must be an object of label keys to values, got ${describeValue(value)}`);
  const out: [string, string][] = [];
  for (const [key, v] of Object.entries(value)) {
    // Bracketed because label keys contain dots and slashes.
    const at = `${path}[${JSON.stringify(key)}]`;
    if (!isLabelKey(key)) reject(at, `${path} key ${JSON.stringify(key)} is not a valid label key`);
    if (typeof v !== 'string') reject(at, `${at} must be a string, got ${describeValue(v)}`);
    if (!isLabelValue(v)) reject(at, `${at} ${JSON.stringify(v)} is not a valid label value`);
    out.push([key, v]);
  }
  return Object.fromEntries(out);
}

function planRequirement(reject: RejectSelector, item: unknown, at: string): LabelSelectorRequirement {
  if (!isRecord(item)) reject(at, `${at} must be an object with key, operator and values, got ${describeValue(item)}`);
  rejectUnknownFields(reject, item, at, REQUIREMENT_FIELDS);

  const key = field(item, 'key');
  if (key === undefined) reject(`${at}.key`, `${at}.key is required`);
  if (typeof key !== 'string') reject(`${at}.key`, `${at}.key must be a string, got ${describeValue(key)}`);
  if (!isLabelKey(key)) reject(`${at}.key`, `${at}.key ${JSON.stringify(key)} is not a valid label key`);

  const op = field(item, 'operator');
  const opPath = `${at}.operator`;
  if (op === undefined) reject(opPath, `${opPath} is required`);
  const operator = OPERATORS.find((o) => o === op);
  if (operator === undefined) {
    const near = typeof op === 'string' ? OPERATORS.find((o) => o.toLowerCase() === op.toLowerCase()) : undefined;
    const hint = near === undefined ? '' : ` (did you mean ${near}?)`;
    reject(opPath, `${opPath} must be one of ${OPERATORS.join(', ')}, got ${describeValue(op)}${hint}`);
  }

  const values = field(item, 'values');
  const valuesPath = `${at}.values`;
  let list: unknown[] = [];
  if (values !== undefined) {
    if (!Array.isArray(values)) reject(valuesPath, `${valuesPath} must be a list of strings, got ${describeValue(values)}`);
    list = values;
  }
  if (operator === 'Exists' || operator === 'DoesNotExist') {
    if (list.length > 0) reject(valuesPath, `${valuesPath} must be empty for operator ${operator}`);
    return { key, operator };
  }
  if (list.length === 0) reject(valuesPath, `${valuesPath} must be non-empty for operator ${operator}`);
  const checked = list.map((v: unknown, i): string => {
    const vAt = `${valuesPath}[${i}]`;
    if (typeof v !== 'string') reject(vAt, `${vAt} must be a string, got ${describeValue(v)}`);
    if (!isLabelValue(v)) reject(vAt, `${vAt} ${JSON.stringify(v)} is not a valid label value`);
    return v;
  });
  return { key, operator, values: checked };
}

/**
 * Validates an untrusted value as a LabelSelector, reporting the first problem
 * through `reject(fieldPath, text)`, where `fieldPath` extends `field` (e.g.
 * `spec.nodeAffinity.matchExpressions[0].values`). For callers with their own
 * error shape, such as pool validation; others use planLabelSelector.
 */
export function planLabelSelectorWith(value: unknown, field: string, reject: RejectSelector): LabelSelector {
  if (!isRecord(value)) reject(field, `${field} must be an object with matchLabels and/or matchExpressions, got ${describeValue(value)}`);
  rejectUnknownFields(reject, value, field, SELECTOR_FIELDS);
  const labels = Object.hasOwn(value, 'matchLabels') ? value['matchLabels'] : undefined;
  const exprs = Object.hasOwn(value, 'matchExpressions') ? value['matchExpressions'] : undefined;
  const out: { matchLabels?: Record<string, string>; matchExpressions?: LabelSelectorRequirement[] } = {};
  if (labels !== undefined && labels !== null) out.matchLabels = planMatchLabels(reject, labels, `${field}.matchLabels`);
  if (exprs !== undefined && exprs !== null) {
    const path = `${field}.matchExpressions`;
    if (!Array.isArray(exprs)) reject(path, `${path} must be a list, got ${describeValue(exprs)}`);
    out.matchExpressions = exprs.map((item: unknown, i) => planRequirement(reject, item, `${path}[${i}]`));
  }
  return out;
}

/**
 * Validates an untrusted value as a LabelSelector. Throws TidepoolError
 * `code` (default INVALID_CONFIG) with message `<owner>: <problem>`, e.g.
 * `pool "lan": spec.nodeAffinity.matchExpressions[0].values must be non-empty
 * for operator In`; details carry `field` (the full path).
 */
export function planLabelSelector(value: unknown, field: string, owner: string, code: ErrorCode = 'INVALID_CONFIG'): LabelSelector {
  return planLabelSelectorWith(value, field, (at, text) => {
    throw new TidepoolError(code, `${owner}: ${text}`, { field: at });
  });
}

function hasLabel(labels: Readonly<Record<string, string>>, key: string): boolean {
  // Own properties only: label keys such as `constructor` must not hit Object.prototype.
  return Object.hasOwn(labels, key);
}

function requirementHolds(r: LabelSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const present = hasLabel(labels, r.key);
  switch (r.operator) {
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    case 'In':
      return present && (r.values ?? []).includes(labels[r.key] as string);
    case 'NotIn':
      return !present || !(r.values ?? []).includes(labels[r.key] as string);
  }
}

/**
 * Whether `labels` satisfy `sel` with Kubernetes semantics: every matchLabels
 * pair must be present, In needs the key present with a listed value, NotIn
 * holds when the key is absent or its value is unlisted. An undefined or empty
 * selector matches everything; undefined labels count as no labels.
 */
export function matchesLabelSelector(sel: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (sel === undefined) return true;
  const have = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!hasLabel(have, k) || have[k] !== v) return false;
  }
  return (sel.matchExpressions ?? []).every((r) => requirementHolds(r, have));
}

/**
 * The selector in Kubernetes' string form, in written order, for messages:
 * `a=b,c in (x,y),d notin (z),e,!f`. An undefined or empty selector gives ''.
 */
export function formatLabelSelector(sel: LabelSelector | undefined): string {
  if (sel === undefined) return '';
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of sel.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',');
    switch (r.operator) {
      case 'In':
        parts.push(`${r.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${r.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(r.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.join(',');
}
