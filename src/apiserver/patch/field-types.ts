// What the server knows about a field's shape: the facts k8s.io/api declares
// in struct tags (`patchStrategy`, `patchMergeKey`) and markers (`+listType`,
// `+listMapKey`, `+mapType`, `+structType`). Strategic merge patch reads the
// patch strategy and merge key of lists; server-side apply and managedFields
// read list types, map keys, atomicity and whether an object is a struct
// (named fields) or a map (free keys). Fields nobody declared are `LOOSE`:
// objects are structs of loose fields, lists are atomic, as for a custom
// resource whose schema gives objects properties and lists no list type.
import { isRecord } from '../kinds.ts';

export type FieldType = ScalarType | StructType | MapType | ListType;

export interface ScalarType {
  readonly kind: 'scalar';
}

/** An object with named fields; `other` types the fields not listed. */
export interface StructType {
  readonly kind: 'struct';
  readonly fields: Readonly<Record<string, FieldType>>;
  readonly other: FieldType;
  /** `+structType=atomic`: owned and replaced as one value. */
  readonly atomic: boolean;
}

/** An object with free keys (labels, annotations, resource lists). */
export interface MapType {
  readonly kind: 'map';
  readonly values: FieldType;
  /** `+mapType=atomic`. */
  readonly atomic: boolean;
}

export interface ListType {
  readonly kind: 'list';
  readonly items: FieldType;
  /** `+listType`: atomic (replaced whole), set (of scalars), map (items keyed by `keys`). */
  readonly listType: 'atomic' | 'set' | 'map';
  readonly keys: readonly string[];
  /** Values the schema defaults key fields to (a container port's protocol is TCP). */
  readonly keyDefaults: Readonly<Record<string, unknown>>;
  /** `patchStrategy:"merge"`: strategic merge patch merges rather than replaces. */
  readonly patchMerge: boolean;
  /** `patchMergeKey`, for lists of objects merged by strategic merge patch. */
  readonly mergeKey: string | undefined;
}

export const SCALAR: ScalarType = { kind: 'scalar' };

/** A struct whose unlisted fields are loose too (created lazily: it refers to itself). */
export const LOOSE: StructType = { kind: 'struct', fields: {}, get other() { return LOOSE; }, atomic: false };

export function struct(fields: Record<string, FieldType>, opts: { atomic?: boolean } = {}): StructType {
  return { kind: 'struct', fields, other: LOOSE, atomic: opts.atomic ?? false };
}

export const ATOMIC_STRUCT: StructType = { kind: 'struct', fields: {}, other: LOOSE, atomic: true };

export function map(values: FieldType = SCALAR, opts: { atomic?: boolean } = {}): MapType {
  return { kind: 'map', values, atomic: opts.atomic ?? false };
}

/** `+listType=map` with `patchStrategy:"merge"`: items merged by `mergeKey` (SMP) and keyed by `keys` (apply). */
export function mergeList(mergeKey: string, items: FieldType = LOOSE, opts: { keys?: string[]; keyDefaults?: Record<string, unknown>; listType?: 'map' | 'atomic' } = {}): ListType {
  return { kind: 'list', items, listType: opts.listType ?? 'map', keys: opts.keys ?? [mergeKey], keyDefaults: opts.keyDefaults ?? {}, patchMerge: true, mergeKey };
}

/** `+listType=map` without a patch strategy: keyed for apply, replaced whole by strategic merge patch. */
export function keyedList(keys: string[], items: FieldType = LOOSE): ListType {
  return { kind: 'list', items, listType: 'map', keys, keyDefaults: {}, patchMerge: false, mergeKey: undefined };
}

/** `+listType=set` with `patchStrategy:"merge"`: a set of scalars, merged by strategic merge patch. */
export const MERGE_SET: ListType = { kind: 'list', items: SCALAR, listType: 'set', keys: [], keyDefaults: {}, patchMerge: true, mergeKey: undefined };

export function atomicList(items: FieldType = LOOSE): ListType {
  return { kind: 'list', items, listType: 'atomic', keys: [], keyDefaults: {}, patchMerge: false, mergeKey: undefined };
}

const ATOMIC_LOOSE_LIST = atomicList(LOOSE);

/** The type of field `key` of an object of type `t`. */
export function fieldType(t: FieldType, key: string): FieldType {
  if (t.kind === 'struct') return t.fields[key] ?? t.other;
  if (t.kind === 'map') return t.values;
  return LOOSE;
}

/** Whether the keys of an object of type `t` are named fields (a struct's) rather than free keys (a map's). */
export function hasNamedFields(t: FieldType): boolean {
  return t.kind === 'struct';
}

/**
 * The type to walk `value` with: the declared type when the value has its
 * shape, else what the value itself is (a loose list is atomic).
 */
export function typeFor(t: FieldType, value: unknown): FieldType {
  if (Array.isArray(value)) return t.kind === 'list' ? t : ATOMIC_LOOSE_LIST;
  if (isRecord(value)) return t.kind === 'struct' || t.kind === 'map' ? t : LOOSE;
  return SCALAR;
}

/** Whether `t` is owned and replaced as one value. */
export function isAtomic(t: FieldType): boolean {
  if (t.kind === 'scalar') return true;
  if (t.kind === 'list') return t.listType === 'atomic';
  return t.atomic;
}
