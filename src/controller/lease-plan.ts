/**
 * The decisions of leader election, as pure functions of the Lease as read,
 * the time and this replica's identity. leader.ts does the I/O around them.
 */

/** `spec` of a coordination.k8s.io/v1 Lease, as far as leader election uses it. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with microseconds. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** Timing of leader election, in milliseconds. */
export interface LeaderElectionConfig {
  /** How long a lease holds without renewal; written into the Lease. */
  readonly leaseDurationMs: number;
  /** How long a leader keeps trying to renew before it gives up leading. Shorter than the lease duration, so it stops before anyone else may start. */
  readonly renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew. */
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionConfig = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** What to do with the Lease now. */
export type LeaseAction =
  /** No Lease exists: create it holding it. */
  | { readonly kind: 'create'; readonly spec: LeaseSpec }
  /** Someone else's lease is free or expired: take it over (conditional update). */
  | { readonly kind: 'acquire'; readonly spec: LeaseSpec; readonly previousHolder: string }
  /** We hold it: extend it (conditional update). */
  | { readonly kind: 'renew'; readonly spec: LeaseSpec }
  /** Another replica holds a live lease until `expiresAt`. */
  | { readonly kind: 'wait'; readonly holder: string; readonly expiresAt: number };

/** Formats a time as a Kubernetes MicroTime (`2025-01-02T03:04:05.678000Z`). */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** Parses a MicroTime or RFC 3339 time; undefined when absent or malformed. */
export function parseMicroTime(text: string | undefined): number | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

function durationSeconds(config: LeaderElectionConfig): number {
  return Math.max(1, Math.ceil(config.leaseDurationMs / 1000));
}

/**
 * When the lease stops protecting its holder: renewTime (or acquireTime) plus
 * its own leaseDurationSeconds. A lease with a holder but no readable time,
 * or no positive duration, is taken as expired: nobody can be relying on it.
 */
export function leaseExpiresAt(spec: LeaseSpec): number {
  const renewed = parseMicroTime(spec.renewTime) ?? parseMicroTime(spec.acquireTime);
  const seconds = spec.leaseDurationSeconds;
  if (renewed === undefined || typeof seconds !== 'number' || !(seconds > 0)) return Number.NEGATIVE_INFINITY;
  return renewed + seconds * 1000;
}

/**
 * Decides the next step of leader election from the Lease as last read
 * (`undefined`: it does not exist). Free means no holderIdentity; expired
 * means `now` is past leaseExpiresAt.
 */
export function planLeaseAction(lease: LeaseSpec | undefined, now: number, identity: string, config: LeaderElectionConfig): LeaseAction {
  const stamp = formatMicroTime(now);
  const duration = durationSeconds(config);
  if (lease === undefined) {
    return { kind: 'create', spec: { holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 } };
  }
  const holder = lease.holderIdentity ?? '';
  const transitions = typeof lease.leaseTransitions === 'number' && lease.leaseTransitions >= 0 ? lease.leaseTransitions : 0;
  if (holder === identity) {
    const acquired = parseMicroTime(lease.acquireTime) === undefined ? stamp : lease.acquireTime;
    return { kind: 'renew', spec: { ...lease, holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: acquired, renewTime: stamp, leaseTransitions: transitions } };
  }
  const expiresAt = leaseExpiresAt(lease);
  if (holder !== '' && now < expiresAt) return { kind: 'wait', holder, expiresAt };
  return {
    kind: 'acquire',
    previousHolder: holder,
    spec: { ...lease, holderIdentity: identity, leaseDurationSeconds: duration, acquireTime: stamp, renewTime: stamp, leaseTransitions: transitions + 1 },
  };
}

/**
 * The Lease spec that hands leadership back on a clean shutdown: no holder,
 * so a standby acquires at its next retry instead of waiting for expiry.
 * Undefined when the lease is not ours to release.
 */
export function planLeaseRelease(lease: LeaseSpec | undefined, now: number, identity: string): LeaseSpec | undefined {
  if (lease === undefined || lease.holderIdentity !== identity) return undefined;
  return { ...lease, holderIdentity: '', renewTime: formatMicroTime(now) };
}
