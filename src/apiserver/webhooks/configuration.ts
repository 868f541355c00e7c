// ValidatingWebhookConfiguration objects (admissionregistration.k8s.io/v1)
// as the real server stores them: v1 defaulting (failurePolicy Fail,
// matchPolicy Equivalent, empty selectors, timeoutSeconds 10, rule scope
// `*`, service port 443) and the v1 validation that refuses a configuration
// it could never call (no sideEffects, no known AdmissionReview version, a
// URL that is not https, both or neither of url and service, ...).
import { isRecord, type KubeObject } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { dns1123Subdomain, quote } from '../validation.ts';

export interface RuleWithOperations {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key?: string; operator?: string; values?: string[] }>;
}

export interface ServiceReference {
  namespace?: string;
  name?: string;
  path?: string;
  port?: number;
}

/** One webhook of a configuration, after defaulting. */
export interface ValidatingWebhook {
  name: string;
  clientConfig: { url?: string; service?: ServiceReference; caBundle?: string };
  rules?: RuleWithOperations[];
  failurePolicy?: 'Fail' | 'Ignore';
  matchPolicy?: 'Exact' | 'Equivalent';
  namespaceSelector?: LabelSelectorObject;
  objectSelector?: LabelSelectorObject;
  sideEffects?: string;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
}

export interface ValidatingWebhookConfiguration extends KubeObject {
  webhooks?: ValidatingWebhook[];
}

/** The AdmissionReview versions this server can send, in its order of preference. */
export const REVIEW_VERSIONS = ['v1', 'v1beta1'];
const OPERATIONS = ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE'];
const SCOPES = ['*', 'Cluster', 'Namespaced'];

/** v1 defaulting of every webhook in `o`. */
export function defaultWebhookConfiguration(o: KubeObject): void {
  for (const h of Array.isArray(o['webhooks']) ? o['webhooks'] : []) {
    if (!isRecord(h)) continue;
    h['failurePolicy'] ??= 'Fail';
    h['matchPolicy'] ??= 'Equivalent';
    h['namespaceSelector'] ??= {};
    h['objectSelector'] ??= {};
    h['timeoutSeconds'] ??= 10;
    for (const r of Array.isArray(h['rules']) ? h['rules'] : []) if (isRecord(r)) r['scope'] ??= '*';
    const cc = h['clientConfig'];
    if (isRecord(cc) && isRecord(cc['service'])) cc['service']['port'] ??= 443;
  }
}

const goStrings = (v: unknown[]): string => `[]string{${v.map((s) => JSON.stringify(String(s))).join(', ')}}`;
const unsupported = (field: string, value: unknown, valid: string[]): FieldError => ({ field, type: 'Unsupported value', detail: `${quote(value)}: supported values: ${valid.map((v) => quote(v)).join(', ')}` });
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function ruleErrors(r: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const ops = list(r['operations']);
  if (ops.length === 0) errs.push({ field: `${at}.operations`, type: 'Required value', detail: '' });
  if (ops.length > 1 && ops.includes('*')) errs.push({ field: `${at}.operations`, type: 'Invalid value', detail: `${goStrings(ops)}: if '*' is present, must not specify other operations` });
  ops.forEach((op, i) => OPERATIONS.includes(String(op)) || errs.push(unsupported(`${at}.operations[${i}]`, op, OPERATIONS)));
  for (const key of ['apiGroups', 'apiVersions', 'resources']) if (list(r[key]).length === 0) errs.push({ field: `${at}.${key}`, type: 'Required value', detail: '' });
  if (r['scope'] !== undefined && !SCOPES.includes(String(r['scope']))) errs.push(unsupported(`${at}.scope`, r['scope'], SCOPES));
  return errs;
}

function urlErrors(url: string, at: string): FieldError[] {
  const form = '; desired format: https://host[/path]';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [{ field: at, type: 'Required value', detail: `url must be a valid URL${form}` }];
  }
  const errs: FieldError[] = [];
  if (u.protocol !== 'https:') errs.push({ field: at, type: 'Invalid value', detail: `${quote(u.protocol.replace(/:$/, ''))}: 'https' is the only allowed URL scheme${form}` });
  if (u.username || u.password) errs.push({ field: at, type: 'Invalid value', detail: `${quote(u.username)}: user information is not permitted in the URL` });
  if (u.hash) errs.push({ field: at, type: 'Invalid value', detail: `${quote(u.hash.slice(1))}: fragments are not permitted in the URL` });
  if (u.search) errs.push({ field: at, type: 'Invalid value', detail: `${quote(u.search.slice(1))}: query parameters are not permitted in the URL` });
  return errs;
}

function serviceErrors(s: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const key of ['name', 'namespace']) if (!s[key]) errs.push({ field: `${at}.${key}`, type: 'Required value', detail: '' });
  const port = s['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) errs.push({ field: `${at}.port`, type: 'Invalid value', detail: `${String(port)}: port is not valid: must be between 1 and 65535, inclusive` });
  const path = typeof s['path'] === 'string' ? s['path'] : '';
  if (path === '' || path === '/') return errs;
  if (!path.startsWith('/')) errs.push({ field: `${at}.path`, type: 'Invalid value', detail: `${quote(path)}: must start with a '/'` });
  path.slice(1).replace(/\/$/, '').split('/').forEach((step, i) => {
    if (step === '') errs.push({ field: `${at}.path`, type: 'Invalid value', detail: `${quote(path)}: segment[${i}] may not be empty` });
    else for (const e of dns1123Subdomain(step)) errs.push({ field: `${at}.path`, type: 'Invalid value', detail: `${quote(path)}: segment[${i}]: ${e}` });
  });
  return errs;
}

function clientConfigErrors(cc: Record<string, unknown>, at: string): FieldError[] {
  const hasUrl = typeof cc['url'] === 'string';
  const hasService = isRecord(cc['service']);
  if (hasUrl === hasService) return [{ field: at, type: 'Required value', detail: 'exactly one of url or service is required' }];
  return hasUrl ? urlErrors(cc['url'] as string, `${at}.url`) : serviceErrors(cc['service'] as Record<string, unknown>, `${at}.service`);
}

function reviewVersionErrors(h: Record<string, unknown>, at: string): FieldError[] {
  const versions = list(h['admissionReviewVersions']).map(String);
  if (versions.length === 0) return [{ field: at, type: 'Required value', detail: `must specify one of ${REVIEW_VERSIONS.join(', ')}` }];
  if (versions.some((v) => REVIEW_VERSIONS.includes(v))) return [];
  return [{ field: at, type: 'Invalid value', detail: `${goStrings(versions)}: must include at least one of ${REVIEW_VERSIONS.join(', ')}` }];
}

function webhookErrors(h: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = typeof h['name'] === 'string' ? h['name'] : '';
  if (!name) errs.push({ field: `${at}.name`, type: 'Required value', detail: '' });
  else if (name.split('.').length < 3) errs.push({ field: `${at}.name`, type: 'Invalid value', detail: `${quote(name)}: should be a domain with at least three segments separated by dots` });
  else for (const e of dns1123Subdomain(name)) errs.push({ field: `${at}.name`, type: 'Invalid value', detail: `${quote(name)}: ${e}` });
  list(h['rules']).forEach((r, i) => errs.push(...ruleErrors(isRecord(r) ? r : {}, `${at}.rules[${i}]`)));
  if (!['Fail', 'Ignore'].includes(String(h['failurePolicy']))) errs.push(unsupported(`${at}.failurePolicy`, h['failurePolicy'], ['Fail', 'Ignore']));
  if (!['Equivalent', 'Exact'].includes(String(h['matchPolicy']))) errs.push(unsupported(`${at}.matchPolicy`, h['matchPolicy'], ['Equivalent', 'Exact']));
  if (h['sideEffects'] === undefined) errs.push({ field: `${at}.sideEffects`, type: 'Required value', detail: 'must specify one of None, NoneOnDryRun' });
  else if (!['None', 'NoneOnDryRun'].includes(String(h['sideEffects']))) errs.push(unsupported(`${at}.sideEffects`, h['sideEffects'], ['None', 'NoneOnDryRun']));
  const timeout = h['timeoutSeconds'];
  if (typeof timeout !== 'number' || timeout < 1 || timeout > 30) errs.push({ field: `${at}.timeoutSeconds`, type: 'Invalid value', detail: `${String(timeout)}: the timeout value must be between 1 and 30 seconds` });
  errs.push(...clientConfigErrors(isRecord(h['clientConfig']) ? h['clientConfig'] : {}, `${at}.clientConfig`));
  return [...errs, ...reviewVersionErrors(h, `${at}.admissionReviewVersions`)];
}

/** v1 validation of a (defaulted) configuration; webhook names must be unique within it. */
export function validateWebhookConfiguration(o: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  list(o['webhooks']).forEach((h, i) => {
    const hook = isRecord(h) ? h : {};
    errs.push(...webhookErrors(hook, `webhooks[${i}]`));
    const name = hook['name'];
    if (typeof name === 'string' && name) {
      if (seen.has(name)) errs.push({ field: `webhooks[${i}].name`, type: 'Duplicate value', detail: quote(name) });
      seen.add(name);
    }
  });
  return errs;
}
