import type { IPAllocationResource, IPPoolResource } from '../api/crd-schemas.ts';
import { createInformer, type Informer } from '../k8s/informer.ts';
import type { KubeObject, KubeRest, ObjectMeta } from '../k8s/rest.ts';
import { ALLOCATION_INDEXERS, IPALLOCATIONS_PATH } from '../store/kubernetes.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';
import { GC_INDEXERS, POD_INDEXERS } from './gc.ts';

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
  /** Indexed by `pool` (spec.pool) and by the garbage collector's keys (GC_INDEXERS). */
  readonly allocations: Informer<AllocationObject>;
  /** Every pod of the cluster: the garbage collector decides from them. */
  readonly pods: Informer<KubeObject>;
  readonly nodes: Informer<KubeObject>;
  readonly statefulSets: Informer<KubeObject>;
  /** KubeVirt VirtualMachines, when the cluster serves them. */
  readonly virtualMachines: Informer<KubeObject> | undefined;
  readonly synced: boolean;
  start(): void;
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
}

export function createControllerCache(opts: { rest: KubeRest; clock: Clock; log: Logger; virtualMachines?: boolean }): ControllerCache {
  const { rest, clock, log } = opts;
  const delay = (ms: number) => clock.sleep(ms);
  const onError = (what: string) => (err: unknown, next: string) => log.warn('watch failed', { what, next, err: err instanceof Error ? err.message : String(err) });
  const pools = createInformer<PoolObject>({ rest, path: IPPOOLS_PATH, delay, onError: onError('ippools') });
  const allocations = createInformer<AllocationObject>({
    rest,
    path: IPALLOCATIONS_PATH,
    delay,
    onError: onError('ipallocations'),
    indexers: { ...(ALLOCATION_INDEXERS as Record<string, (o: AllocationObject) => readonly string[]>), ...GC_INDEXERS },
  });
  const pods = createInformer<KubeObject>({ rest, path: '/api/v1/pods', delay, onError: onError('pods'), indexers: POD_INDEXERS });
  const nodes = createInformer<KubeObject>({ rest, path: '/api/v1/nodes', delay, onError: onError('nodes') });
  const statefulSets = createInformer<KubeObject>({ rest, path: '/apis/apps/v1/statefulsets', delay, onError: onError('statefulsets') });
  const virtualMachines = opts.virtualMachines
    ? createInformer<KubeObject>({ rest, path: '/apis/kubevirt.io/v1/virtualmachines', delay, onError: onError('virtualmachines') })
    : undefined;
  const all: Informer<KubeObject>[] = [pools, allocations, pods, nodes, statefulSets, ...(virtualMachines ? [virtualMachines] : [])];
  return {
    pools,
    allocations,
    pods,
    nodes,
    statefulSets,
    virtualMachines,
    get synced() {
      return all.every((i) => i.synced);
    },
    start() {
      for (const i of all) i.start();
    },
    async waitForSync() {
      await Promise.all(all.map((i) => i.waitForSync()));
    },
    async stop() {
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}
