/**
 * Standalone garbage collection rule: an allocation whose network namespace
 * is gone is reclaimed once it has been seen gone for a grace period. Pure:
 * the caller observes the namespaces and supplies the time.
 */

/** What the agent saw at a namespace path. `id` is `dev:ino` when it exists. */
export interface NetnsObservation {
  readonly exists: boolean;
  readonly id?: string | undefined;
  /**
   * Whether the path is a namespace file; undefined when it could not be
   * told. ADD refuses `false`. The garbage collector ignores it: a namespace
   * mount that did not propagate to the agent looks like a plain file, so a
   * plain file is no proof that the owner is gone.
   */
  readonly isNamespace?: boolean | undefined;
}

export interface NetnsGcRecord {
  /** Stable identity of the allocation, e.g. `pool/ip/containerId/ifname`. */
  readonly key: string;
  readonly netns: string;
  /** Namespace identity recorded at ADD; undefined when it could not be read. */
  readonly netnsId?: string | undefined;
}

export interface NetnsGcInput {
  readonly records: readonly NetnsGcRecord[];
  /** One observation per distinct netns path in `records`; a missing entry counts as "still there". */
  readonly observations: ReadonlyMap<string, NetnsObservation>;
  /** When each key was first seen gone, carried over from the previous run. */
  readonly goneSince: ReadonlyMap<string, number>;
  readonly now: number;
  readonly graceMs: number;
}

export interface NetnsGcPlan {
  /** Keys whose namespace has been gone for at least the grace period. */
  readonly reclaim: readonly string[];
  /** Keys seen gone but still inside the grace period, with the time they were first seen gone. */
  readonly waiting: ReadonlyArray<{ readonly key: string; readonly goneSince: number }>;
  /** The state to pass as `goneSince` next time: only keys still gone and not reclaimed. */
  readonly goneSince: ReadonlyMap<string, number>;
}

/**
 * A namespace is gone when its path no longer exists, or when it exists but
 * is a different namespace than the one the IP was given to (the runtime
 * reused the path). Records without a netns path are never reclaimed here:
 * absence of evidence is not evidence the owner died. A key that reappears
 * loses its timer, so a flapping observation never accumulates grace.
 */
export function planNetnsGc(input: NetnsGcInput): NetnsGcPlan {
  const reclaim: string[] = [];
  const waiting: Array<{ key: string; goneSince: number }> = [];
  const goneSince = new Map<string, number>();
  for (const record of input.records) {
    if (record.netns === '') continue;
    const seen = input.observations.get(record.netns);
    if (seen === undefined || !isGone(record, seen)) continue;
    const since = input.goneSince.get(record.key) ?? input.now;
    if (input.now - since >= input.graceMs) {
      reclaim.push(record.key);
    } else {
      goneSince.set(record.key, since);
      waiting.push({ key: record.key, goneSince: since });
    }
  }
  return { reclaim, waiting, goneSince };
}

function isGone(record: NetnsGcRecord, seen: NetnsObservation): boolean {
  if (!seen.exists) return true;
  return record.netnsId !== undefined && seen.id !== undefined && seen.id !== record.netnsId;
}
