import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * What a work queue reports, in client-go's terms. work-queue.ts depends on
 * this interface; the composition root binds one per queue to Prometheus.
 */
export interface WorkQueueMetrics {
  /** A key was put on the queue (not counting an add that changed nothing). */
  added(): void;
  /** A key is to be processed again after a failure. */
  retried(): void;
  /** Keys waiting now, due or not. */
  depth(keys: number): void;
  /** A key was handed out `seconds` after it became due. */
  waited(seconds: number): void;
  /** A key handed out was marked done `seconds` later. */
  worked(seconds: number): void;
}

export const noWorkQueueMetrics: WorkQueueMetrics = { added() {}, retried() {}, depth() {}, waited() {}, worked() {} };

const BUCKETS = [0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Registers the `tidepool_workqueue_*` families; call the result with each queue's name. */
export function createWorkQueueMetrics(registry: Registry): (queue: string) => WorkQueueMetrics {
  const labelNames = ['queue'] as const;
  const depth = new Gauge({ name: 'tidepool_workqueue_depth', help: 'Keys waiting in a work queue, due or not.', labelNames, registers: [registry] });
  const adds = new Counter({ name: 'tidepool_workqueue_adds_total', help: 'Keys put on a work queue.', labelNames, registers: [registry] });
  const retries = new Counter({ name: 'tidepool_workqueue_retries_total', help: 'Keys put back on a work queue after their processing failed.', labelNames, registers: [registry] });
  const waited = new Histogram({ name: 'tidepool_workqueue_queue_duration_seconds', help: 'How long a key waited in a work queue after it became due.', labelNames, buckets: BUCKETS, registers: [registry] });
  const worked = new Histogram({ name: 'tidepool_workqueue_work_duration_seconds', help: 'How long processing a key of a work queue took.', labelNames, buckets: BUCKETS, registers: [registry] });
  return (queue) => {
    depth.set({ queue }, 0);
    adds.inc({ queue }, 0);
    retries.inc({ queue }, 0);
    return {
      added: () => adds.inc({ queue }),
      retried: () => retries.inc({ queue }),
      depth: (keys) => depth.set({ queue }, keys),
      waited: (seconds) => waited.observe({ queue }, seconds),
      worked: (seconds) => worked.observe({ queue }, seconds),
    };
  };
}
