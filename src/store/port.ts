import type { Family } from '../ipam/address.ts';
import type { UsageView } from '../ipam/allocate.ts';

/**
 * The store port: the only thing the agent needs from persistence. It is
 * deliberately tiny (reserve / release / list / usage), in the spirit of
 * host-local's store, so that memory, SQLite and Kubernetes adapters can all
 * pass one contract suite (src/store/contract.ts).
 */

/** Who holds an IP. A release must name the holder it expects. */
export interface OwnerRef {
  readonly containerId: string;
  readonly ifname: string;
  /** When set, the holder's podUid must match too (Kubernetes mode). */
  readonly podUid?: string | undefined;
  /**
   * When set, a holder of the same interface with this stable identity
   * (`sts:<ns>/<name>/<ordinal>`, `vm:<ns>/<name>`) also counts as the owner,
   * whatever its container and pod UID: a new pod of a StatefulSet ordinal or
   * VM takes over what any earlier incarnation held, even when the caller's
   * view of which incarnation holds it is stale.
   */
  readonly stableKey?: string | undefined;
}

/** One IP held by one attachment. `ip` is canonical text (see formatAddress). */
export interface AllocationRecord {
  readonly pool: string;
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  /** Network namespace path given by the runtime (CNI_NETNS); empty when unknown. */
  readonly netns: string;
  /** `dev:ino` of the netns at ADD time, so a reused path is not mistaken for the same namespace. */
  readonly netnsId?: string | undefined;
  readonly node: string;
  /** The CNI network (netconf `name`) the IP was allocated for; CNI GC is scoped to it. */
  readonly network?: string | undefined;
  readonly podNamespace?: string | undefined;
  readonly podName?: string | undefined;
  readonly podUid?: string | undefined;
  /**
   * An identity that outlives the pod (`sts:<namespace>/<name>/<ordinal>`,
   * `vm:<namespace>/<name>`): a new pod with the same key takes the IP over.
   */
  readonly stableKey?: string | undefined;
  /** Milliseconds since the epoch, from the caller's clock. */
  readonly allocatedAt: number;
  /**
   * Set when the IP is held out of use rather than by an attachment: another
   * host answered for it on the LAN. Such a record names no pod; its
   * `containerId` is HOLD_CONTAINER_ID, which no runtime can pass.
   */
  readonly hold?: IpHold | undefined;
}

/** Why an IP is held out of use, and until when. */
export interface IpHold {
  readonly reason: 'ip-conflict';
  /** The MAC address that answered for the IP. */
  readonly mac: string;
  /** When the hold ends (ms since the epoch); the agent's collector frees the IP then. */
  readonly until: number;
  /** The pod (`namespace/name`) or container the IP was being given to. */
  readonly detectedFor?: string | undefined;
}

/** The container ID of a hold record: ':' is not allowed in a CNI container ID, so no DEL or GC of a runtime can name it. */
export const HOLD_CONTAINER_ID = 'hold:ip-conflict';

/** What the allocator needs to plan the next IP of a pool. */
export interface PoolUsage {
  /** IPs currently held. */
  readonly allocated: readonly string[];
  /**
   * IPs that were held once and are free now, with the time of their last
   * release, oldest release first, and the time before which the IP must not
   * be handed out again when the release asked for one.
   */
  readonly released: ReadonlyArray<readonly [ip: string, releasedAt: number, reusableAt?: number]>;
}

export interface ListFilter {
  readonly pool?: string;
  readonly containerId?: string;
  readonly ifname?: string;
  readonly node?: string;
  readonly stableKey?: string;
  readonly podUid?: string;
}

/** A held IP re-filed under the pool whose range now holds it (a renamed or re-cut pool). */
export interface PoolMove {
  readonly pool: string;
  readonly ip: string;
  /** The pool the record belongs to from now on. */
  readonly to: string;
}

/**
 * Whether an address can be held once in the whole store, or once per pool.
 * Standalone stores (memory, SQLite) hold an address once, whatever pool it
 * was handed out from: a node's pools never overlap, and the records of a
 * renamed, removed or shrunk pool must keep their addresses from every other
 * pool. The Kubernetes store holds one object per (pool, IP); there the
 * admission webhook keeps pools from overlapping and refuses deleting a pool
 * that still holds IPs.
 */
export type AddressScope = 'store' | 'pool';

export interface AllocationStore {
  /** See AddressScope. */
  readonly addressScope: AddressScope;
  /**
   * Records `record` if (pool, ip) is free, and, in a store whose address
   * scope is `store`, no other pool's record holds `ip`. Exactly one of any
   * number of concurrent reserves of the same IP resolves `true`; the others
   * resolve `false`. A `true` is durable: it survives a crash of the process
   * that received it.
   */
  reserve(record: AllocationRecord): Promise<boolean>;
  /**
   * Frees (pool, ip) if and only if it is held by `owner` (every field given
   * must match), and remembers `releasedAt` for least-recently-released
   * ordering. Resolves `true` when it freed the IP, `false` when the IP was
   * free or held by someone else; it never frees another holder's IP. A
   * `true` is durable like a reserve's. `reusableAt`, when given, is kept
   * with the release and reported by `usage` (a reclaimed IP's cooldown).
   */
  release(pool: string, ip: string, owner: OwnerRef, releasedAt: number, reusableAt?: number): Promise<boolean>;
  /**
   * Hands (pool, ip) from its current holder `from` to `to` (same pool and IP,
   * new owner fields) if and only if `from` still holds it. Resolves like
   * `release`: `false` when someone else holds it or it is free.
   */
  transfer(from: OwnerRef, to: AllocationRecord): Promise<boolean>;
  /** Allocation records matching every given field of `filter`, ordered by pool then IP text. */
  list(filter?: ListFilter): Promise<AllocationRecord[]>;
  /** Current holders and release history of one pool. */
  usage(pool: string): Promise<PoolUsage>;
  /**
   * Optional: a parsed view of `usage(pool)` that the store keeps current as
   * it learns of changes (its own writes included), so a caller plans
   * without re-reading or re-parsing the pool. Read-only for callers.
   */
  usageView?(pool: string, family: Family): UsageView;
  /**
   * Optional: calls `listener` with a pool's name whenever the store learns
   * that one of its IPs came free, through any writer (another node's DEL,
   * the controller's reclaim). An ADD waiting for a free IP wakes on it;
   * without it, the agent only hears of its own releases and re-reads on a
   * timer.
   */
  onFree?(listener: (pool: string) => void): void;
  /**
   * Optional, for stores whose `list` answers from a cache that may lag:
   * the records a stable identity holds, read from the source of truth. A
   * new pod of a StatefulSet ordinal calls it when the cache shows no IP for
   * some interface or family, so an IP written moments ago on another node
   * is taken over instead of a second one allocated.
   */
  listStable?(stableKey: string): Promise<AllocationRecord[]>;
  /**
   * Optional, for stores whose address scope is `store`: re-files each held
   * (pool, ip) under `to`, keeping its owner, in one durable transaction. A
   * move whose record is no longer held under `pool` is skipped. Resolves
   * with the number of records moved.
   */
  adopt?(moves: readonly PoolMove[]): Promise<number>;
  /** Releases resources; further calls reject. */
  close(): Promise<void>;
}

/**
 * Where the standalone collector keeps, across restarts, when each record's
 * network namespace was first seen gone, so a restarted agent does not start
 * the grace period again (docs/adr/0009-standalone-state.md). Keys are the
 * collector's record keys.
 */
export interface ReclaimJournal {
  load(): Promise<ReadonlyMap<string, number>>;
  /** Replaces the whole journal; durable like a reserve once it resolves. */
  save(goneSince: ReadonlyMap<string, number>): Promise<void>;
}
