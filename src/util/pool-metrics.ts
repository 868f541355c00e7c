import { Gauge, type Registry } from 'prom-client';

/** What the pool gauges show, read at scrape time so they never drift from the store. */
export interface PoolUsage {
  readonly pools: ReadonlyArray<{ readonly name: string; readonly capacity: number; readonly allocated: number }>;
  /** One entry per IP held out of use rather than by a pod. */
  readonly held: ReadonlyArray<{ readonly pool: string; readonly reason: string }>;
}

/**
 * Registers `tidepool_pool_capacity_ips`, `tidepool_pool_allocated_ips` and
 * `tidepool_held_ips`. Capacity and use are separate families, so sum() over
 * either means something (the naming guide's rule). Exported once per pool:
 * by a standalone agent for its pools file, by the controller's leader for
 * the cluster (`read` gives nothing on a standby).
 */
export function registerPoolGauges(registry: Registry, read: () => Promise<PoolUsage>): void {
  // One read per scrape, shared by the three gauges (prom-client collects them one after the other).
  let pending: Promise<PoolUsage> | undefined;
  const usage = () => {
    pending ??= read().finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
  new Gauge({
    name: 'tidepool_pool_capacity_ips',
    help: 'IPs a pool can hand out: its ranges less its excluded IPs.',
    labelNames: ['pool'],
    registers: [registry],
    async collect() {
      this.reset();
      // Gauges are doubles: an IPv6 pool's capacity is approximate above 2^53, which is fine for a gauge.
      for (const p of (await usage()).pools) this.set({ pool: p.name }, p.capacity);
    },
  });
  new Gauge({
    name: 'tidepool_pool_allocated_ips',
    help: 'IPs of a pool held now, by pods or held out of use.',
    labelNames: ['pool'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const p of (await usage()).pools) this.set({ pool: p.name }, p.allocated);
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
      for (const h of (await usage()).held) {
        const key = `${h.pool}\u0000${h.reason}`;
        const c = counts.get(key) ?? { pool: h.pool, reason: h.reason, n: 0 };
        c.n++;
        counts.set(key, c);
      }
      for (const c of counts.values()) this.set({ pool: c.pool, reason: c.reason }, c.n);
    },
  });
}
