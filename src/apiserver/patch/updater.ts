// Who owns which fields after a write, as structured-merge-diff's Updater
// decides it (merge/update.go). An update takes the fields it added or
// changed from everyone else. An apply merges its configuration into the
// live object, removes fields it applied before and no longer applies
// (unless someone else owns them), and may not take fields from another
// manager unless forced: those are conflicts.
import { FieldSet, type Path } from './fieldset.ts';
import type { FieldType } from './field-types.ts';
import { entryInfo, type Managed } from './managed-fields.ts';
import { compare, ensureNamedFieldsAreMembers, toFieldSet, type Comparison } from './typed-sets.ts';
import { mergeValues, removePaths } from './typed-values.ts';
import { deepEqual } from './values.ts';

/** A field an apply would take from another manager. */
export interface Conflict {
  /** The other manager's identifier. */
  readonly manager: string;
  readonly path: Path;
}

export class ApplyConflicts extends Error {
  readonly conflicts: readonly Conflict[];
  constructor(conflicts: Conflict[]) {
    super(`${conflicts.length} apply conflicts`);
    this.conflicts = conflicts;
  }
}

/** The kind's field types, and the fields the strategy resets (which nobody owns through this write). */
export interface Schema {
  readonly type: FieldType;
  readonly reset: FieldSet;
  readonly apiVersion: string;
}

function filteredComparison(live: unknown, next: unknown, schema: Schema): Comparison {
  const c = compare(live, next, schema.type);
  return { added: c.added.recursiveDifference(schema.reset), modified: c.modified.recursiveDifference(schema.reset), removed: c.removed.recursiveDifference(schema.reset) };
}

/**
 * Takes what `c` added or changed from every manager but `self` (conflicts,
 * unless `force`) and what it removed from all of them.
 */
function takeFromOthers(managed: Managed, self: string, c: Comparison, force: boolean): void {
  const changed = c.modified.union(c.added);
  // Updates are always forced: only an unforced apply needs its conflicts listed.
  if (!force) {
    const conflicts: Conflict[] = [];
    for (const [id, e] of managed) if (id !== self) for (const path of e.set.intersection(changed).paths()) conflicts.push({ manager: id, path });
    if (conflicts.length) throw new ApplyConflicts(conflicts);
  }
  for (const [id, e] of [...managed]) {
    if (id === self) continue;
    const set = e.set.difference(changed).difference(c.removed);
    if (set.isEmpty()) managed.delete(id);
    else managed.set(id, { ...e, set });
  }
}

/** The fields a non-apply write took: what it added or changed (server-set metadata aside), taken from the others. */
export function updatedFields(live: unknown, next: unknown, managed: Managed, schema: Schema, stripped: FieldSet): FieldSet {
  const c = filteredComparison(live, next, schema);
  takeFromOthers(managed, '', c, true);
  return c.modified.union(c.added).recursiveDifference(schema.reset).difference(stripped);
}

export interface Applied {
  /** The merged object, or undefined when the apply changes nothing in it. */
  readonly object: unknown;
  readonly managed: Managed;
}

/** Merges `config` into `live` for the manager `self` (an Apply identifier); throws ApplyConflicts unless `force`. */
export function applyConfiguration(live: unknown, config: unknown, managed: Managed, self: string, force: boolean, schema: Schema, stripped: FieldSet): Applied {
  const out: Managed = new Map(managed);
  const set = toFieldSet(config, schema.type, true).recursiveDifference(schema.reset);
  let merged = mergeValues(live, config, schema.type);
  const last = managed.get(self)?.set;
  out.set(self, { info: entryInfo(self), apiVersion: schema.apiVersion, set, time: managed.get(self)?.time });
  if (last && !last.isEmpty()) merged = prune(merged, out, last, schema.type);
  takeFromOthers(out, self, filteredComparison(live, merged, schema), force);
  const own = out.get(self)!;
  const kept = own.set.difference(stripped);
  if (kept.isEmpty()) out.delete(self);
  else out.set(self, { ...own, set: kept });
  return { object: deepEqual(live, merged) ? undefined : merged, managed: out };
}

const fieldsOf = (v: unknown, t: FieldType): FieldSet => (v === undefined ? new FieldSet() : ensureNamedFieldsAreMembers(toFieldSet(v, t), t));

/**
 * Removes what the applier owned last time and no longer applies, unless
 * another manager (or its own new configuration) owns it (update.go prune,
 * addBackOwnedItems, addBackDanglingItems).
 */
function prune(merged: unknown, managed: Managed, last: FieldSet, t: FieldType): unknown {
  const lastOwned = ensureNamedFieldsAreMembers(last, t);
  const pruned = removePaths(merged, lastOwned, t);
  let owned = new FieldSet();
  for (const e of managed.values()) owned = owned.union(e.set);
  const mergedSet = fieldsOf(merged, t);
  const ownedBack = removePaths(merged, mergedSet.difference(fieldsOf(pruned, t).union(ensureNamedFieldsAreMembers(owned, t))), t);
  return removePaths(merged, mergedSet.difference(fieldsOf(ownedBack, t)).intersection(lastOwned), t) ?? {};
}
