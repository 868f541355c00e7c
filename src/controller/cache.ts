import type { IPAllocationResource, IPPoolResource } from '../api/crd-schemas.ts';
import { createInformer, type Informer } from '../k8s/informer.ts';
import type { KubeRest, ObjectMeta } from '../k8s/rest.ts';
import { IPALLOCATIONS_PATH } from '../store/kubernetes.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';

export const IPPOOLS_PATH = '/apis/tidepool.dev/v1alpha1/ippools';

/** An IPPool as read from the API server; anything may be malformed, so fields are optional. */
export interface PoolObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Partial<IPPoolResource['spec']>;
  status?: IPPoolResource['status'];
}

/** An IPAllocation as read from the API server. */
export interface AllocationObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: Partial<IPAllocationResource['spec']>;
}

/**
 * The controller's watch caches, shared by every reconciler. They run on
 * every replica, not only the leader, so a standby that takes over starts
 * from a warm cache instead of listing the whole cluster at failover.
 */
export interface ControllerCache {
  readonly pools: Informer<PoolObject>;
  /** Indexed by `pool` (spec.pool). */
  readonly allocations: Informer<AllocationObject>;
  readonly synced: boolean;
  start(): void;
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
}

export function createControllerCache(opts: { rest: KubeRest; clock: Clock; log: Logger }): ControllerCache {
  const { rest, clock, log } = opts;
  const delay = (ms: number) => clock.sleep(ms);
  const onError = (what: string) => (err: unknown) => log.warn('watch failed; relisting', { what, err: err instanceof Error ? err.message : String(err) });
  const pools = createInformer<PoolObject>({ rest, path: IPPOOLS_PATH, delay, onError: onError('ippools') });
  const allocations = createInformer<AllocationObject>({
    rest,
    path: IPALLOCATIONS_PATH,
    delay,
    onError: onError('ipallocations'),
    indexers: { pool: (o) => (typeof o.spec?.pool === 'string' ? [o.spec.pool] : []) },
  });
  return {
    pools,
    allocations,
    get synced() {
      return pools.synced && allocations.synced;
    },
    start() {
      pools.start();
      allocations.start();
    },
    async waitForSync() {
      await Promise.all([pools.waitForSync(), allocations.waitForSync()]);
    },
    async stop() {
      await Promise.all([pools.stop(), allocations.stop()]);
    },
  };
}
