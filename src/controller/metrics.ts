import { Counter, Gauge, type Registry } from 'prom-client';
import { RECLAIM_REASONS } from '../ipam/gc-rules.ts';
import { registerGcFamilies } from '../util/gc-metrics.ts';
import type { GcMetrics } from './gc.ts';

/** How the webhook answered a review: allowed, denied by a rule, or refused because it could not check (or could not read the review). */
export type WebhookResult = 'allowed' | 'denied' | 'error';

/**
 * What the controller reports. Reconcilers depend on this interface, not on
 * prom-client, so tests can pass `noControllerMetrics` or a recording fake.
 */
export interface ControllerMetrics {
  leader(isLeader: boolean): void;
  webhookRequest(resource: string, operation: string, result: WebhookResult): void;
  poolStatusUpdate(): void;
}

export const noControllerMetrics: ControllerMetrics = { leader() {}, webhookRequest() {}, poolStatusUpdate() {} };

/** Registers the controller's metrics on `registry`; `ready` is read at scrape time, as /readyz reads it. */
export function createControllerMetrics(registry: Registry, ready: () => boolean = () => false): ControllerMetrics {
  const leader = new Gauge({ name: 'tidepool_controller_leader', help: '1 while this replica holds the leader lease, else 0.', registers: [registry] });
  leader.set(0);
  new Gauge({
    name: 'tidepool_controller_ready',
    help: "1 while this replica is ready, as /readyz says: caches synced and (with the webhook on) its CA in the webhook's caBundle; else 0.",
    registers: [registry],
    collect() {
      this.set(ready() ? 1 : 0);
    },
  });
  const webhook = new Counter({
    name: 'tidepool_webhook_requests_total',
    help: 'Admission reviews answered, by resource, operation and result (allowed, denied, error: could not check the change or read the review).',
    labelNames: ['resource', 'operation', 'result'],
    registers: [registry],
  });
  const statusUpdates = new Counter({ name: 'tidepool_pool_status_updates_total', help: 'IPPool status writes.', registers: [registry] });
  return {
    leader: (isLeader) => leader.set(isLeader ? 1 : 0),
    webhookRequest: (resource, operation, result) => webhook.inc({ resource, operation, result }),
    poolStatusUpdate: () => statusUpdates.inc(),
  };
}

/**
 * Registers the garbage collector's metrics on `registry`: the families the
 * agent's namespace collector shares (collector="controller"), and the count
 * of records it could not parse. `oldestPending` is read at scrape time.
 */
export function createGcMetrics(registry: Registry, now: () => number, oldestPending: () => number | undefined): GcMetrics {
  const gc = registerGcFamilies(registry, 'controller', RECLAIM_REASONS, now, oldestPending);
  const invalid = new Counter({ name: 'tidepool_gc_invalid_allocations_total', help: 'IPAllocations the garbage collector could not parse and skipped.', registers: [registry] });
  return {
    reclaimed: (reason, seconds) => gc.reclaimed(reason, seconds),
    failed: (reason) => gc.failed(reason),
    candidates: (count) => gc.candidates(count),
    scan: (records, seconds) => gc.scanned(records, seconds),
    invalidRecord: () => invalid.inc(),
  };
}
