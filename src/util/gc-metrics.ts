import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Which collector reclaimed an IP: `netns`, the agent's collector of IPs
 * whose network namespace is gone (both modes); `controller`, the
 * Kubernetes garbage collector on the controller's leader.
 */
export type Collector = 'netns' | 'controller';

/**
 * The garbage collectors' metric families, defined once so the agent and
 * the controller export reclaims under the same names and labels:
 * `sum by (reason) (rate(tidepool_gc_reclaims_total[5m]))` covers both.
 * Every family carries `collector`; the handles returned bind it.
 */
export interface GcFamilies {
  reclaimed(reason: string, latencySeconds: number): void;
  failed(reason: string): void;
  candidates(count: number): void;
  scanned(allocations: number, seconds: number): void;
}

/** Latency after an IP became reclaimable: milliseconds for watch events, minutes for scan-only findings. */
const RECLAIM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900];
const SCAN_BUCKETS = [0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/**
 * Registers the families for `collector`; `oldestPending` is read at scrape
 * time: the moment (ms) the oldest IP found reclaimable but not yet released
 * became reclaimable, or undefined when none waits. Every one of `reasons`
 * starts at zero, so the first reclaim of a kind is an increase that rate()
 * sees, not the first sample of a new series.
 */
export function registerGcFamilies(registry: Registry, collector: Collector, reasons: readonly string[], now: () => number, oldestPending: () => number | undefined): GcFamilies {
  const labelNames = ['collector', 'reason'] as const;
  const reclaims = new Counter({ name: 'tidepool_gc_reclaims_total', help: 'IPs reclaimed by a garbage collector (collector: netns or controller), by reason.', labelNames, registers: [registry] });
  const failures = new Counter({ name: 'tidepool_gc_reclaim_failures_total', help: 'Reclaims that failed (API errors) and will be retried, by collector and reason.', labelNames, registers: [registry] });
  const latency = new Histogram({
    name: 'tidepool_gc_reclaim_latency_seconds',
    help: 'From the moment an IP became reclaimable (its grace or delay over) to its release, by collector and reason.',
    labelNames,
    buckets: RECLAIM_BUCKETS,
    registers: [registry],
  });
  const candidates = new Gauge({ name: 'tidepool_gc_candidates', help: 'Allocations a collector is watching: queued, or waiting out their grace or delay.', labelNames: ['collector'], registers: [registry] });
  const scans = new Counter({ name: 'tidepool_gc_scans_total', help: 'Full scans of the allocations by a collector.', labelNames: ['collector'], registers: [registry] });
  const scanDuration = new Histogram({ name: 'tidepool_gc_scan_duration_seconds', help: 'Duration of one full scan by a collector.', labelNames: ['collector'], buckets: SCAN_BUCKETS, registers: [registry] });
  const scanned = new Gauge({ name: 'tidepool_gc_scanned_allocations', help: "Allocations a collector's last full scan examined.", labelNames: ['collector'], registers: [registry] });
  new Gauge({
    name: 'tidepool_gc_oldest_pending_reclaim_seconds',
    help: 'How long the oldest IP a collector found reclaimable has waited for its release; 0 when none waits.',
    labelNames: ['collector'],
    registers: [registry],
    collect() {
      const since = oldestPending();
      this.set({ collector }, since === undefined ? 0 : Math.max(0, now() - since) / 1000);
    },
  });
  candidates.set({ collector }, 0);
  scans.inc({ collector }, 0);
  for (const reason of reasons) {
    reclaims.inc({ collector, reason }, 0);
    failures.inc({ collector, reason }, 0);
    latency.zero({ collector, reason });
  }
  return {
    reclaimed(reason, latencySeconds) {
      reclaims.inc({ collector, reason });
      latency.observe({ collector, reason }, latencySeconds);
    },
    failed: (reason) => failures.inc({ collector, reason }),
    candidates: (count) => candidates.set({ collector }, count),
    scanned(allocations, seconds) {
      scans.inc({ collector });
      scanned.set({ collector }, allocations);
      scanDuration.observe({ collector }, seconds);
    },
  };
}
