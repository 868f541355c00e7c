import { Counter, Gauge, type Registry } from 'prom-client';

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
