import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { StatusResponse } from '../api/protocol.ts';

/** Label values for allocation outcomes. */
export type AllocationResult = 'allocated' | 'existing' | 'exhausted' | 'error';
/** Why an IP was released. */
export type ReleaseReason = 'del' | 'cni-gc' | 'netns-gc' | 'manual' | 'rollback' | 'hold-expired';
/** What a probe from the pod's link found. */
export type ProbeResult = 'free' | 'conflict' | 'reachable' | 'unreachable' | 'failed';

/**
 * What the agent reports. The service depends on this interface, not on
 * prom-client, so tests can pass `noMetrics` or a recording fake.
 */
export interface AgentMetrics {
  allocation(result: AllocationResult, seconds: number): void;
  release(reason: ReleaseReason, result: 'released' | 'not-held', count: number): void;
  request(route: string, status: number, seconds: number): void;
  gcRun(reclaimed: number, waiting: number, seconds: number): void;
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

/**
 * Registers tidepool's agent metrics on `registry`. Pool, orphan and pools
 * file gauges are computed at scrape time from `status`, so they can never
 * drift from the store.
 */
export function createAgentMetrics(
  registry: Registry,
  status: () => Promise<StatusResponse>,
  held: () => Promise<ReadonlyArray<{ readonly pool: string; readonly reason: string }>> = async () => [],
): AgentMetrics {
  const allocations = new Counter({ name: 'tidepool_allocations_total', help: 'CNI ADD allocations by result.', labelNames: ['result'], registers: [registry] });
  const allocLatency = new Histogram({ name: 'tidepool_allocation_duration_seconds', help: 'Time to serve an allocation inside the agent.', labelNames: ['result'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const releases = new Counter({ name: 'tidepool_releases_total', help: 'IPs released, by reason and result.', labelNames: ['reason', 'result'], registers: [registry] });
  const requests = new Histogram({ name: 'tidepool_request_duration_seconds', help: 'Agent API request latency, socket request to response.', labelNames: ['route', 'status'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const gcRuns = new Counter({ name: 'tidepool_gc_runs_total', help: 'Standalone netns garbage collection runs.', registers: [registry] });
  const gcReclaimed = new Counter({ name: 'tidepool_gc_reclaimed_total', help: 'IPs reclaimed because their network namespace was gone.', registers: [registry] });
  const gcWaiting = new Gauge({ name: 'tidepool_gc_candidates', help: 'Allocations whose namespace is gone, waiting out the grace period.', registers: [registry] });
  const exhaustedWaits = new Histogram({
    name: 'tidepool_exhausted_wait_seconds',
    help: 'ADDs that found their pools full and waited for an IP to come free, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [registry],
  });
  const gcDuration = new Histogram({ name: 'tidepool_gc_duration_seconds', help: 'Duration of one netns garbage collection run.', buckets: LATENCY_BUCKETS, registers: [registry] });
  new Gauge({
    name: 'tidepool_pool_ips',
    help: 'IPs per pool by state (total, allocated, free).',
    labelNames: ['pool', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of (await status()).pools) {
        // Gauges are doubles: an IPv6 pool's total is approximate above 2^53, which is fine for a gauge.
        this.set({ pool: p.name, state: 'total' }, Number(p.total));
        this.set({ pool: p.name, state: 'allocated' }, p.allocated);
        this.set({ pool: p.name, state: 'free' }, Number(p.free));
      }
    },
  });
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
  new Gauge({
    name: 'tidepool_held_ips',
    help: 'IPs held out of use rather than by a pod, by pool and reason (ip-conflict: another host answered for the IP); each is freed when its hold ends.',
    labelNames: ['pool', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = new Map<string, { pool: string; reason: string; n: number }>();
      for (const h of await held()) {
        const key = `${h.pool}\u0000${h.reason}`;
        const c = counts.get(key) ?? { pool: h.pool, reason: h.reason, n: 0 };
        c.n++;
        counts.set(key, c);
      }
      for (const c of counts.values()) this.set({ pool: c.pool, reason: c.reason }, c.n);
    },
  });
  const probes = new Histogram({
    name: 'tidepool_ip_probe_duration_seconds',
    help: "Probes from a pod's link before its ADD is answered, by check (conflict, gateway) and result (free, conflict, reachable, unreachable, failed).",
    labelNames: ['check', 'result'],
    buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const conflicts = new Counter({ name: 'tidepool_ip_conflicts_total', help: 'IPs another host on the LAN answered for when they were probed, by pool.', labelNames: ['pool'], registers: [registry] });
  const reloads = new Counter({ name: 'tidepool_pools_file_reloads_total', help: 'Standalone: pools file reloads by result (applied, refused, unchanged).', labelNames: ['result'], registers: [registry] });
  return {
    probe(check, result, seconds) {
      probes.observe({ check, result }, seconds);
    },
    conflict(pool) {
      conflicts.inc({ pool });
    },
    poolsReload(result) {
      reloads.inc({ result });
    },
    allocation(result, seconds) {
      allocations.inc({ result });
      allocLatency.observe({ result }, seconds);
    },
    release(reason, result, count) {
      if (count > 0) releases.inc({ reason, result }, count);
    },
    request(route, status, seconds) {
      requests.observe({ route, status: String(status) }, seconds);
    },
    exhaustedWait(outcome, seconds) {
      exhaustedWaits.observe({ outcome }, seconds);
    },
    gcRun(reclaimed, waiting, seconds) {
      gcRuns.inc();
      gcReclaimed.inc(reclaimed);
      gcWaiting.set(waiting);
      gcDuration.observe(seconds);
    },
  };
}
