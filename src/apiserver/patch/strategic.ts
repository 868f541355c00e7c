// Strategic merge patch (application/strategic-merge-patch+json) as the real
// server applies it to built-in kinds (k8s.io/apimachinery/pkg/util/
// strategicpatch, StrategicMergeMapPatch): maps merge key by key and `null`
// deletes; lists are replaced unless their field's patch strategy is merge,
// in which case lists of objects merge item by item on the merge key and
// lists of scalars are unions. Directives: `$patch: replace|delete` in an
// object or as a list item, `$deleteFromPrimitiveList/<field>`,
// `$setElementOrder/<field>` and `$retainKeys`. Errors carry the code the
// real server answers with: 400 for a malformed directive, 422 for lists of
// lists, 500 (no reason) for the rest, which it does not map.
import { isRecord } from '../kinds.ts';
import { setOwn } from '../patch.ts';
import { fieldType, LOOSE, type FieldType, type ListType } from './field-types.ts';
import { goValue } from './go-format.ts';

export class StrategicPatchError extends Error {
  readonly code: 400 | 422 | 500;
  constructor(code: 400 | 422 | 500, message: string) {
    super(message);
    this.code = code;
  }
}

const PATCH = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_FROM = '$deleteFromPrimitiveList';
const SET_ORDER = '$setElementOrder';

const noMergeKey = (m: unknown, key: string): StrategicPatchError => new StrategicPatchError(500, `map: ${goValue(m)} does not contain declared merge key: ${key}`);
const badPatchType = (t: unknown, m: unknown): StrategicPatchError => new StrategicPatchError(500, `unknown patch type: ${goValue(t)} in map: ${goValue(m)}`);

type Obj = Record<string, unknown>;

/** Applies `patch` to `original` (neither is modified) with the field types of the object's kind. */
export function applyStrategicMergePatch(original: Obj, patch: Obj, type: FieldType): Obj {
  return mergeMap(structuredClone(original), structuredClone(patch), type);
}

function mergeMap(original: Obj | undefined, patch: Obj, type: FieldType): Obj {
  if (PATCH in patch) return mapDirective(patch[PATCH], patch);
  const out = original ?? {};
  applyRetainKeys(out, patch);
  applyElementOrders(out, patch, type);
  for (const [rawKey, patchV] of Object.entries(patch)) {
    const isDeleteList = rawKey.startsWith(DELETE_FROM);
    const key = isDeleteList ? suffix(rawKey, DELETE_FROM, 'invalid patch format of primitive list') : rawKey;
    if (patchV === null) {
      delete out[key];
      continue;
    }
    const cur = Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined;
    if (cur === undefined || kindOf(cur) !== kindOf(patchV)) {
      if (!isDeleteList) replaceWith(out, key, patchV);
      continue;
    }
    const t = fieldType(type, key);
    if (isRecord(cur)) setOwn(out, key, mergeMap(cur, patchV as Obj, t));
    else if (Array.isArray(cur)) setOwn(out, key, mergeListField(cur, patchV as unknown[], asList(t), isDeleteList));
    else replaceWith(out, key, patchV);
  }
  return out;
}

/** `$patch` in an object: `replace` takes the patch as it is, `delete` leaves an empty object. */
function mapDirective(directive: unknown, patch: Obj): Obj {
  if (directive === 'replace') {
    delete patch[PATCH];
    return patch;
  }
  if (directive === 'delete') return {};
  throw badPatchType(directive, patch);
}

const kindOf = (v: unknown): string => (Array.isArray(v) ? 'list' : v === null ? 'null' : typeof v);

function suffix(key: string, prefix: string, error: string): string {
  if (!key.startsWith(`${prefix}/`)) throw new StrategicPatchError(400, error);
  return key.slice(prefix.length + 1);
}

/** Sets a key the original lacks (or holds with another type): the patch value without nulls and directives. */
function replaceWith(out: Obj, key: string, patchV: unknown): void {
  discardNulls(patchV);
  const [value, keep] = removeDirectives(patchV);
  if (keep) setOwn(out, key, value);
  else delete out[key];
}

function discardNulls(v: unknown): void {
  if (Array.isArray(v)) v.forEach(discardNulls);
  else if (isRecord(v))
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else discardNulls(x);
    }
}

/** Strips directives; an object that is itself a directive is not kept at all. */
function removeDirectives(v: unknown): [unknown, boolean] {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) {
      const [y, keep] = removeDirectives(x);
      if (keep) out.push(y);
    }
    return [out, true];
  }
  if (!isRecord(v)) return [v, true];
  if (PATCH in v) return [undefined, false];
  for (const [k, x] of Object.entries(v)) {
    const [y, keep] = removeDirectives(x);
    if (keep) v[k] = y;
    else delete v[k];
  }
  return [v, true];
}

/** `$retainKeys`: keys of the original missing from the list go; the patch may only set listed keys. */
function applyRetainKeys(original: Obj, patch: Obj): void {
  if (!(RETAIN_KEYS in patch)) return;
  const list = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(list)) throw new StrategicPatchError(400, 'invalid patch format of retainKeys');
  const keep = new Set(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM) || k.startsWith(SET_ORDER)) continue;
    if (!keep.has(k)) throw new StrategicPatchError(400, 'invalid patch format of retainKeys');
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

const asList = (t: FieldType): ListType | undefined => (t.kind === 'list' ? t : undefined);

/** A list field: merged when its patch strategy says so (or for a deletion list), else replaced. */
function mergeListField(original: unknown[], patch: unknown[], list: ListType | undefined, isDeleteList: boolean): unknown[] {
  if (!(list?.patchMerge || isDeleteList)) return patch;
  return mergeList(original, patch, list, isDeleteList);
}

function mergeList(original: unknown[], patch: unknown[], list: ListType | undefined, isDeleteList: boolean): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const mergeKey = list?.mergeKey ?? '';
  const element = elementKind(original, patch);
  if (element !== 'object') {
    if (isDeleteList) return original.filter((v) => !patch.some((p) => p === v));
    const merged = dedupe([...original, ...patch]);
    return orderLikePatch(merged, patch, original, '');
  }
  if (!mergeKey) throw new StrategicPatchError(500, 'cannot merge lists without merge key for ');
  const special = applySpecialItems(original, patch as Obj[], mergeKey);
  const merged = mergeItems(special.original, special.patch, mergeKey, list?.items ?? LOOSE);
  return orderLikePatch(merged, special.patch, special.original, mergeKey);
}

/** The kind all items of the lists share; lists of lists are 422, mixed kinds 500. */
function elementKind(...lists: unknown[][]): string {
  let kind: string | undefined;
  for (const list of lists)
    for (const v of list) {
      const k = isRecord(v) ? 'object' : kindOf(v);
      if (kind === undefined && k === 'list') throw new StrategicPatchError(422, 'lists of lists are not supported');
      if (kind !== undefined && k !== kind) throw new StrategicPatchError(500, `list element types are not identical: ${goValue(lists)}`);
      kind = k;
    }
  if (kind === undefined) throw new StrategicPatchError(500, 'no elements in any of the given slices');
  return kind;
}

function dedupe(list: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of list) if (!out.some((x) => x === v)) out.push(v);
  return out;
}

/** `$patch` items of a list of objects: `delete` drops the original's items with that key, `replace` drops the original. */
function applySpecialItems(original: unknown[], patch: Obj[], mergeKey: string): { original: unknown[]; patch: Obj[] } {
  let out = original;
  const plain: Obj[] = [];
  let replace = false;
  for (const item of patch) {
    if (!isRecord(item)) throw new StrategicPatchError(500, `expected a map[string]interface {}, but received a ${typeof item}`);
    if (!(PATCH in item)) {
      plain.push(item);
      continue;
    }
    const directive = item[PATCH];
    if (directive === 'delete') {
      if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
      out = out.filter((o) => !(isRecord(o) && mergeKey in o && o[mergeKey] === item[mergeKey]));
    } else if (directive === 'replace') replace = true;
    else if (directive === 'merge') throw new StrategicPatchError(500, 'merging lists cannot yet be specified in the patch');
    else throw badPatchType(directive, item);
  }
  return replace ? { original: plain, patch: [] } : { original: out, patch: plain };
}

/** Each patch item merges into the original item with its merge key, or is appended. */
function mergeItems(original: unknown[], patch: Obj[], mergeKey: string, itemType: FieldType): unknown[] {
  const out = [...original];
  for (const item of patch) {
    if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
    const i = out.findIndex((o) => isRecord(o) && mergeKey in o && o[mergeKey] === item[mergeKey]);
    if (i >= 0) out[i] = mergeMap(out[i] as Obj, item, itemType);
    else out.push(item);
  }
  return out;
}

/** The merge key's value of an item (the item itself for scalars). */
const keyOf = (item: unknown, mergeKey: string): unknown => (mergeKey && isRecord(item) ? item[mergeKey] : item);

const indexIn = (list: readonly unknown[], item: unknown, mergeKey: string): number => list.findIndex((x) => keyOf(x, mergeKey) === keyOf(item, mergeKey));

/**
 * The order the real server gives a merged list: items named by `order`
 * (the patch, or `$setElementOrder`) in that order, the original's other
 * items in their original order, interleaved where the original had them.
 */
function orderLikePatch(merged: unknown[], order: readonly unknown[], original: readonly unknown[], mergeKey: string): unknown[] {
  const fromPatch = merged.filter((m) => indexIn(order, m, mergeKey) >= 0);
  const serverOnly = merged.filter((m) => indexIn(order, m, mergeKey) < 0);
  const byPatch = sortByIndex(fromPatch, order, mergeKey);
  const byServer = sortByIndex(serverOnly, original, mergeKey);
  return interleave(byServer, byPatch, original, mergeKey);
}

function sortByIndex(items: unknown[], order: readonly unknown[], mergeKey: string): unknown[] {
  const deletions = mergeKey ? items.filter((i) => isRecord(i) && i[PATCH] === 'delete') : [];
  const rest = items.filter((i) => !deletions.includes(i));
  const ranked = rest.map((item, pos) => ({ item, pos, at: indexIn(order, item, mergeKey) }));
  ranked.sort((a, b) => (a.at >= 0 && b.at >= 0 ? a.at - b.at : a.pos - b.pos));
  return [...ranked.map((r) => r.item), ...deletions];
}

/** Takes a server-only item first only when the original had it before the next patch item. */
function interleave(left: unknown[], right: unknown[], serverOrder: readonly unknown[], mergeKey: string): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (j >= right.length) out.push(left[i++]);
    else if (i >= left.length) out.push(right[j++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey);
      const ri = indexIn(serverOrder, right[j], mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

/** `$setElementOrder/<field>`: merges that field's list now and orders it as the directive says. */
function applyElementOrders(original: Obj, patch: Obj, type: FieldType): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw new StrategicPatchError(500, `expected a []interface {}, but received a ${goTypeName(order)}`);
    const field = suffix(key, SET_ORDER, 'invalid patch format of setElementOrder list');
    const list = asList(fieldType(type, field));
    const mergeKey = list?.mergeKey ?? '';
    const cur = original[field];
    const pat = patch[field];
    if (cur !== undefined && !Array.isArray(cur)) throw new StrategicPatchError(500, `expected a []interface {}, but received a ${goTypeName(cur)}`);
    if (pat !== undefined && !Array.isArray(pat)) throw new StrategicPatchError(500, `expected a []interface {}, but received a ${goTypeName(pat)}`);
    if (cur === undefined && pat === undefined) continue;
    checkOrder(pat ?? [], order, mergeKey);
    const merged = mergedForOrder(cur, pat, list);
    const kind = elementKind(cur ?? [], pat ?? []);
    if (kind === 'object') for (const m of [...merged, ...order]) if (!isRecord(m) || !(mergeKey in m)) throw noMergeKey(m, mergeKey);
    const serverOrder = cur && pat && kind === 'object' && list?.patchMerge ? sharedBacking(cur, pat, mergeKey) : (cur ?? []);
    setOwn(original, field, orderLikePatch(merged, order, serverOrder, kind === 'object' ? mergeKey : ''));
    delete patch[field];
  }
}

function mergedForOrder(cur: unknown[] | undefined, pat: unknown[] | undefined, list: ListType | undefined): unknown[] {
  if (pat === undefined) return cur!;
  if (cur === undefined) return removeDirectives(pat)[0] as unknown[];
  return mergeListField(cur, pat, list, false);
}

/**
 * The original list as the real server sees it when it orders a merged list
 * by `$setElementOrder`: its merge deletes items by shifting the rest of the
 * original's array down and appends new items into the room that leaves, and
 * the ordering then reads that same array. The order of merged lists that
 * both delete and add items depends on it, so it is reproduced here.
 */
function sharedBacking(original: unknown[], patch: unknown[], mergeKey: string): unknown[] {
  const backing = [...original];
  let length = backing.length;
  const matches = (o: unknown, item: Obj): boolean => isRecord(o) && mergeKey in o && o[mergeKey] === item[mergeKey];
  for (const item of patch) {
    if (!isRecord(item) || item[PATCH] !== 'delete') continue;
    for (let i = backing.slice(0, length).findIndex((o) => matches(o, item)); i >= 0; i = backing.slice(0, length).findIndex((o) => matches(o, item))) {
      backing.copyWithin(i, i + 1, length);
      length--;
    }
  }
  if (patch.some((i) => isRecord(i) && i[PATCH] === 'replace')) return backing;
  for (const item of patch) {
    if (!isRecord(item) || PATCH in item) continue;
    if (backing.slice(0, length).some((o) => matches(o, item))) continue;
    if (length === backing.length) break;
    backing[length++] = item;
  }
  return backing;
}

/** The patch's items (deletions aside) must appear in `$setElementOrder` in the same relative order. */
function checkOrder(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const items = mergeKey ? patchList.filter((i) => !(isRecord(i) && i[PATCH] === 'delete')) : patchList;
  let p = 0;
  let o = 0;
  while (p < items.length && o < order.length) {
    const item = items[p];
    if (isRecord(item) && PATCH in item) p++;
    else {
      if (keyOf(item, mergeKey) === keyOf(order[o], mergeKey)) p++;
      o++;
    }
  }
  if (p < items.length) throw new StrategicPatchError(500, `The order in patch list:\n${goValue(patchList)}\n doesn't match $setElementOrder list:\n${goValue(order)}\n`);
}

const goTypeName = (v: unknown): string => (isRecord(v) ? 'map[string]interface {}' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'float64' : typeof v === 'boolean' ? 'bool' : '<nil>');
