// Merging and removing parts of typed values, as structured-merge-diff does
// for server-side apply (typed.TypedValue Merge and RemoveItems). Merging
// takes the applied value for leaves and walks maps, structs, keyed lists
// and sets, ordering list items the way the real merge does; removing drops
// the paths of a set, and a container left empty by that goes too (the real
// server leaves null there, which decoding then drops).
import { isRecord } from '../kinds.ts';
import type { FieldSet, PathElement } from './fieldset.ts';
import { fieldType, isAtomic, typeFor, type FieldType, type ListType } from './field-types.ts';
import { itemElement, TypedValueError } from './typed-sets.ts';

type Obj = Record<string, unknown>;

const isEmptyContainer = (v: unknown): boolean => v === null || (Array.isArray(v) ? v.length === 0 : isRecord(v) && Object.keys(v).length === 0);
const sameShape = (a: unknown, b: unknown): boolean => Array.isArray(a) === Array.isArray(b) && isRecord(a) === isRecord(b);

/** `rhs` merged over `lhs`: what apply makes of the live object and an applied configuration. */
export function mergeValues(lhs: unknown, rhs: unknown, declared: FieldType): unknown {
  if (rhs === undefined) return lhs;
  if (lhs === undefined || !sameShape(lhs, rhs)) return rhs;
  const t = typeFor(declared, rhs);
  if (t.kind === 'scalar' || isAtomic(t) || (isEmptyContainer(lhs) && isEmptyContainer(rhs))) return rhs;
  if (t.kind === 'list') return mergeLists(lhs as unknown[], rhs as unknown[], t);
  const l = lhs as Obj;
  const r = rhs as Obj;
  const out: Obj = {};
  for (const k of new Set([...Object.keys(l), ...Object.keys(r)])) {
    const v = mergeValues(l[k], r[k], fieldType(t, k));
    if (v !== undefined) out[k] = v;
  }
  return out;
}

interface Indexed {
  elements: PathElement[];
  byElement: Map<PathElement, unknown>;
}

function index(list: unknown[], t: ListType, allowDuplicates: boolean): Indexed {
  const elements: PathElement[] = [];
  const byElement = new Map<PathElement, unknown>();
  list.forEach((item, i) => {
    const pe = itemElement(item, t, i);
    if (byElement.has(pe)) {
      if (!allowDuplicates) throw new TypedValueError(`duplicate entries for key ${pe}`);
      // The live object's duplicates are not merged with the applied item.
      byElement.set(pe, null);
    } else byElement.set(pe, item);
    elements.push(pe);
  });
  return { elements, byElement };
}

/**
 * Items of both lists, merged by name. The applied list's order wins for
 * the items it names; the live list's other items keep their place between
 * them (structured-merge-diff's visitListItems).
 */
function mergeLists(lhs: unknown[], rhs: unknown[], t: ListType): unknown[] {
  const right = index(rhs, t, false);
  const left = index(lhs, t, true);
  const shared = right.elements.filter((pe) => left.byElement.has(pe));
  let nextShared = shared.shift();
  const mergedRight = new Set<PathElement>();
  const out: unknown[] = [];
  const push = (l: unknown, r: unknown): void => {
    const v = mergeValues(l === null ? undefined : l, r, t.items);
    if (v !== undefined) out.push(v);
  };
  let li = 0;
  let ri = 0;
  while (li < left.elements.length || ri < right.elements.length) {
    if (li < left.elements.length && ri < right.elements.length) {
      const pe = left.elements[li]!;
      if (pe === right.elements[ri]) {
        mergedRight.add(pe);
        push(left.byElement.get(pe), right.byElement.get(pe));
        li++;
        ri++;
        nextShared = shared.shift();
        continue;
      }
      if (right.byElement.has(pe) && nextShared !== undefined && nextShared !== pe) {
        li++;
        continue;
      }
    }
    if (li < left.elements.length) {
      const pe = left.elements[li]!;
      if (!right.byElement.has(pe)) {
        push(lhs[li], undefined);
        li++;
        continue;
      }
      if (mergedRight.has(pe)) li++;
    }
    if (ri < right.elements.length) {
      const pe = right.elements[ri]!;
      mergedRight.add(pe);
      push(left.byElement.get(pe), right.byElement.get(pe));
      ri++;
      if (nextShared === pe) nextShared = shared.shift();
    }
  }
  return out;
}

/** `value` without the paths of `set`; undefined when nothing is left of it. */
export function removePaths(value: unknown, set: FieldSet, declared: FieldType): unknown {
  const t = typeFor(declared, value);
  if (t.kind === 'scalar') return value;
  if (isAtomic(t) || isEmptyContainer(value)) return undefined;
  if (t.kind === 'list') {
    const out: unknown[] = [];
    (value as unknown[]).forEach((item, i) => {
      const pe = itemElement(item, t, i);
      if (set.has([pe])) return;
      const below = set.withPrefix(pe);
      const kept = below.isEmpty() ? item : removePaths(item, below, t.items);
      if (kept !== undefined) out.push(kept);
    });
    return out.length ? out : undefined;
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(value as Obj)) {
    const pe = `f:${k}`;
    if (set.has([pe])) continue;
    const below = set.withPrefix(pe);
    const kept = below.isEmpty() ? v : removePaths(v, below, fieldType(t, k));
    if (kept !== undefined) out[k] = kept;
  }
  return Object.keys(out).length ? out : undefined;
}
