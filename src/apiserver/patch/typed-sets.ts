// Field sets of typed values, as structured-merge-diff computes them
// (typed.TypedValue ToFieldSet and Compare): which paths a value sets, and
// which paths one value adds, changes or removes compared with another.
// Scalars, atomic lists, maps and structs, and empty objects are leaves;
// keyed lists and sets are walked item by item, each item named by its key
// fields or its value.
import { isRecord } from '../kinds.ts';
import { FieldSet, pathString, type Path, type PathElement } from './fieldset.ts';
import { fieldType, hasNamedFields, isAtomic, LOOSE, typeFor, type FieldType, type ListType } from './field-types.ts';
import { deepEqual } from './values.ts';

/** A value that does not fit its list's type (an item without its key fields, a duplicate): the real server's typed-conversion error. */
export class TypedValueError extends Error {}

/** How an item of a keyed list or a set is named in paths. */
export function itemElement(item: unknown, list: ListType, index: number): PathElement {
  if (list.listType === 'set') {
    if (isRecord(item) || Array.isArray(item)) throw new TypedValueError(`element ${index}: expected scalar, got ${Array.isArray(item) ? 'list' : 'map'}`);
    return `v:${JSON.stringify(item)}`;
  }
  if (!isRecord(item)) throw new TypedValueError(`element ${index}: associative list with keys may only contain maps`);
  const key: Record<string, unknown> = {};
  for (const k of [...list.keys].sort()) {
    const v = item[k] ?? list.keyDefaults[k];
    if (v === undefined || v === null) throw new TypedValueError(`element ${index}: associative list with keys has an element that omits key field "${k}" (and doesn't have default value)`);
    key[k] = v;
  }
  return `k:${JSON.stringify(key)}`;
}

const childPath = (path: Path, pe: PathElement): Path => [...path, pe];

/**
 * The paths a value sets (structured-merge-diff's ToFieldSet). `strict`
 * refuses duplicate items in keyed lists and sets, as the real server does
 * for an applied configuration (it tolerates them in live objects).
 */
export function toFieldSet(value: unknown, type: FieldType, strict = false): FieldSet {
  const set = new FieldSet();
  walkSet(value, type, [], set, strict);
  return set;
}

function walkSet(value: unknown, declared: FieldType, path: Path, set: FieldSet, strict: boolean): void {
  const t = typeFor(declared, value);
  if (t.kind === 'scalar' || isAtomic(t)) return void set.insert(path);
  if (t.kind === 'list') return walkListSet(value as unknown[], t, path, set, strict);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = childPath(path, `f:${k}`);
    walkSet(v, fieldType(t, k), p, set, strict);
    // A map's keys are members; a struct's fields only when null or an empty object.
    if (v === null || (isRecord(v) && Object.keys(v).length === 0) || !hasNamedFields(t)) set.insert(p);
  }
}

function walkListSet(list: unknown[], t: ListType, path: Path, set: FieldSet, strict: boolean): void {
  const elements = list.map((item, i) => itemElement(item, t, i));
  const seen = new Set<PathElement>();
  const duplicates = new Set<PathElement>();
  for (const pe of elements) (seen.has(pe) ? duplicates : seen).add(pe);
  if (strict && duplicates.size) throw new TypedValueError(`${pathString(path)}: duplicate entries for key ${pathString([[...duplicates][0]!])}`);
  list.forEach((item, i) => {
    const p = childPath(path, elements[i]!);
    if (!duplicates.has(elements[i]!)) walkSet(item, t.items, p, set, strict);
    set.insert(p);
  });
}

export interface Comparison {
  readonly added: FieldSet;
  readonly modified: FieldSet;
  readonly removed: FieldSet;
}

/** What `rhs` adds, modifies and removes compared with `lhs` (structured-merge-diff's Compare); `undefined` is absent. */
export function compare(lhs: unknown, rhs: unknown, type: FieldType): Comparison {
  const out: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  walkCompare(lhs, rhs, type, [], out);
  return out;
}

const shapeOf = (v: unknown): string => (Array.isArray(v) ? 'list' : isRecord(v) ? 'object' : 'scalar');
const isEmpty = (v: unknown): boolean => v === null || v === undefined || (Array.isArray(v) ? v.length === 0 : isRecord(v) && Object.keys(v).length === 0);

function walkCompare(lhs: unknown, rhs: unknown, declared: FieldType, path: Path, out: Comparison): void {
  // Most of an object is unchanged by a write: equal values add no paths,
  // but their list items must still be nameable, as the walk would check.
  if (lhs !== undefined && rhs !== undefined && deepEqual(lhs, rhs)) return checkItemsNamed(rhs, declared);
  const both = lhs !== undefined && rhs !== undefined && lhs !== null && rhs !== null;
  const t = typeFor(declared, rhs ?? lhs);
  const leaf = t.kind === 'scalar' || isAtomic(t) || (isEmpty(lhs) && isEmpty(rhs)) || (both && shapeOf(lhs) !== shapeOf(rhs));
  if (leaf) return compareLeaf(lhs, rhs, path, out);
  if (t.kind === 'list') compareLists(asList(lhs), asList(rhs), t, path, out);
  else {
    const l = isRecord(lhs) ? lhs : {};
    const r = isRecord(rhs) ? rhs : {};
    for (const k of new Set([...Object.keys(l), ...Object.keys(r)])) walkCompare(l[k], r[k], fieldType(t, k), childPath(path, `f:${k}`), out);
  }
  if (lhs === undefined) out.added.insert(path);
  else if (rhs === undefined) out.removed.insert(path);
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Throws the TypedValueError walkCompare would for `value` compared with itself; adds no paths. */
function checkItemsNamed(value: unknown, declared: FieldType): void {
  const t = typeFor(declared, value);
  if (t.kind === 'scalar' || isAtomic(t) || isEmpty(value)) return;
  if (t.kind === 'list') {
    const groups = groupByElement(asList(value), t);
    // Items sharing a name are compared whole, so nothing below them is named.
    for (const items of groups.values()) if (items.length === 1) checkItemsNamed(items[0], t.items);
  } else if (isRecord(value)) for (const [k, v] of Object.entries(value)) checkItemsNamed(v, fieldType(t, k));
}

function compareLeaf(lhs: unknown, rhs: unknown, path: Path, out: Comparison): void {
  if (lhs === undefined) out.added.insert(path);
  else if (rhs === undefined) out.removed.insert(path);
  else if (!deepEqual(lhs, rhs)) out.modified.insert(path);
}

/** Items matched by name; duplicated names compare as a whole (modified), or mark the name added or removed. */
function compareLists(lhs: unknown[], rhs: unknown[], t: ListType, path: Path, out: Comparison): void {
  const left = groupByElement(lhs, t);
  const right = groupByElement(rhs, t);
  for (const pe of new Set([...left.keys(), ...right.keys()])) {
    const l = left.get(pe) ?? [];
    const r = right.get(pe) ?? [];
    const p = childPath(path, pe);
    if (l.length <= 1 && r.length <= 1) walkCompare(l[0], r[0], t.items, p, out);
    else if (l.length >= 2 && r.length >= 2) {
      if (!deepEqual(l, r)) out.modified.insert(p);
    } else if (l.length >= 2) {
      if (r.length) walkCompare(undefined, r[0], t.items, p, out);
      out.removed.insert(p);
    } else {
      if (l.length) walkCompare(l[0], undefined, t.items, p, out);
      out.added.insert(p);
    }
  }
}

function groupByElement(list: unknown[], t: ListType): Map<PathElement, unknown[]> {
  const groups = new Map<PathElement, unknown[]>();
  list.forEach((item, i) => {
    const pe = itemElement(item, t, i);
    const group = groups.get(pe);
    if (group) group.push(item);
    else groups.set(pe, [item]);
  });
  return groups;
}

/** The type below a path element: a field's type, or a list's item type. */
export function typeBelow(t: FieldType, pe: PathElement): FieldType {
  if (pe.startsWith('f:')) return fieldType(t, pe.slice(2));
  return t.kind === 'list' ? t.items : LOOSE;
}

/**
 * The set with every struct field on the way to its paths made a member too
 * (fieldpath.Set.EnsureNamedFieldsAreMembers): owning `spec.x` owns `spec`,
 * but owning `metadata.labels.a` does not own `labels`' other keys.
 */
export function ensureNamedFieldsAreMembers(set: FieldSet, t: FieldType): FieldSet {
  const out = FieldSet.of(...set.memberElements().map((m) => [m]));
  for (const [pe, below] of set.childElements()) {
    if (pe.startsWith('f:') && hasNamedFields(t)) out.insert([pe]);
    for (const p of ensureNamedFieldsAreMembers(below, typeBelow(t, pe)).paths([pe])) out.insert(p);
  }
  return out;
}
