/**
 * What an edit of the pools file changes, told before or as it is applied:
 * pools added, removed and changed, held addresses re-filed under another
 * pool, and held addresses the edit leaves outside every pool. Pure.
 */
import { planPoolClaims, type ClaimPlan, type HeldAddress } from './claims.ts';
import type { Pool } from './pool.ts';

export interface PoolEditPlan extends ClaimPlan {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Pools in both lists whose definition differs (ranges, gateway, routes, flags or affinity). */
  readonly changed: readonly string[];
}

/** A pool's definition as comparable text: two pools are the same pool when these agree. */
function definitionOf(p: Pool): string {
  return JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Compares the pools served now with the pools of an edit, and files every
 * held address under the edit's pools (see planPoolClaims). An address
 * orphaned already before the edit is reported again: the plan describes
 * the state after the edit, not the difference.
 */
export function planPoolEdit(before: readonly Pool[], after: readonly Pool[], held: readonly HeldAddress[]): PoolEditPlan {
  const old = new Map(before.map((p) => [p.name, p]));
  const next = new Map(after.map((p) => [p.name, p]));
  const changed = after.filter((p) => old.has(p.name) && definitionOf(old.get(p.name)!) !== definitionOf(p)).map((p) => p.name);
  return {
    added: after.filter((p) => !old.has(p.name)).map((p) => p.name),
    removed: before.filter((p) => !next.has(p.name)).map((p) => p.name),
    changed,
    ...planPoolClaims(after, held),
  };
}
