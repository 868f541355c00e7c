/** What an IPPool's status should say, as a pure function of the pool and its IPAllocations. */
import { toTidepoolError } from '../ipam/errors.ts';
import { planPool } from '../ipam/pool.ts';
import type { IPPoolResourceStatus } from '../api/crd-schemas.ts';
import { isAllocated } from './webhook-plan.ts';

export type PoolStatusPlan =
  /** The pool does not validate: its status is left as it is. */
  | { readonly kind: 'invalid'; readonly message: string }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'update'; readonly status: Required<IPPoolResourceStatus> };

/**
 * `status.totalIPCount` is planPool's allocatable count in decimal (IPv6
 * pools exceed 2^53), `status.allocatedIPCount` the number of the pool's
 * IPAllocations that are allocated. A write is planned only when either
 * differs from what is stored, so an idle cluster costs no writes.
 */
export function planPoolStatus(poolObject: unknown, allocations: readonly unknown[]): PoolStatusPlan {
  let total: bigint;
  let name: string;
  try {
    const pool = planPool(poolObject);
    total = pool.total;
    name = pool.name;
  } catch (err) {
    return { kind: 'invalid', message: toTidepoolError(err).message };
  }
  let allocated = 0;
  for (const a of allocations) {
    const pool = (a as { spec?: { pool?: unknown } } | undefined)?.spec?.pool;
    if (pool === name && isAllocated(a)) allocated++;
  }
  const status: Required<IPPoolResourceStatus> = { totalIPCount: total.toString(), allocatedIPCount: allocated };
  const stored = (poolObject as { status?: IPPoolResourceStatus }).status;
  if (stored?.totalIPCount === status.totalIPCount && stored?.allocatedIPCount === status.allocatedIPCount) return { kind: 'unchanged' };
  return { kind: 'update', status };
}
