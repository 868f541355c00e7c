// The kind a CustomResourceDefinition serves: its names, scope and
// subresources from the CRD, and the storage hooks that make its objects
// obey the CRD's schema as the real server's custom resource strategy does:
// decoding prunes unknown fields and metadata, drops nulls the schema does
// not allow and applies defaults; validation checks the whole object on
// create, ratchets on update, and checks only the status through /status.
// A CRD update changes the served kind in place, so stored objects and open
// watches survive it.
import { customKind, pathGetter, type FieldGetter, type KindSpec, type KubeObject } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { setDecoder } from './decoders.ts';
import { applyDefaults } from './defaulting.ts';
import { coerceObjectMeta } from './object-meta.ts';
import { pruneNonNullableNulls, pruneUnknownFields } from './prune.ts';
import { isObject, properties, type Schema } from './schema.ts';
import { NO_OLD, validateValue } from './validate-value.ts';

/** One additionalPrinterColumns entry. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: string;
  readonly format: string;
  readonly description: string;
  readonly priority: number;
  readonly jsonPath: string;
}

/** What the server keeps of a served CRD beyond the KindSpec. */
export interface CustomResourceInfo {
  crdName: string;
  schema: Schema;
  columns: PrinterColumn[];
  listKind: string;
}

const infos = new WeakMap<KindSpec, CustomResourceInfo>();

/** The CRD behind a served kind, if a CRD serves it. */
export const customResourceInfo = (spec: KindSpec): CustomResourceInfo | undefined => infos.get(spec);

type Json = Record<string, unknown>;
const rec = (v: unknown): Json => (isObject(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The one served version of a CRD (validation allows exactly one). */
export function servedVersion(crd: KubeObject): Json {
  return rec((rec(crd['spec'])['versions'] as unknown[] | undefined)?.[0]);
}

function columnsOf(version: Json): PrinterColumn[] {
  const cols = Array.isArray(version['additionalPrinterColumns']) ? version['additionalPrinterColumns'] : [];
  return cols.map((c) => {
    const r = rec(c);
    const str = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
    return { name: str('name'), type: str('type'), format: str('format'), description: str('description'), priority: typeof r['priority'] === 'number' ? r['priority'] : 0, jsonPath: str('jsonPath') };
  });
}

function selectableFields(version: Json): Record<string, FieldGetter> {
  const out: Record<string, FieldGetter> = {};
  for (const f of Array.isArray(version['selectableFields']) ? version['selectableFields'] : []) {
    const path = rec(f)['jsonPath'];
    if (typeof path === 'string' && path.startsWith('.')) out[path.slice(1)] = pathGetter(path.slice(1));
  }
  return out;
}

/** Decodes a custom resource in place as the real server's decoder does; returns the unknown fields dropped. */
export function decodeCustomResource(obj: KubeObject, schema: Schema): string[] {
  const unknown = [...coerceObjectMeta(obj), ...pruneUnknownFields(obj, schema)];
  pruneNonNullableNulls(obj, schema);
  applyDefaults(obj, schema);
  return unknown;
}

function validate(info: CustomResourceInfo, obj: KubeObject, old: KubeObject | undefined, subresource: string | undefined): FieldError[] {
  if (subresource !== 'status') return validateValue(obj, info.schema, { old: old ?? NO_OLD });
  const statusSchema = properties(info.schema)?.['status'];
  if (!statusSchema || !('status' in obj)) return [];
  return validateValue(obj['status'], statusSchema, { prefix: 'status', old: old && 'status' in old ? old['status'] : NO_OLD });
}

/** The names, scope and subresources a CRD (with its accepted names) gives its kind. */
function describe(crd: KubeObject): Pick<KindSpec, 'kind' | 'singular' | 'shortNames' | 'categories' | 'statusSubresource' | 'subresources' | 'fieldLabels'> & { listKind: string } {
  const names = rec(rec(crd['status'])['acceptedNames']);
  const version = servedVersion(crd);
  const status = isObject(rec(version['subresources'])['status']);
  const base = customKind({ group: '', version: '', plural: '', kind: String(names['kind']), namespaced: rec(crd['spec'])['scope'] === 'Namespaced', selectableFields: selectableFields(version) });
  return {
    kind: String(names['kind']),
    singular: String(names['singular'] ?? ''),
    shortNames: strings(names['shortNames']),
    categories: strings(names['categories']),
    statusSubresource: status,
    subresources: status ? ['status'] : [],
    fieldLabels: base.fieldLabels,
    listKind: String(names['listKind'] ?? `${String(names['kind'])}List`),
  };
}

/** A new kind for an accepted CRD. */
export function kindForCrd(crd: KubeObject): KindSpec {
  const spec = rec(crd['spec']);
  const version = servedVersion(crd);
  const d = describe(crd);
  const kind = customKind({ group: String(spec['group']), version: String(version['name']), plural: String(rec(spec['names'])['plural']), kind: d.kind, namespaced: spec['scope'] === 'Namespaced' });
  Object.assign(kind, { singular: d.singular, shortNames: d.shortNames, categories: d.categories, fieldLabels: d.fieldLabels });
  const info: CustomResourceInfo = { crdName: crd.metadata.name ?? '', schema: {}, columns: [], listKind: d.listKind };
  infos.set(kind, info);
  kind.defaults = (obj) => void decodeCustomResource(obj, info.schema);
  kind.validate = (obj, old, subresource) => validate(info, obj, old, subresource);
  kind.prepareForCreate = (obj) => {
    if (kind.statusSubresource) delete obj['status'];
  };
  setDecoder(kind, { decode: (obj) => decodeCustomResource(obj, info.schema) });
  updateKindForCrd(kind, crd);
  return kind;
}

/** Applies a changed CRD to the kind it serves (names, subresources, schema, columns). */
export function updateKindForCrd(kind: KindSpec, crd: KubeObject): void {
  const info = infos.get(kind)!;
  const version = servedVersion(crd);
  const d = describe(crd);
  Object.assign(kind, { kind: d.kind, singular: d.singular, shortNames: d.shortNames, categories: d.categories, statusSubresource: d.statusSubresource, subresources: d.subresources, fieldLabels: d.fieldLabels });
  info.schema = rec(rec(version['schema'])['openAPIV3Schema']);
  info.columns = columnsOf(version);
  info.listKind = d.listKind;
}
