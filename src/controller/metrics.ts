import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GcMetrics } from './gc.ts';

/**
 * What the controller reports. Reconcilers depend on this interface, not on
 * prom-client, so tests can pass `noControllerMetrics` or a recording fake.
 */
export interface ControllerMetrics {
  leader(isLeader: boolean): void;
  webhookRequest(resource: string, operation: string, allowed: boolean): void;
  poolStatusUpdate(): void;
}

export const noControllerMetrics: ControllerMetrics = { leader() {}, webhookRequest() {}, poolStatusUpdate() {} };

/** Registers the controller's metrics on `registry`. */
export function createControllerMetrics(registry: Registry): ControllerMetrics {
  const leader = new Gauge({ name: 'tidepool_controller_leader', help: '1 while this replica holds the leader lease, else 0.', registers: [registry] });
  leader.set(0);
  const webhook = new Counter({
    name: 'tidepool_webhook_requests_total',
    help: 'Admission reviews answered, by resource, operation and whether they were allowed.',
    labelNames: ['resource', 'operation', 'allowed'],
    registers: [registry],
  });
  const statusUpdates = new Counter({ name: 'tidepool_pool_status_updates_total', help: 'IPPool status writes.', registers: [registry] });
  return {
    leader: (isLeader) => leader.set(isLeader ? 1 : 0),
    webhookRequest: (resource, operation, allowed) => webhook.inc({ resource, operation, allowed: String(allowed) }),
    poolStatusUpdate: () => statusUpdates.inc(),
  };
}

/** Registers the garbage collector's metrics on `registry`. */
export function createGcMetrics(registry: Registry): GcMetrics {
  const reclaims = new Counter({ name: 'tidepool_gc_reclaims_total', help: 'IPs reclaimed by the garbage collector, by reason.', labelNames: ['reason'], registers: [registry] });
  const failures = new Counter({ name: 'tidepool_gc_reclaim_failures_total', help: 'Reclaims that failed (API errors) and will be retried, by reason.', labelNames: ['reason'], registers: [registry] });
  const candidates = new Gauge({ name: 'tidepool_gc_candidates', help: 'Allocations queued or waiting for their moment to be reclaimed.', registers: [registry] });
  const latency = new Histogram({
    name: 'tidepool_gc_reclaim_latency_seconds',
    help: 'From the moment an IP became reclaimable to its release, by reason.',
    labelNames: ['reason'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  const scanDuration = new Histogram({ name: 'tidepool_gc_scan_duration_seconds', help: 'Duration of one full garbage collection scan.', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] });
  const scanRecords = new Gauge({ name: 'tidepool_gc_scan_records', help: 'Allocations examined by the last scan.', registers: [registry] });
  const invalid = new Counter({ name: 'tidepool_gc_invalid_records_total', help: 'IPAllocations the collector could not parse and skipped.', registers: [registry] });
  return {
    reclaimed(reason, seconds) {
      reclaims.inc({ reason });
      latency.observe({ reason }, seconds);
    },
    failed: (reason) => failures.inc({ reason }),
    candidates: (count) => candidates.set(count),
    scan(records, seconds) {
      scanRecords.set(records);
      scanDuration.observe(seconds);
    },
    invalidRecord: () => invalid.inc(),
  };
}
