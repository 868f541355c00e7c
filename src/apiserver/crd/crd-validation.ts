// Validation of a CustomResourceDefinition, as the real server's
// ValidateCustomResourceDefinition and ValidateCustomResourceDefinitionUpdate
// do it, for everything a CRD can say that this server serves: the name
// (plural.group), group, scope, names, versions (served, storage, schema,
// subresources, printer columns, selectable fields), conversion, API approval
// for protected groups, the status's accepted and stored names. What this
// server cannot serve (more than one version, conversion webhooks, CEL rules)
// is refused with a Forbidden that says so, rather than accepted and ignored.
import type { KubeObject } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { dns1123Subdomain } from '../validation.ts';
import { duplicate, forbidden, invalidValue, notSupported, required } from './field-errors.ts';
import { isObject, properties, type Schema } from './schema.ts';
import { schemaErrors } from './structural.ts';

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];
const COLUMN_FORMATS = ['byte', 'date', 'date-time', 'double', 'float', 'int32', 'int64', 'password'];
export const APPROVAL_ANNOTATION = 'api-approved.kubernetes.io';

export function dns1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1035.test(value)) errs.push(DNS1035_MSG);
  return errs;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const rec = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});

/** The errors of a CRD being created (or updated from `old`). */
export function validateCrd(crd: KubeObject, old?: KubeObject): FieldError[] {
  const spec = rec(crd['spec']);
  const names = rec(spec['names']);
  const errs: FieldError[] = [];
  const name = str(crd.metadata.name);
  if (name && name !== `${str(names['plural'])}.${str(spec['group'])}`) errs.push(invalidValue('metadata.name', name, 'must be spec.names.plural+"."+spec.group'));
  errs.push(...specErrors(spec), ...statusErrors(rec(crd['status']), list(spec['versions'])), ...approvalErrors(crd, old));
  if (spec['preserveUnknownFields'] === true) errs.push(invalidValue('spec.preserveUnknownFields', true, 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead'));
  return errs;
}

/** The errors of an update: a create's, and what may not change. */
export function validateCrdUpdate(crd: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateCrd(crd, old);
  const spec = rec(crd['spec']);
  const was = rec(old['spec']);
  const immutable = (field: string, now: unknown, before: unknown): void => {
    if (now !== before) errs.push(invalidValue(field, now, 'field is immutable'));
  };
  if (isEstablished(old)) {
    immutable('spec.scope', spec['scope'], was['scope']);
    immutable('spec.names.kind', rec(spec['names'])['kind'], rec(was['names'])['kind']);
  }
  immutable('spec.group', spec['group'], was['group']);
  immutable('spec.names.plural', rec(spec['names'])['plural'], rec(was['names'])['plural']);
  return errs;
}

/** A status update checks only the status. */
export function validateCrdStatus(crd: KubeObject): FieldError[] {
  return statusErrors(rec(crd['status']), list(rec(crd['spec'])['versions']));
}

export function isEstablished(crd: KubeObject): boolean {
  return list(rec(crd['status'])['conditions']).some((c) => isObject(c) && c['type'] === 'Established' && c['status'] === 'True');
}

function specErrors(spec: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const group = str(spec['group']);
  if (!group) errs.push(required('spec.group'));
  else if (dns1123Subdomain(group).length) errs.push(invalidValue('spec.group', group, dns1123Subdomain(group).join(',')));
  else if (group.split('.').length < 2) errs.push(invalidValue('spec.group', group, 'should be a domain with at least one dot'));
  const scope = str(spec['scope']);
  if (!scope) errs.push(required('spec.scope'));
  else if (scope !== 'Cluster' && scope !== 'Namespaced') errs.push(notSupported('spec.scope', scope, ['Cluster', 'Namespaced']));
  errs.push(...versionsErrors(list(spec['versions'])));
  const names = rec(spec['names']);
  for (const n of ['plural', 'singular', 'kind', 'listKind']) if (!str(names[n])) errs.push(required(`spec.names.${n}`));
  errs.push(...namesErrors(names, 'spec.names'), ...conversionErrors(rec(spec['conversion'])));
  return errs;
}

function versionsErrors(versions: unknown[]): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let unique = true;
  versions.forEach((raw, i) => {
    const v = rec(raw);
    const name = str(v['name']);
    if (seen.has(name)) unique = false;
    seen.add(name);
    const at = `spec.versions[${i}]`;
    const dns = dns1035Label(name);
    if (dns.length) errs.push(invalidValue(`${at}.name`, name, dns.join(',')));
    errs.push(...versionErrors(v, at));
  });
  if (!unique) errs.push(invalidValue('spec.versions', versions, 'must contain unique version names'));
  if (versions.filter((v) => rec(v)['storage'] === true).length !== 1) errs.push(invalidValue('spec.versions', versions, 'must have exactly one version marked as storage version'));
  if (versions.length === 0) errs.push(required('spec.versions', 'must have at least one version'));
  if (versions.length > 1) errs.push(forbidden('spec.versions', 'more than one version is not supported by the tidepool test API server'));
  return errs;
}

function versionErrors(v: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  if (v['deprecationWarning'] !== undefined && v['deprecated'] !== true) errs.push(invalidValue(`${at}.deprecationWarning`, v['deprecationWarning'], 'can only be set for deprecated versions'));
  const subresources = rec(v['subresources']);
  const schema = rec(v['schema'])['openAPIV3Schema'];
  if (schema === undefined) errs.push(required(`${at}.schema.openAPIV3Schema`));
  else errs.push(...schemaErrors(schema, `${at}.schema.openAPIV3Schema`, { statusSubresource: subresources['status'] !== undefined }));
  errs.push(...scaleErrors(subresources['scale'], `${at}.subresources`));
  list(v['additionalPrinterColumns']).forEach((c, i) => errs.push(...columnErrors(rec(c), `${at}.additionalPrinterColumns[${i}]`)));
  errs.push(...selectableFieldsErrors(list(v['selectableFields']), isObject(schema) ? schema : undefined, `${at}.selectableFields`));
  return errs;
}

export function namesErrors(names: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const label = (field: string, value: string, lower: boolean): void => {
    const dns = dns1035Label(lower ? value.toLowerCase() : value);
    if (value && dns.length) errs.push(invalidValue(field, value, lower ? `may have mixed case, but should otherwise match: ${dns.join(',')}` : dns.join(',')));
  };
  label(`${at}.plural`, str(names['plural']), false);
  label(`${at}.singular`, str(names['singular']), false);
  label(`${at}.kind`, str(names['kind']), true);
  label(`${at}.listKind`, str(names['listKind']), true);
  list(names['shortNames']).forEach((s, i) => label(`${at}.shortNames[${i}]`, str(s), false));
  if (str(names['kind']) && names['kind'] === names['listKind']) errs.push(invalidValue(`${at}.listKind`, names['listKind'], 'kind and listKind may not be the same'));
  list(names['categories']).forEach((c, i) => label(`${at}.categories[${i}]`, str(c), false));
  return errs;
}

function simplePathErrors(path: string, field: string): FieldError[] {
  if (path === '') return [invalidValue(field, path, 'must not be empty')];
  if (!path.startsWith('.')) return [invalidValue(field, path, 'must be a simple json path starting with .')];
  return [];
}

function columnErrors(c: Record<string, unknown>, at: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!str(c['name'])) errs.push(required(`${at}.name`));
  const type = str(c['type']);
  if (!type) errs.push(required(`${at}.type`, `must be one of ${COLUMN_TYPES.join(',')}`));
  else if (!COLUMN_TYPES.includes(type)) errs.push(invalidValue(`${at}.type`, type, `must be one of ${COLUMN_TYPES.join(',')}`));
  const format = str(c['format']);
  if (format && !COLUMN_FORMATS.includes(format)) errs.push(invalidValue(`${at}.format`, format, `must be one of ${COLUMN_FORMATS.join(',')}`));
  const path = str(c['jsonPath']);
  if (!path) errs.push(required(`${at}.JSONPath`));
  else errs.push(...simplePathErrors(path, `${at}.JSONPath`));
  return errs;
}

function scaleErrors(scale: unknown, at: string): FieldError[] {
  if (scale === undefined) return [];
  // Accepting a scale subresource this server does not serve would promise an endpoint that 404s.
  return [forbidden(`${at}.scale`, 'the scale subresource is not supported by the tidepool test API server')];
}

/** Selectable fields must be simple paths to string, boolean or integer fields outside metadata. */
function selectableFieldsErrors(fields: unknown[], schema: Schema | undefined, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  fields.forEach((raw, i) => {
    const path = str(rec(raw)['jsonPath']);
    const field = `${at}[${i}].jsonPath`;
    if (!path) return errs.push(required(field));
    const target = resolveSimplePath(schema, path);
    if (!path.startsWith('.') || target === undefined) return errs.push(invalidValue(field, path, `is an invalid path: ${path.startsWith('.') ? 'does not refer to a field of the schema' : 'must start with a dot'}`));
    if (path.startsWith('.metadata')) errs.push(invalidValue(field, path, 'must not point to fields in metadata'));
    if (!['string', 'boolean', 'integer'].includes(str(target['type']))) errs.push(invalidValue(field, path, 'must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.'));
    if (seen.has(path)) errs.push(duplicate(field, path));
    seen.add(path);
  });
  if (seen.size > 8) errs.push({ field: at, type: 'Too many', detail: `${seen.size}: must have at most 8 items` });
  return errs;
}

/** The schema node a `.a.b` path names, if every step is a declared property. */
export function resolveSimplePath(schema: Schema | undefined, path: string): Schema | undefined {
  let node = schema;
  for (const step of path.slice(1).split('.')) node = node && properties(node)?.[step];
  return node;
}

function conversionErrors(conversion: Record<string, unknown>): FieldError[] {
  const strategy = str(conversion['strategy']);
  if (strategy === '' || strategy === 'None') return [];
  if (strategy !== 'Webhook') return [notSupported('spec.conversion.strategy', strategy, ['None', 'Webhook'])];
  return [forbidden('spec.conversion.strategy', 'conversion webhooks are not supported by the tidepool test API server')];
}

function statusErrors(status: Record<string, unknown>, versions: unknown[]): FieldError[] {
  const errs = namesErrors(rec(status['acceptedNames']), 'status.acceptedNames');
  const stored = list(status['storedVersions']).map(str);
  if (stored.length === 0) return [...errs, invalidValue('status.storedVersions', stored, 'must have at least one stored version')];
  const remaining = new Map(stored.map((v, i) => [v, i]));
  for (const raw of versions) {
    const v = rec(raw);
    const name = str(v['name']);
    if (v['storage'] === true && !remaining.has(name)) errs.push(invalidValue('status.storedVersions', stored, `must have the storage version ${name}`));
    remaining.delete(name);
  }
  for (const [v, i] of remaining) {
    errs.push(invalidValue(`status.storedVersions[${i}]`, v, `missing from spec.versions; ${v} was previously a storage version, and must remain in spec.versions until a storage migration ensures no data remains persisted in ${v} and removes ${v} from status.storedVersions`));
  }
  return errs;
}

const isProtectedGroup = (g: string): boolean => g === 'k8s.io' || g.endsWith('.k8s.io') || g === 'kubernetes.io' || g.endsWith('.kubernetes.io');

function approvalState(crd: KubeObject): 'approved' | 'bypassed' | 'missing' | 'invalid' {
  const a = crd.metadata.annotations?.[APPROVAL_ANNOTATION] ?? '';
  if (a === '') return 'missing';
  if (a.startsWith('unapproved')) return 'bypassed';
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/\s]+/.test(a) ? 'approved' : 'invalid';
}

/** Groups under k8s.io and kubernetes.io need the API approval annotation; an update that leaves its state alone is never refused for it. */
function approvalErrors(crd: KubeObject, old: KubeObject | undefined): FieldError[] {
  if (!isProtectedGroup(str(rec(crd['spec'])['group']))) return [];
  if (old && approvalState(old) === approvalState(crd)) return [];
  const field = `metadata.annotations[${APPROVAL_ANNOTATION}]`;
  switch (approvalState(crd)) {
    case 'missing':
      return [required(field, `protected groups must have approval annotation "${APPROVAL_ANNOTATION}", see https://github.com/kubernetes/enhancements/pull/1111`)];
    case 'invalid':
      return [invalidValue(field, crd.metadata.annotations?.[APPROVAL_ANNOTATION], `protected groups must have approval annotation "${APPROVAL_ANNOTATION}" with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111`)];
    default:
      return [];
  }
}
