// What a served kind is: the shape of stored objects, the per-kind hooks the
// storage engine applies (naming, defaulting, status handling, field
// selectors, validation), and how a custom resource kind is built from the
// short form of a CustomResourceDefinition. The kinds themselves are in
// builtin-kinds.ts and tidepool-kinds.ts; the registry serves them.
import type { FieldError } from './status.ts';
import { parseFieldError } from './status.ts';

/** ObjectMeta fields the fake reads or writes; anything else is carried through untouched. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [field: string]: unknown;
}

/** Any stored object: JSON with metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Reads a string field for field selectors; missing fields read as "" like the real server. */
export type FieldGetter = (obj: KubeObject) => string;

/** What `registerKind` accepts: the shape of a CustomResourceDefinition version, in short. */
export interface KindOptions {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Enables `/status`: main-resource writes ignore `status`, `/status` writes change only `status`. */
  statusSubresource?: boolean;
  singular?: string;
  shortNames?: string[];
  /**
   * Schema-style validation run on create and update: returns field errors as
   * text (`spec.cidr: Invalid value: "x": must be a CIDR`); any error → 422 Invalid.
   */
  validate?: (obj: KubeObject, old?: KubeObject) => string[];
  /** CRD `selectableFields`: extra field-selector labels beyond metadata.name/namespace. */
  selectableFields?: Record<string, FieldGetter>;
}

/** A served kind, with the built-in behaviour hooks that registerKind cannot set. */
export interface KindSpec {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  statusSubresource: boolean;
  singular: string;
  shortNames: string[];
  /** Custom resources: strict body typing, no strategic merge, CRD-style error wording. */
  customResource: boolean;
  /** Built-in kinds accept PUT without resourceVersion; custom resources do not. */
  allowUnconditionalUpdate: boolean;
  allowCreateOnUpdate: boolean;
  /** DELETE answers with the object rather than a Success Status. */
  returnDeletedObject: boolean;
  /** Whether metadata.generation is maintained. */
  hasGeneration: boolean;
  /** Pods only: deletion waits a grace period (see store.ts). */
  gracefulDeletion: boolean;
  /** How names are checked: DNS-1123 subdomain (most kinds), label (namespaces), or only as a path segment (RBAC roles and bindings). */
  nameRule: 'subdomain' | 'label' | 'path-segment';
  fieldLabels: Record<string, FieldGetter>;
  /** Applied to every incoming object body, as decoding does in the real server. */
  defaults?: (obj: KubeObject) => void;
  /** Resets status on create, as the real strategies' PrepareForCreate do. */
  prepareForCreate?: (obj: KubeObject) => void;
  validate?: (obj: KubeObject, old?: KubeObject) => FieldError[];
  validateUpdate?: (obj: KubeObject, old: KubeObject) => FieldError[];
  /** What an update may not change, as the real strategies' PrepareForUpdate: restores it from `old` on `obj`. */
  prepareForUpdate?: (obj: KubeObject, old: KubeObject, subresource: string | undefined) => void;
  /** The kind's DefaultGarbageCollectionPolicy is OrphanDependents (batch/v1 Jobs): a DELETE without a policy orphans. */
  orphanDependentsByDefault?: boolean;
  subresources: string[];
}

/** `v1` for the core group, `group/version` otherwise. */
export function apiVersionOf(k: { group: string; version: string }): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

export function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export const pathGetter =
  (path: string): FieldGetter =>
  (o) =>
    str(getPath(o, path));

function metaFieldLabels(namespaced: boolean): Record<string, FieldGetter> {
  const f: Record<string, FieldGetter> = { 'metadata.name': (o) => str(o.metadata.name) };
  if (namespaced) f['metadata.namespace'] = (o) => str(o.metadata.namespace);
  return f;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const record = (o: KubeObject, key: string): Record<string, unknown> => {
  const v = o[key];
  if (isRecord(v)) return v;
  const fresh: Record<string, unknown> = {};
  o[key] = fresh;
  return fresh;
};

/** Builds the spec for a custom resource kind, as a CRD would define it. */
export function customKind(o: KindOptions): KindSpec {
  const validate = o.validate;
  return {
    group: o.group,
    version: o.version,
    plural: o.plural,
    kind: o.kind,
    namespaced: o.namespaced,
    statusSubresource: o.statusSubresource ?? false,
    singular: o.singular ?? o.kind.toLowerCase(),
    shortNames: o.shortNames ?? [],
    customResource: true,
    allowUnconditionalUpdate: false,
    allowCreateOnUpdate: false,
    returnDeletedObject: true,
    hasGeneration: true,
    gracefulDeletion: false,
    nameRule: 'subdomain',
    fieldLabels: { ...metaFieldLabels(o.namespaced), ...(o.selectableFields ?? {}) },
    // The real server drops status on create when the status subresource is enabled.
    prepareForCreate: o.statusSubresource ? (obj) => void delete obj['status'] : undefined,
    validate: validate ? (obj, old) => validate(obj, old).map(parseFieldError) : undefined,
    subresources: o.statusSubresource ? ['status'] : [],
  };
}

/** A built-in kind: `partial` over the defaults every built-in kind shares. */
export function builtinKind(partial: Partial<KindSpec> & Pick<KindSpec, 'group' | 'version' | 'plural' | 'kind' | 'namespaced'>): KindSpec {
  const statusSubresource = partial.statusSubresource ?? false;
  return {
    statusSubresource,
    singular: partial.kind.toLowerCase(),
    shortNames: [],
    customResource: false,
    allowUnconditionalUpdate: true,
    allowCreateOnUpdate: false,
    returnDeletedObject: false,
    hasGeneration: false,
    gracefulDeletion: false,
    nameRule: 'subdomain',
    subresources: statusSubresource ? ['status'] : [],
    ...partial,
    fieldLabels: { ...metaFieldLabels(partial.namespaced), ...(partial.fieldLabels ?? {}) },
  };
}

/** Whether two JSON documents are equal, whatever their key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

/** Key-order-independent copy, for comparing JSON documents. */
export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isRecord(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
    return out;
  }
  return v;
}
