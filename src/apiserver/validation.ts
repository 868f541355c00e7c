// Name and metadata validation with the real API server's wording, so a
// 422 from the fake reads like the one tidepool would get in a cluster.
import { validateOwnerReferences } from './owner-references.ts';
import type { FieldError } from './status.ts';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/** Go's %q for the strings that appear in field errors. */
export function quote(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Problems with `value` as a DNS-1123 subdomain (most object names); empty when valid. */
export function dns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(SUBDOMAIN_MSG);
  return errs;
}

/** Problems with `value` as a DNS-1123 label (namespace names); empty when valid. */
export function dns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(value)) errs.push(LABEL_MSG);
  return errs;
}

/** Problems with `value` as a qualified name (label keys, annotation keys, finalizers). */
export function qualifiedName(value: string): string[] {
  const slash = value.lastIndexOf('/');
  const name = slash >= 0 ? value.slice(slash + 1) : value;
  const prefix = slash >= 0 ? value.slice(0, slash) : undefined;
  const errs: string[] = [];
  if (value.split('/').length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (prefix !== undefined) {
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else for (const e of dns1123Subdomain(prefix)) errs.push(`prefix part ${e}`);
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else {
    if (name.length > 63) errs.push('name part must be no more than 63 characters');
    if (!QUALIFIED_NAME_PART.test(name)) errs.push(QUALIFIED_MSG);
  }
  return errs;
}

/** Problems with `value` as a label value. */
export function labelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) errs.push(LABEL_VALUE_MSG);
  return errs;
}

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

/**
 * Common ObjectMeta checks every kind gets (labels, annotations, finalizers).
 * The name is checked by the kind, since kinds differ in which DNS rule they use.
 */
export function validateCommonMeta(meta: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const labels = meta['labels'];
  if (labels !== undefined && labels !== null) {
    if (typeof labels !== 'object' || Array.isArray(labels)) errs.push({ field: 'metadata.labels', type: 'Invalid value', detail: 'must be a map of strings' });
    else
      for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
        for (const e of qualifiedName(k)) errs.push({ field: 'metadata.labels', type: 'Invalid value', detail: `${quote(k)}: ${e}` });
        if (typeof v !== 'string') errs.push({ field: `metadata.labels`, type: 'Invalid value', detail: `${quote(k)}: label values must be strings` });
        else for (const e of labelValue(v)) errs.push({ field: 'metadata.labels', type: 'Invalid value', detail: `${quote(v)}: ${e}` });
      }
  }
  const annotations = meta['annotations'];
  if (annotations !== undefined && annotations !== null) {
    if (typeof annotations !== 'object' || Array.isArray(annotations)) errs.push({ field: 'metadata.annotations', type: 'Invalid value', detail: 'must be a map of strings' });
    else {
      let size = 0;
      for (const [k, v] of Object.entries(annotations as Record<string, unknown>)) {
        for (const e of qualifiedName(k.toLowerCase())) errs.push({ field: 'metadata.annotations', type: 'Invalid value', detail: `${quote(k)}: ${e}` });
        if (typeof v !== 'string') errs.push({ field: 'metadata.annotations', type: 'Invalid value', detail: `${quote(k)}: annotation values must be strings` });
        else size += k.length + v.length;
      }
      if (size > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push({ field: 'metadata.annotations', type: 'Too long', detail: `must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes` });
    }
  }
  errs.push(...validateOwnerReferences(meta));
  const finalizers = meta['finalizers'];
  if (finalizers !== undefined && finalizers !== null) {
    if (!Array.isArray(finalizers)) errs.push({ field: 'metadata.finalizers', type: 'Invalid value', detail: 'must be a list of strings' });
    else
      finalizers.forEach((f: unknown, i) => {
        if (typeof f !== 'string') errs.push({ field: `metadata.finalizers[${i}]`, type: 'Invalid value', detail: 'must be a string' });
        else for (const e of qualifiedName(f)) errs.push({ field: `metadata.finalizers[${i}]`, type: 'Invalid value', detail: `${quote(f)}: ${e}` });
      });
  }
  return errs;
}

/** Problems with `value` as a name that only has to be a URL path segment (RBAC roles and bindings: `system:discovery`). */
export function pathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  return ['/', '%'].filter((c) => value.includes(c)).map((c) => `may not contain '${c}'`);
}
