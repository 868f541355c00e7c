import type { KubeRest } from '../k8s/rest.ts';
import { createKubernetesStore, LABEL_POOL, type KubernetesStore } from '../store/kubernetes.ts';
import type { AllocationStore } from '../store/port.ts';
import type { Logger } from '../util/logger.ts';
import type { Pool } from '../ipam/pool.ts';
import { createAgentClusterView, type AgentClusterView } from './cluster-view.ts';
import { createKubePolicy } from './kube-policy.ts';
import type { IpamPolicy } from './policy.ts';

/**
 * A Kubernetes store whose watch covers exactly the pools this node may use.
 * When pools or the node's labels change, a store with the new selector is
 * built and synced before it replaces the old one, so callers never see a
 * half-filled cache.
 */
export interface PoolScopedStore extends AllocationStore {
  readonly synced: boolean;
  /** The label selector currently watched. */
  readonly selector: string;
}

export function planPoolSelector(pools: readonly string[]): string {
  // No eligible pool: select objects without a pool label, which tidepool never writes.
  return pools.length > 0 ? `${LABEL_POOL} in (${pools.join(',')})` : `!${LABEL_POOL}`;
}

export async function createPoolScopedStore(opts: {
  rest: KubeRest;
  view: AgentClusterView;
  log: Logger;
  delay?: (ms: number) => Promise<void>;
}): Promise<PoolScopedStore> {
  const { rest, view, log } = opts;
  const open = (selector: string) =>
    createKubernetesStore({
      rest,
      labelSelector: selector,
      delay: opts.delay,
      onInvalid: (name, problems) => log.error('IPAllocation is malformed; skipped, never changed', { name, problems }),
      onError: (err, next) => log.warn('IPAllocation watch failed', { next, err: err instanceof Error ? err.message : String(err) }),
    });
  let selector = planPoolSelector(view.eligiblePools());
  let current: KubernetesStore = await open(selector);
  let switching: Promise<void> = Promise.resolve();

  view.onPoolsChanged(() => {
    switching = switching.then(async () => {
      const next = planPoolSelector(view.eligiblePools());
      if (next === selector) return;
      try {
        const replacement = await open(next);
        const old = current;
        current = replacement;
        selector = next;
        log.info('watching IPAllocations of a new pool set', { selector });
        await old.close();
      } catch (err) {
        log.error('could not watch the new pool set; keeping the old one', { err: err instanceof Error ? err.message : String(err) });
      }
    });
  });

  return {
    addressScope: 'pool',
    get synced() {
      return current.informer.synced;
    },
    get selector() {
      return selector;
    },
    reserve: (r) => current.reserve(r),
    release: (pool, ip, owner, at) => current.release(pool, ip, owner, at),
    transfer: (from, to) => current.transfer(from, to),
    list: (filter) => current.list(filter),
    listStable: (stableKey) => current.listStable(stableKey),
    usage: (pool) => current.usage(pool),
    usageView: (pool, family) => current.usageView(pool, family),
    async close() {
      await switching;
      await current.close();
    },
  };
}

/** The Kubernetes half of an agent: what the daemon and the simulator both build over a client. */
export interface KubeAgentBackend {
  readonly store: PoolScopedStore;
  readonly policy: IpamPolicy;
  readonly segment: (pool: Pool) => { index: number; count: number } | undefined;
  ready(): boolean;
  close(): Promise<void>;
}

/**
 * Starts the agent's watches over `rest` and resolves once its caches are
 * synced: the cluster view (pods of this node, Node, namespaces, pools,
 * reserved IPs) and the pool-scoped allocation store.
 */
export async function openKubeAgentBackend(opts: {
  rest: KubeRest;
  node: string;
  log: Logger;
  delay?: (ms: number) => Promise<void>;
}): Promise<KubeAgentBackend> {
  const { rest, log } = opts;
  const view = createAgentClusterView({ rest, nodeName: opts.node, log, delay: opts.delay });
  await view.waitForSync();
  if (!view.node()) log.warn('the Node object of this agent does not exist (yet); ADDs fail until it does', { node: opts.node });
  const store = await createPoolScopedStore({ rest, view, log, delay: opts.delay });
  return {
    store,
    policy: createKubePolicy(view, log),
    segment: (pool) => view.segment(pool),
    ready: () => view.synced && store.synced && view.node() !== undefined,
    async close() {
      await store.close();
      await view.stop();
    },
  };
}
