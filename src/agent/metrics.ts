import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { StatusResponse } from '../api/protocol.ts';
import { registerGcFamilies } from '../util/gc-metrics.ts';
import { registerPoolGauges } from '../util/pool-metrics.ts';

/** Label values for allocation outcomes. */
export type AllocationResult = 'allocated' | 'existing' | 'exhausted' | 'error';
const ALLOCATION_RESULTS: readonly AllocationResult[] = ['allocated', 'existing', 'exhausted', 'error'];
/** Why an IP was released. */
export type ReleaseReason = 'del' | 'cni-gc' | 'netns-gc' | 'manual' | 'rollback' | 'hold-expired';
const RELEASE_REASONS: readonly ReleaseReason[] = ['del', 'cni-gc', 'netns-gc', 'manual', 'rollback', 'hold-expired'];
/** The namespace collector's one reason: the namespace is gone, or another took its path. */
const NETNS_REASON = 'netns-gone';
/** What a probe from the pod's link found. */
export type ProbeResult = 'free' | 'conflict' | 'reachable' | 'unreachable' | 'failed';

/** One run of the namespace collector. */
export interface NetnsGcRun {
  /** For each IP reclaimed, seconds from the end of its grace period to its release. */
  readonly reclaimLatencies: readonly number[];
  /** Allocations whose namespace is gone, still inside their grace period. */
  readonly waiting: number;
  /** Allocations of this node examined. */
  readonly scanned: number;
  readonly seconds: number;
  /** When the oldest waiting allocation's grace ends (ms), if any waits. */
  readonly nextDueAt: number | undefined;
}

/**
 * What the agent reports. The service depends on this interface, not on
 * prom-client, so tests can pass `noMetrics` or a recording fake.
 */
export interface AgentMetrics {
  allocation(result: AllocationResult, seconds: number): void;
  release(reason: ReleaseReason, result: 'released' | 'not-held', count: number): void;
  request(route: string, status: number, seconds: number): void;
  gcRun(run: NetnsGcRun): void;
  /** An ADD found its pools full and waited `seconds` for an IP to come free: it got one, or it failed. */
  exhaustedWait(outcome: 'allocated' | 'exhausted', seconds: number): void;
  /** A reload of the standalone pools file, by outcome. */
  poolsReload(result: 'applied' | 'refused' | 'unchanged'): void;
  /** One probe from a pod's link (`conflict`: the address; `gateway`: the pool's gateway, after the address when both). */
  probe(check: 'conflict' | 'gateway', result: ProbeResult, seconds: number): void;
  /** Another host answered for an IP of `pool`. */
  conflict(pool: string): void;
}

export const noMetrics: AgentMetrics = { allocation() {}, release() {}, request() {}, gcRun() {}, exhaustedWait() {}, poolsReload() {}, probe() {}, conflict() {} };

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** What a standalone agent alone knows, read at scrape time so the gauges never drift from the store. */
export interface StandaloneSources {
  readonly status: () => Promise<StatusResponse>;
  readonly held: () => Promise<ReadonlyArray<{ readonly pool: string; readonly reason: string }>>;
}

/**
 * Registers the agent's metrics on `registry`. Pool, held, orphan and pools
 * file gauges only with `standalone`: in Kubernetes mode every agent sees the
 * same cluster-wide pools, so the controller's leader exports them, once.
 */
export function createAgentMetrics(registry: Registry, opts: { readonly standalone?: StandaloneSources; readonly now?: () => number } = {}): AgentMetrics {
  const now = opts.now ?? Date.now;
  const allocations = new Counter({ name: 'tidepool_allocations_total', help: 'CNI ADD allocations by result.', labelNames: ['result'], registers: [registry] });
  const allocLatency = new Histogram({ name: 'tidepool_allocation_duration_seconds', help: 'Time to serve an allocation inside the agent.', labelNames: ['result'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const releases = new Counter({ name: 'tidepool_releases_total', help: 'IPs released, by reason and result.', labelNames: ['reason', 'result'], registers: [registry] });
  const requests = new Histogram({
    name: 'tidepool_agent_request_duration_seconds',
    help: "Agent API requests on the agent's socket, from request to response, by route and HTTP status code.",
    labelNames: ['route', 'code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  let nextDueAt: number | undefined;
  const gc = registerGcFamilies(registry, 'netns', [NETNS_REASON], now, () => nextDueAt);
  const exhaustedWaits = new Histogram({
    name: 'tidepool_exhausted_wait_seconds',
    help: 'ADDs that found their pools full and waited for an IP to come free, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [registry],
  });
  const probes = new Histogram({
    name: 'tidepool_ip_probe_duration_seconds',
    help: "Probes from a pod's link before its ADD is answered, by check (conflict, gateway) and result (free, conflict, reachable, unreachable, failed).",
    labelNames: ['check', 'result'],
    buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const conflicts = new Counter({ name: 'tidepool_ip_conflicts_total', help: 'IPs another host on the LAN answered for when they were probed, by pool.', labelNames: ['pool'], registers: [registry] });
  const reloads = opts.standalone ? registerStandaloneGauges(registry, opts.standalone) : undefined;
  // Known label values start at zero, so the first event of a kind is an increase that rate() sees.
  for (const result of ALLOCATION_RESULTS) {
    allocations.inc({ result }, 0);
    allocLatency.zero({ result });
  }
  for (const reason of RELEASE_REASONS) for (const result of ['released', 'not-held']) releases.inc({ reason, result }, 0);
  for (const outcome of ['allocated', 'exhausted']) exhaustedWaits.zero({ outcome });
  for (const result of ['applied', 'refused', 'unchanged']) reloads?.inc({ result }, 0);
  return {
    probe(check, result, seconds) {
      probes.observe({ check, result }, seconds);
    },
    conflict(pool) {
      conflicts.inc({ pool });
    },
    poolsReload(result) {
      reloads?.inc({ result });
    },
    allocation(result, seconds) {
      allocations.inc({ result });
      allocLatency.observe({ result }, seconds);
    },
    release(reason, result, count) {
      if (count > 0) releases.inc({ reason, result }, count);
    },
    request(route, status, seconds) {
      requests.observe({ route, code: String(status) }, seconds);
    },
    exhaustedWait(outcome, seconds) {
      exhaustedWaits.observe({ outcome }, seconds);
    },
    gcRun(run) {
      for (const seconds of run.reclaimLatencies) gc.reclaimed(NETNS_REASON, seconds);
      gc.candidates(run.waiting);
      gc.scanned(run.scanned, run.seconds);
      nextDueAt = run.nextDueAt;
    },
  };
}

/** The pools file's gauges of a standalone agent, and its pool gauges; returns the reload counter. */
function registerStandaloneGauges(registry: Registry, sources: StandaloneSources): Counter<'result'> {
  const { status, held } = sources;
  registerPoolGauges(registry, async () => ({
    pools: (await status()).pools.map((p) => ({ name: p.name, capacity: Number(p.total), allocated: p.allocated })),
    held: await held(),
  }));
  new Gauge({
    name: 'tidepool_orphaned_ips',
    help: 'Standalone: held IPs that no pool of the pools file holds, by the pool they were handed out from and why (pool-removed, outside-pool). They stay held until DEL or the collector frees them.',
    labelNames: ['pool', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const o of (await status()).orphaned ?? []) this.set({ pool: o.pool, reason: o.reason }, o.ips.length);
    },
  });
  new Gauge({
    name: 'tidepool_pools_file_refused',
    help: 'Standalone: 1 while the pools file holds an edit the agent refused (it serves the pools applied before), else 0.',
    registers: [registry],
    async collect() {
      this.set((await status()).poolsFile?.refused ? 1 : 0);
    },
  });
  return new Counter({ name: 'tidepool_pools_file_reloads_total', help: 'Standalone: pools file reloads by result (applied, refused, unchanged).', labelNames: ['result'], registers: [registry] });
}
