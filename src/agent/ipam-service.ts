import { compareAddressText, formatAddress, formatCidr, parseAddress } from '../ipam/address.ts';
import { planAllocatedCount, planFreeCount, planNextIp, planUsage, type UsageView } from '../ipam/allocate.ts';
import { planOrphanGroups, planPoolClaims } from '../ipam/claims.ts';
import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { planNetnsGc, type NetnsGcPlan, type NetnsObservation } from '../ipam/netns-gc.ts';
import type { Pool } from '../ipam/pool.ts';
import { planRoutes } from '../ipam/routes.ts';
import { HOLD_CONTAINER_ID, type AllocationRecord, type AllocationStore, type OwnerRef, type ReclaimJournal } from '../store/port.ts';
import { GATEWAY_TRIES, type AddressProber } from './address-probe.ts';
import type {
  AllocateRequest,
  AllocateResponse,
  AllocatedIP,
  AllocationView,
  AttachmentRef,
  CollectResponse,
  GcRequest,
  PoolStatus,
  ReleasedIP,
  ReleaseResponse,
  RouteSpec,
  StatusRequest,
  StatusResponse,
} from '../api/protocol.ts';
import { noMetrics, type AgentMetrics, type NetnsGcRun, type ReleaseReason } from './metrics.ts';
import { createStandalonePolicy, type AllocationPlan, type IpamPolicy } from './policy.ts';
import { silentLogger, type Logger } from '../util/logger.ts';

export interface IpamServiceDeps {
  readonly store: AllocationStore;
  /** Standalone shorthand: the fixed pool list, served by the standalone policy. */
  readonly pools?: readonly Pool[];
  /** How pools are chosen and which IPs a DEL keeps; defaults to the standalone policy over `pools`. */
  readonly policy?: IpamPolicy;
  /** Name recorded on every allocation; CNI GC only touches this node's records. */
  readonly node: string;
  readonly now: () => number;
  /** Reads a namespace path; must not throw. */
  readonly probeNetns: (path: string) => NetnsObservation;
  /** A released IP is not handed out again for this long (least-recently-released order applies anyway). */
  readonly reuseCooldownMs?: number;
  /** How long a namespace must be seen gone before its IPs are reclaimed. */
  readonly gcGraceMs?: number;
  /**
   * Where the collector keeps when each namespace was first seen gone, so a
   * restart does not start the grace period again; in memory by default.
   */
  readonly journal?: ReclaimJournal;
  /**
   * How long a pool's usage read from the store may be reused for planning.
   * Infinity suits a store this agent writes alone (standalone SQLite); 0
   * re-reads every time. Safety never depends on it: every reserve is
   * conditional, and a lost race drops the cached view.
   */
  readonly usageCacheMs?: number;
  /** This writer's share of a pool when several agents write it (see planNextIp's segment). */
  readonly segment?: (pool: Pool) => { readonly index: number; readonly count: number } | undefined;
  /** Random source in [0, 1) spreading choices outside the segment; only composition roots pass Math.random. */
  readonly random?: () => number;
  /**
   * How long an ADD that finds every candidate pool full waits for an IP to
   * come free (a DEL, a reclaim, a cooldown ending) before it fails with
   * POOL_EXHAUSTED. At 1:1 a replacement pod's ADD often races the DEL that
   * frees its IP; failing sends the pod into kubelet's 10 s backoff. 0 (the
   * default) fails at once. Keep it well under the plugin's ipam.timeoutMs.
   */
  readonly exhaustedWaitMs?: number;
  /** Resolves after `ms`, or early once `signal` aborts; required for `exhaustedWaitMs`. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly metrics?: AgentMetrics;
  readonly log?: Logger;
  /** Probes addresses and gateways from the pod's link; without one, no ADD probes (unit tests, the simulator). */
  readonly prober?: AddressProber;
  /** This node's detection settings; pools and netconfs may override the switches and the timeout. */
  readonly detection?: NodeDetection;
}

/** A node's detection settings (daemon flags). */
export interface NodeDetection {
  /** Probe every new IP for another host answering for it (default on). */
  readonly ipConflict: boolean;
  /** Require the pool's gateway to answer from the pod's link (default off). */
  readonly gateway: boolean;
  /** How long each probe waits for an answer. */
  readonly timeoutMs: number;
  /** How long an IP another host answered for is held out of use. */
  readonly holdMs: number;
  /** How many IPs a stateless pod may try before its ADD fails with IP_CONFLICT. */
  readonly conflictAttempts: number;
}

export const DEFAULT_DETECTION: NodeDetection = { ipConflict: true, gateway: false, timeoutMs: 50, holdMs: 10 * 60_000, conflictAttempts: 3 };

/** While waiting for a free IP, the pools are re-read this often even without news of a release (cooldowns, stores that cannot tell). */
export const EXHAUSTED_POLL_MS = 500;

export interface IpamService {
  /**
   * Idempotent per (containerId, ifname), and per (pod UID, ifname) when the
   * plan names the pod; every planned interface and family or none.
   */
  allocate(req: AllocateRequest): Promise<AllocateResponse>;
  /** Frees what the attachment holds; nothing held is not an error. */
  release(ref: AttachmentRef, reason?: ReleaseReason): Promise<ReleaseResponse>;
  /** The attachment's IPs, or UNKNOWN_CONTAINER. */
  check(ref: AttachmentRef): Promise<AllocateResponse>;
  /** Releases every allocation of this node and network whose attachment is not listed. */
  gc(req: GcRequest): Promise<ReleaseResponse>;
  status(req?: StatusRequest): Promise<StatusResponse>;
  allocations(): Promise<AllocationView[]>;
  /** Releases one IP by address; refuses while its namespace exists unless `force`. */
  releaseIp(ip: string, force: boolean): Promise<ReleaseResponse>;
  /** One netns garbage collection run; `graceMs` overrides the configured grace; `dryRun` reports without releasing or starting timers. */
  collect(graceMs?: number, dryRun?: boolean): Promise<CollectResponse>;
  /**
   * For stores that hold an address once (standalone): files every held IP
   * under the current pool whose ranges hold it (a renamed or re-cut pool
   * keeps its allocations) and reports what no pool holds. Run after the
   * pools change, and periodically, since an ADD that started under the
   * old pools may finish after them. A no-op for other stores.
   */
  reconcile(): Promise<{ readonly moved: number; readonly orphaned: number }>;
  /**
   * The agent is stopping: every ADD waiting for a free IP fails at once
   * with AGENT_STOPPING (so the runtime retries against the next agent
   * instead of losing its answer), later ADDs that find their pools full
   * fail the same way instead of waiting, and a collection in progress
   * stops before its next release. Everything else keeps working until the
   * store is closed, so requests in flight are answered.
   */
  shutdown(): void;
}

const MAX_RESERVE_ATTEMPTS = 16;

/** A pool's usage as the planner reads it, updated in place with this agent's own writes. */
type MutableUsage = { allocated: Set<bigint>; releasedAt: Map<bigint, number>; reusableAt: Map<bigint, number> };

/**
 * The agent's IPAM logic over a store. Allocation plans with the pure core
 * and commits with the store's conditional reserve, so several agents (or
 * processes) sharing a store can never hand one IP out twice; concurrent
 * allocations inside this process skip each other's in-flight candidates, so
 * it does not race itself.
 */
export function createIpamService(deps: IpamServiceDeps): IpamService {
  const { store, node, now } = deps;
  const metrics = deps.metrics ?? noMetrics;
  const log = deps.log ?? silentLogger;
  const cooldownMs = deps.reuseCooldownMs ?? 0;
  const graceMs = deps.gcGraceMs ?? 10_000;
  const policy = deps.policy ?? createStandalonePolicy(deps.pools ?? []);
  // Rebuilt only when the policy hands out a new pool list.
  let poolList: readonly Pool[] | undefined;
  let poolMap = new Map<string, Pool>();
  const pools = {
    get(name: string): Pool | undefined {
      const current = policy.pools();
      if (current !== poolList) {
        poolList = current;
        poolMap = new Map(current.map((p) => [p.name, p]));
      }
      return poolMap.get(name);
    },
  };
  // IPs this process is reserving right now, per pool: concurrent ADDs skip them instead of racing each other.
  const inFlight = new Map<string, Set<bigint>>();
  const usageCacheMs = deps.usageCacheMs ?? 0;
  // Parsed usage per pool, kept current with this agent's own writes.
  const usageCache = new Map<string, { view: MutableUsage; loadedAt: number }>();

  async function usageOf(pool: Pool): Promise<{ usage: UsageView; fresh: boolean }> {
    // A store that keeps a parsed view current needs no copy: it is as fresh as the store's knowledge.
    if (store.usageView) return { usage: store.usageView(pool.name, pool.family), fresh: true };
    const cached = usageCache.get(pool.name);
    if (cached && now() - cached.loadedAt < usageCacheMs) return { usage: cached.view, fresh: false };
    const raw = await store.usage(pool.name);
    const parsed: UsageView = planUsage(pool.family, raw.allocated, raw.released);
    const view = { allocated: new Set(parsed.allocated), releasedAt: new Map(parsed.releasedAt), reusableAt: new Map(parsed.reusableAt) };
    if (usageCacheMs > 0) usageCache.set(pool.name, { view, loadedAt: now() });
    return { usage: view, fresh: true };
  }

  function noteUsage(poolName: string, ip: string, change: 'reserved' | 'released'): void {
    const cached = usageCache.get(poolName);
    const value = parseAddress(ip)?.value;
    if (!cached || value === undefined) return;
    if (change === 'reserved') {
      cached.view.allocated.add(value);
      cached.view.releasedAt.delete(value);
      cached.view.reusableAt.delete(value);
    } else {
      cached.view.allocated.delete(value);
      cached.view.releasedAt.set(value, now());
    }
  }
  // When each record's namespace was first seen gone; loaded from the journal at the first collection.
  const journal: ReclaimJournal = deps.journal ?? memoryJournal();
  let goneSince: ReadonlyMap<string, number> | undefined;
  // In a store that holds an address once, the pool whose ranges hold it counts it (see reconcile).
  const byRange = store.addressScope === 'store';

  // ADDs waiting for an IP of one of their pools to come free.
  const freeWaiters = new Set<{ readonly pools: ReadonlySet<string>; readonly wake: () => void }>();
  function noteFree(pool: string): void {
    for (const w of freeWaiters) if (w.pools.has(pool)) w.wake();
  }
  store.onFree?.(noteFree);
  const exhaustedWaitMs = deps.sleep ? (deps.exhaustedWaitMs ?? 0) : 0;
  let stopping = false;

  /**
   * The first candidate pool's free IP, waiting up to exhaustedWaitMs for one
   * to come free when all are full. Every try is an ordinary conditional
   * reserve, so waiting changes when an ADD succeeds, never what it may take.
   * `waitedMs` is undefined when the first try settled it; `stopped` says
   * the wait was cut short because the agent is stopping.
   */
  async function reserveAny(
    candidates: readonly Pool[],
    fields: Omit<AllocationRecord, 'pool' | 'ip'>,
  ): Promise<{ record: AllocationRecord | undefined; waitedMs: number | undefined; stopped?: boolean }> {
    const tryAll = async () => {
      for (const pool of candidates) {
        const record = await reserveFrom(pool, fields);
        if (record) return record;
      }
      return undefined;
    };
    const first = await tryAll();
    if (first || exhaustedWaitMs <= 0) return { record: first, waitedMs: undefined };
    const pools = new Set(candidates.map((p) => p.name));
    log.debug('pools full: waiting for an IP to come free', { pools: [...pools], waitMs: exhaustedWaitMs, containerId: fields.containerId });
    const started = now();
    const deadline = started + exhaustedWaitMs;
    for (;;) {
      // Listen before trying again, so a release between the try and the sleep is not missed.
      const woken = new AbortController();
      const waiter = { pools, wake: () => woken.abort() };
      freeWaiters.add(waiter);
      try {
        const record = await tryAll();
        const left = deadline - now();
        if (record || left <= 0) return { record, waitedMs: now() - started };
        if (stopping) return { record: undefined, waitedMs: now() - started, stopped: true };
        if (!woken.signal.aborted) await deps.sleep!(Math.min(left, EXHAUSTED_POLL_MS), woken.signal);
      } finally {
        freeWaiters.delete(waiter);
      }
    }
  }

  async function reserveFrom(pool: Pool, fields: Omit<AllocationRecord, 'pool' | 'ip'>): Promise<AllocationRecord | undefined> {
    let pending = inFlight.get(pool.name);
    if (!pending) inFlight.set(pool.name, (pending = new Set()));
    const lost = new Set<bigint>();
    for (let attempt = 0; attempt < MAX_RESERVE_ATTEMPTS; attempt++) {
      const { usage, fresh } = await usageOf(pool);
      const skip = pending.size === 0 ? lost : new Set([...lost, ...pending]);
      const next = planNextIp(pool, usage, { now: now(), cooldownMs, skip, segment: deps.segment?.(pool), random: deps.random?.() });
      if (!next) {
        // A pool is only declared full on a fresh read: another writer may have freed IPs.
        if (fresh) return undefined;
        usageCache.delete(pool.name);
        continue;
      }
      const record: AllocationRecord = { ...fields, pool: pool.name, ip: formatAddress(next) };
      pending.add(next.value);
      let won: boolean;
      try {
        won = await store.reserve(record);
      } finally {
        pending.delete(next.value);
      }
      if (won) {
        noteUsage(pool.name, record.ip, 'reserved');
        return record;
      }
      // Another writer took it between our read and our reserve: re-read, and try the next one.
      usageCache.delete(pool.name);
      lost.add(next.value);
    }
    throw new TidepoolError('STORE_BUSY', `pool "${pool.name}": lost the race for ${MAX_RESERVE_ATTEMPTS} IPs in a row`, { pool: pool.name });
  }

  /**
   * The answer for one interface: its IPs, and the routes of planRoutes.
   * Without a plan (CHECK), the interface's name decides whether it is the
   * default one, as the standalone policy decides it.
   */
  function toResponse(records: readonly AllocationRecord[], iface?: AllocationPlan['interfaces'][number], req?: AllocateRequest): AllocateResponse {
    const ips: AllocatedIP[] = [];
    const ipPools: Pool[] = [];
    for (const r of [...records].sort((a, b) => familyOf(a.ip) - familyOf(b.ip))) {
      const pool = pools.get(r.pool);
      const family = familyOf(r.ip);
      const prefix = pool?.subnet.prefix ?? (family === 4 ? 32 : 128);
      ips.push({ address: `${r.ip}/${prefix}`, family, gateway: pool?.gateway ? formatAddress(pool.gateway) : undefined, pool: r.pool });
      if (pool) ipPools.push(pool);
    }
    const routes: RouteSpec[] = planRoutes({
      pools: ipPools,
      podRoutes: iface?.routes ?? [],
      defaultInterface: iface?.defaultRoute ?? records[0]?.ifname === 'eth0',
      cleanGateway: iface?.cleanGateway ?? req?.cleanGateway,
    });
    return { ips, routes };
  }

  const detectionDefaults = deps.detection ?? DEFAULT_DETECTION;
  /** The detection in force for an IP of `pool`: the netconf's word, else the pool's, else the node's. */
  function detectionFor(pool: Pool, req: AllocateRequest): { conflict: boolean; gateway: boolean; timeoutMs: number } {
    return {
      conflict: req.ipConflictDetection ?? pool.detection.ipConflict ?? detectionDefaults.ipConflict,
      gateway: (req.gatewayDetection ?? pool.detection.gateway ?? detectionDefaults.gateway) && pool.gateway !== undefined,
      timeoutMs: req.detectionTimeoutMs ?? pool.detection.timeoutMs ?? detectionDefaults.timeoutMs,
    };
  }

  /**
   * Probes this ADD's interface's IPs from the pod's link before the answer
   * lets the main plugin configure them, one family at a time in parallel.
   * An IP another host answers for is held out of use (a hold record) and a
   * stateless pod gets the next free one, probed the same way, up to
   * `conflictAttempts` IPs; a fixed IP (StatefulSet, VM) fails the ADD. A
   * gateway that does not answer fails the ADD. Replaces entries of
   * `result` and appends to `taken`, so the caller's rollback covers them.
   */
  async function probeAll(
    req: AllocateRequest,
    plan: AllocationPlan,
    result: AllocationRecord[],
    taken: AllocationRecord[],
    owner: (ifname: string) => Omit<AllocationRecord, 'pool' | 'ip'>,
  ): Promise<void> {
    const prober = deps.prober!;
    const who = plan.podRef ? `pod ${plan.podRef}` : `container ${req.containerId}`;
    const settle = async (index: number): Promise<void> => {
      const tried: Array<{ ip: string; mac: string }> = [];
      for (;;) {
        const r = result[index]!;
        const pool = pools.get(r.pool);
        if (!pool) return;
        const family = familyOf(r.ip);
        const s = detectionFor(pool, req);
        // The source launcher pod of a live migration answers for the VM's IPs until the migration ends.
        const conflict = s.conflict && plan.migration === undefined;
        const gateway = s.gateway && pool.gateway ? formatAddress(pool.gateway) : undefined;
        if (!conflict && gateway === undefined) return;
        const started = performance.now();
        const outcome = await prober.probe({ netns: req.netns, ifname: r.ifname, family, ip: r.ip, conflict, gateway, timeoutMs: s.timeoutMs });
        const seconds = (performance.now() - started) / 1000;
        if (!outcome.ok) {
          metrics.probe(gateway ? 'gateway' : 'conflict', 'failed', seconds);
          if (gateway !== undefined) {
            throw new TidepoolError('PROBE_FAILED', `${who}: gateway detection for ${gateway} (pool "${pool.name}") on interface ${r.ifname} could not run: ${outcome.problem}`, {
              pool: pool.name,
              gateway,
              ifname: r.ifname,
            });
          }
          // Detection is on by default: a node or link where it cannot run must not stop every pod, so it is logged and skipped.
          log.warn('IP conflict detection skipped', { ip: r.ip, pool: pool.name, ifname: r.ifname, containerId: req.containerId, problem: outcome.problem });
          return;
        }
        if (conflict) metrics.probe('conflict', outcome.conflictMac ? 'conflict' : 'free', seconds);
        if (outcome.conflictMac) {
          const mac = outcome.conflictMac;
          tried.push({ ip: r.ip, mac });
          metrics.conflict(pool.name);
          const wasTaken = taken.indexOf(r);
          // An IP this pod held before (its StatefulSet ordinal's, its VM's) is its address; it cannot be swapped for another.
          if (plan.stableKey !== undefined && wasTaken < 0) {
            const message = `${who}: IP ${r.ip} (pool "${pool.name}") is already in use on the LAN by MAC ${mac}; the pod's IP is fixed (${plan.stableKey}), so it cannot take another: free ${r.ip} on the host with MAC ${mac}`;
            policy.conflictDetected?.(req, { pool: pool.name, ip: r.ip, mac, fixed: true, message });
            log.warn('IP conflict on a fixed IP', { ip: r.ip, pool: pool.name, mac, stableKey: plan.stableKey, containerId: req.containerId });
            throw new TidepoolError('IP_CONFLICT', message, { ip: r.ip, mac, pool: pool.name, ifname: r.ifname, fixed: true });
          }
          const until = now() + detectionDefaults.holdMs;
          const hold: AllocationRecord = {
            pool: r.pool,
            ip: r.ip,
            containerId: HOLD_CONTAINER_ID,
            ifname: r.ifname,
            netns: '',
            node,
            allocatedAt: now(),
            hold: { reason: 'ip-conflict', mac, until, detectedFor: plan.podRef ?? `container ${req.containerId}` },
          };
          if (await store.transfer(ownerOf(r), hold)) {
            if (wasTaken >= 0) taken.splice(wasTaken, 1);
          }
          const message = `${who}: IP ${r.ip} (pool "${pool.name}") is already in use on the LAN by MAC ${mac}; it is held out of use until ${new Date(until).toISOString()}`;
          policy.conflictDetected?.(req, { pool: pool.name, ip: r.ip, mac, fixed: false, heldUntil: until, message });
          log.warn('IP conflict: IP held out of use', { ip: r.ip, pool: pool.name, mac, until, containerId: req.containerId });
          const list = tried.map((t) => `${t.ip} (MAC ${t.mac})`).join(', ');
          if (tried.length >= detectionDefaults.conflictAttempts) {
            throw new TidepoolError('IP_CONFLICT', `${who}: every IP tried is already in use on the LAN: ${list}; they are held out of use`, {
              ips: tried.map((t) => t.ip),
              macs: tried.map((t) => t.mac),
              pool: pool.name,
              ifname: r.ifname,
              fixed: false,
            });
          }
          const candidates = plan.interfaces.find((i) => i.ifname === r.ifname)?.families.find((f) => f.family === family)?.pools ?? [pool];
          const { record } = await reserveAny(candidates, owner(r.ifname));
          if (!record) {
            throw new TidepoolError('IP_CONFLICT', `${who}: ${list} already in use on the LAN, and no other IPv${family} address is free in pool${candidates.length > 1 ? 's' : ''} ${candidates.map((p) => `"${p.name}"`).join(', ')}`, {
              ips: tried.map((t) => t.ip),
              macs: tried.map((t) => t.mac),
              pool: pool.name,
              ifname: r.ifname,
              fixed: false,
            });
          }
          taken.push(record);
          result[index] = record;
          continue;
        }
        if (gateway !== undefined) {
          metrics.probe('gateway', outcome.gatewayReachable ? 'reachable' : 'unreachable', seconds);
          if (!outcome.gatewayReachable) {
            throw new TidepoolError(
              'GATEWAY_UNREACHABLE',
              `${who}: gateway ${gateway} of pool "${pool.name}" did not answer on interface ${r.ifname} (${GATEWAY_TRIES} tries of ${s.timeoutMs} ms); no IP was allocated`,
              { pool: pool.name, gateway, ifname: r.ifname, timeoutMs: s.timeoutMs },
            );
          }
        }
        return;
      }
    };
    const indexes = result.flatMap((r, i) => (r.ifname === req.ifname ? [i] : []));
    // Every family settles before a failure is reported, so no probe still runs (or reserves) after the rollback.
    const outcomes = await Promise.allSettled(indexes.map(settle));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async function withoutRetained(records: readonly AllocationRecord[]): Promise<AllocationRecord[]> {
    if (records.length === 0 || !policy.retain) return [...records];
    const keep = await policy.retain(records);
    return records.filter((r) => !keep.has(r));
  }

  async function releaseRecords(records: readonly AllocationRecord[], reason: ReleaseReason): Promise<ReleasedIP[]> {
    const released: ReleasedIP[] = [];
    let notHeld = 0;
    for (const r of records) {
      // A collection abandoned here is safe: each release is conditional on the owner the store holds, and what is left
      // stays allocated until the next agent's collection (it only restarts the grace period).
      if (stopping && reason === 'netns-gc') break;
      const ok = await store.release(r.pool, r.ip, { containerId: r.containerId, ifname: r.ifname, podUid: r.podUid }, now());
      if (ok) {
        noteUsage(r.pool, r.ip, 'released');
        noteFree(r.pool);
        released.push({ pool: r.pool, ip: r.ip, containerId: r.containerId, ifname: r.ifname, reason });
      }
      else notHeld++;
    }
    metrics.release(reason, 'released', released.length);
    metrics.release(reason, 'not-held', notHeld);
    if (released.length > 0) log.info('released', { reason, ips: released.map((r) => `${r.pool}/${r.ip}`), containerId: records[0]?.containerId });
    return released;
  }

  async function poolStatuses(filter?: StatusRequest): Promise<PoolStatus[]> {
    // Named pools are checked like an ADD would check them, so STATUS never says "ready" for a config ADD would refuse.
    const selected = policy.statusPools(filter);
    const out: PoolStatus[] = [];
    for (const pool of selected) {
      const { usage } = await usageOf(pool);
      out.push({
        name: pool.name,
        family: pool.family,
        subnet: formatCidr(pool.subnet),
        total: pool.total.toString(),
        allocated: planAllocatedCount(pool, usage),
        free: planFreeCount(pool, usage).toString(),
        disabled: pool.disabled,
        default: pool.isDefault,
      });
    }
    return out;
  }

  return {
    async allocate(req) {
      const started = performance.now();
      const observe = (result: Parameters<AgentMetrics['allocation']>[0]) => metrics.allocation(result, (performance.now() - started) / 1000);
      try {
        const netnsId = req.netns ? netnsIdentity(req.netns, deps.probeNetns(req.netns)) : undefined;
        const plan = await policy.plan(req);
        const owner = (ifname: string): Omit<AllocationRecord, 'pool' | 'ip'> => ({
          containerId: req.containerId,
          ifname,
          netns: req.netns,
          netnsId,
          node,
          network: req.network,
          podNamespace: req.pod?.namespace,
          podName: req.pod?.name,
          podUid: plan.podUid ?? req.pod?.uid,
          stableKey: plan.stableKey,
          allocatedAt: now(),
        });
        // What this attachment (or, in a cluster, this pod under any sandbox) already holds, and what its stable identity holds.
        const mine = plan.podUid ? await store.list({ podUid: plan.podUid }) : await store.list({ containerId: req.containerId, ifname: req.ifname });
        let stable = plan.stableKey ? await store.list({ stableKey: plan.stableKey }) : [];
        if (plan.stableKey && store.listStable) {
          const covered = (ifname: string, family: number) => [...mine, ...stable].some((r) => r.ifname === ifname && familyOf(r.ip) === family);
          // A cache that lags may not show what an earlier incarnation got moments ago on another node: ask the API server.
          if (plan.interfaces.some((i) => i.families.some((f) => !covered(i.ifname, f.family)))) stable = await store.listStable(plan.stableKey);
        }
        const taken: AllocationRecord[] = [];
        const result: AllocationRecord[] = [];
        let moved = 0;
        try {
          for (const iface of plan.interfaces) {
            for (const { family, pools: candidates } of iface.families) {
              const fits = (r: AllocationRecord) => r.ifname === iface.ifname && familyOf(r.ip) === family;
              const own = mine.find(fits);
              const held = own ?? stable.find((r) => fits(r) && candidates.some((p) => p.name === r.pool));
              if (held) {
                const fields = owner(iface.ifname);
                if (held.containerId === fields.containerId && held.podUid === fields.podUid && held.node === fields.node) {
                  result.push(held);
                  continue;
                }
                // A new sandbox of the same pod, or a new pod of the same StatefulSet ordinal: the IP moves with it.
                const next: AllocationRecord = { ...fields, pool: held.pool, ip: held.ip };
                // The stable identity's IP moves from whichever earlier incarnation holds it now, even if this view of the holder lags.
                const from = own ? ownerOf(held) : { ...ownerOf(held), stableKey: plan.stableKey };
                if (await store.transfer(from, next)) {
                  moved++;
                  result.push(next);
                  continue;
                }
              }
              const { record, waitedMs, stopped } = await reserveAny(candidates, owner(iface.ifname));
              if (waitedMs !== undefined && !stopped) metrics.exhaustedWait(record ? 'allocated' : 'exhausted', waitedMs / 1000);
              if (!record) {
                const names = candidates.map((p) => p.name);
                if (stopped) {
                  // Waiting on would hold the answer past the agent's exit and the plugin would see a broken connection; the next agent waits again.
                  throw new TidepoolError(
                    'AGENT_STOPPING',
                    `the tidepool agent is stopping: no free IPv${family} address in pool${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')} and it cannot wait for one to come free; try again`,
                    { pools: names, family, ifname: iface.ifname },
                  );
                }
                const waited = waitedMs !== undefined ? ` (waited ${(waitedMs / 1000).toFixed(1)} s for one to come free)` : '';
                throw new TidepoolError('POOL_EXHAUSTED', `no free IPv${family} address in pool${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}${waited}`, {
                  pools: names,
                  family,
                  ifname: iface.ifname,
                });
              }
              if (waitedMs !== undefined) log.info('allocated after waiting for a free IP', { pool: record.pool, ip: record.ip, waitedMs: Math.round(waitedMs), containerId: req.containerId });
              taken.push(record);
              result.push(record);
            }
          }
          if (deps.prober && req.netns) await probeAll(req, plan, result, taken, owner);
        } catch (err) {
          // All or nothing: give back what this call took before failing.
          if (taken.length > 0) await releaseRecords(taken, 'rollback');
          throw err;
        }
        observe(taken.length > 0 ? 'allocated' : 'existing');
        if (taken.length + moved > 0) {
          log.info('allocated', { containerId: req.containerId, ifname: req.ifname, pod: req.pod, ips: result.map((r) => `${r.pool}/${r.ip}`), new: taken.length, moved });
        }
        return toResponse(
          result.filter((r) => r.ifname === req.ifname),
          plan.interfaces.find((i) => i.ifname === req.ifname),
          req,
        );
      } catch (err) {
        const e = toTidepoolError(err);
        observe(e.code === 'POOL_EXHAUSTED' ? 'exhausted' : 'error');
        policy.allocationFailed?.(req, e);
        throw e;
      }
    },

    async release(ref, reason = 'del') {
      const held = await store.list({ containerId: ref.containerId, ifname: ref.ifname });
      return { released: await releaseRecords(await withoutRetained(held), reason) };
    },

    async check(ref) {
      const held = await store.list({ containerId: ref.containerId, ifname: ref.ifname });
      if (held.length === 0) {
        throw new TidepoolError('UNKNOWN_CONTAINER', `no allocation for container ${ref.containerId} interface ${ref.ifname}`, { ...ref });
      }
      return toResponse(held);
    },

    async gc(req) {
      const keep = new Set(req.validAttachments.map((a) => `${a.containerId}\u0000${a.ifname}`));
      const mine = await store.list({ node });
      // A hold is no runtime's attachment: only its end frees it.
      const stale = mine.filter((r) => r.hold === undefined && (r.network ?? '') === req.network && !keep.has(`${r.containerId}\u0000${r.ifname}`));
      return { released: await releaseRecords(await withoutRetained(stale), 'cni-gc') };
    },

    async status(req) {
      const pools = await poolStatuses(req);
      if (!byRange || req?.ipv4Pools?.length || req?.ipv6Pools?.length) return { ready: true, pools };
      return { ready: true, pools, orphaned: planOrphanGroups(planPoolClaims(policy.pools(), await store.list()).orphaned) };
    },

    async allocations() {
      const all = await store.list();
      // Numeric order within a pool: 10.0.0.9 before 10.0.0.10.
      all.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : compareAddressText(a.ip, b.ip)));
      const orphans = byRange ? new Map(planPoolClaims(policy.pools(), all).orphaned.map((o) => [o.ip, o.reason])) : new Map();
      return all.map((r) => ({
        pool: r.pool,
        ip: r.ip,
        containerId: r.containerId,
        ifname: r.ifname,
        netns: r.netns,
        allocatedAt: r.allocatedAt,
        pod: r.podNamespace && r.podName ? { namespace: r.podNamespace, name: r.podName, uid: r.podUid } : undefined,
        orphaned: orphans.get(r.ip),
        hold: r.hold ? { reason: r.hold.reason, mac: r.hold.mac, until: r.hold.until, detectedFor: r.hold.detectedFor } : undefined,
      }));
    },

    async reconcile() {
      if (!byRange || !store.adopt) return { moved: 0, orphaned: 0 };
      const plan = planPoolClaims(policy.pools(), await store.list());
      let moved = 0;
      if (plan.moves.length > 0) {
        moved = await store.adopt(plan.moves);
        // The pools on both sides of a move now plan from a stale view.
        for (const m of plan.moves) {
          usageCache.delete(m.pool);
          usageCache.delete(m.to);
        }
        log.info('held IPs re-filed under the pool whose range holds them now', { moved, ips: plan.moves.map((m) => `${m.pool}/${m.ip} -> ${m.to}`) });
      }
      return { moved, orphaned: plan.orphaned.length };
    },

    async releaseIp(ip, force) {
      const parsed = parseAddress(ip);
      if (!parsed) throw new TidepoolError('INVALID_REQUEST', `ip: "${ip}" is not an IP address`, { field: 'ip' });
      const canonical = formatAddress(parsed);
      const held = (await store.list()).filter((r) => r.ip === canonical);
      if (held.length === 0) throw new TidepoolError('NOT_FOUND', `${canonical} is not allocated`, { ip: canonical });
      if (!force) {
        for (const r of held) {
          const seen = r.netns ? deps.probeNetns(r.netns) : { exists: false };
          if (seen.exists && (r.netnsId === undefined || seen.id === r.netnsId)) {
            throw new TidepoolError('NETNS_IN_USE', `${canonical} is held by container ${r.containerId} whose network namespace ${r.netns} still exists; use --force to release it anyway`, {
              ip: canonical,
              netns: r.netns,
            });
          }
        }
      }
      return { released: await releaseRecords(held, 'manual') };
    },

    shutdown() {
      stopping = true;
      for (const w of freeWaiters) w.wake();
    },

    async collect(graceOverride, dryRun = false) {
      const started = performance.now();
      goneSince ??= await journal.load();
      const records = await store.list({ node });
      const byKey = new Map(records.map((r) => [recordKey(r), r]));
      const observations = new Map<string, NetnsObservation>();
      for (const r of records) if (r.netns && !observations.has(r.netns)) observations.set(r.netns, deps.probeNetns(r.netns));
      const plan = planNetnsGc({
        records: records.map((r) => ({ key: recordKey(r), netns: r.netns, netnsId: r.netnsId })),
        observations,
        goneSince,
        now: now(),
        graceMs: graceOverride ?? graceMs,
      });
      const reclaim = plan.reclaim.map((k) => byKey.get(k)).filter((r): r is AllocationRecord => r !== undefined);
      const waitingFor = plan.waiting.flatMap((w) => {
        const r = byKey.get(w.key);
        return r ? [{ pool: r.pool, ip: r.ip, containerId: r.containerId, goneSinceMs: w.goneSince }] : [];
      });
      // Holds whose time is up; they have no namespace, so the netns plan never names them.
      const expired = records.filter((r) => r.hold !== undefined && r.hold.until <= now());
      if (dryRun) {
        const would = (await withoutRetained(reclaim)).map((r) => ({ pool: r.pool, ip: r.ip, containerId: r.containerId, ifname: r.ifname, reason: 'netns-gc' }));
        return { released: [...would, ...expired.map((r) => ({ pool: r.pool, ip: r.ip, containerId: r.containerId, ifname: r.ifname, reason: 'hold-expired' }))], waiting: waitingFor };
      }
      const freedHolds = await releaseRecords(expired, 'hold-expired');
      const goneSinceBefore = goneSince;
      // Written before releasing: a crash in between must not lose a sighting.
      if (!sameEntries(goneSince, plan.goneSince)) await journal.save(plan.goneSince);
      goneSince = plan.goneSince;
      const released = await releaseRecords(await withoutRetained(reclaim), 'netns-gc');
      metrics.gcRun(describeGcRun(records.length, released, plan, goneSinceBefore, graceOverride ?? graceMs, now(), performance.now() - started));
      return { released: [...freedHolds, ...released], waiting: waitingFor };
    },
  };
}

/**
 * The identity to record for an ADD's namespace, refusing a path that is not
 * one: an IP given to a plain file (CNI_NETNS=/etc/passwd) would never be
 * reclaimed, since the file never goes away. A path that could not be read
 * (EACCES, ...) is accepted, as the garbage collector accepts it as present.
 */
function netnsIdentity(path: string, seen: NetnsObservation): string | undefined {
  if (!seen.exists) throw new TidepoolError('INVALID_REQUEST', `netns: ${path} does not exist`, { field: 'netns', netns: path });
  if (seen.isNamespace === false) throw new TidepoolError('INVALID_REQUEST', `netns: ${path} is not a network namespace`, { field: 'netns', netns: path });
  return seen.id;
}

function ownerOf(r: AllocationRecord): OwnerRef {
  return { containerId: r.containerId, ifname: r.ifname, podUid: r.podUid };
}

/** The collector's key for a record: the attachment and its IP, not the pool, which a pools-file edit may change. */
/**
 * A collection for the metrics: each reclaim's latency counts from the end of
 * its grace period (the wait is deliberate, as the controller's delays are).
 */
function describeGcRun(scanned: number, released: readonly ReleasedIP[], plan: NetnsGcPlan, goneSince: ReadonlyMap<string, number>, graceMs: number, at: number, elapsedMs: number): NetnsGcRun {
  const reclaimLatencies = released.map((r) => {
    const since = goneSince.get(recordKey(r));
    return since === undefined ? 0 : Math.max(0, at - since - graceMs) / 1000;
  });
  const oldest = plan.waiting.reduce((min, w) => Math.min(min, w.goneSince), Infinity);
  return { reclaimLatencies, waiting: plan.waiting.length, scanned, seconds: elapsedMs / 1000, nextDueAt: oldest === Infinity ? undefined : oldest + graceMs };
}

function recordKey(r: Pick<AllocationRecord, 'ip' | 'containerId' | 'ifname'>): string {
  return `${r.ip}\u0000${r.containerId}\u0000${r.ifname}`;
}

function sameEntries(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function memoryJournal(): ReclaimJournal {
  let kept: ReadonlyMap<string, number> = new Map();
  return {
    load: async () => kept,
    save: async (entries) => {
      kept = entries;
    },
  };
}

function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}
