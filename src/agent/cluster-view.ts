import { setTimeout as wait } from 'node:timers/promises';
import { parseRangeSpec, rangesSize, subtractRanges, type IPRange } from '../ipam/range.ts';
import { planPool, type Pool } from '../ipam/pool.ts';
import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { matchesLabelSelector } from '../ipam/label-selector.ts';
import type { NamespaceView, NodeView } from '../ipam/selection.ts';
import { createInformer, type Informer } from '../k8s/informer.ts';
import { createEventPoster } from '../k8s/events.ts';
import { isNotFound, type KubeObject, type KubeRest } from '../k8s/rest.ts';
import { storeError } from '../store/kube-errors.ts';
import type { Logger } from '../util/logger.ts';
import { READ_FAILED, type ClusterView, type Fresh, type PodInfo } from './kube-policy.ts';

interface PodObject extends KubeObject {
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string };
}
interface PoolObject extends KubeObject {
  spec?: unknown;
}
interface ReservedObject extends KubeObject {
  spec?: { ips?: unknown };
}
interface StatefulSetObject extends KubeObject {
  spec?: { replicas?: number };
}

export interface AgentClusterView extends ClusterView {
  /** Names of the pools this node may use (node name and affinity), for the IPAllocation watch. */
  eligiblePools(): string[];
  /**
   * This node's share of a pool: its index among the nodes that may use the
   * pool, sorted by name. Every agent computes the same partition from the
   * same Node objects, so nodes fill disjoint parts of a shared pool.
   */
  segment(pool: Pool): { index: number; count: number } | undefined;
  /** Calls `fn` when the pool set, the node's labels or reserved IPs change. */
  onPoolsChanged(fn: () => void): void;
  readonly synced: boolean;
  waitForSync(): Promise<void>;
  stop(): Promise<void>;
}

/** An informer transform keeping identity, resourceVersion and the named metadata maps. */
function keepIdentity(...maps: Array<'labels' | 'annotations'>) {
  return (o: KubeObject): KubeObject => {
    const m = o.metadata;
    const metadata: KubeObject['metadata'] = { name: m.name, resourceVersion: m.resourceVersion, ...(m.namespace ? { namespace: m.namespace } : {}), ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}) };
    for (const key of maps) if (m[key]) metadata[key] = m[key];
    return { apiVersion: o.apiVersion, kind: o.kind, metadata };
  };
}

function toPodInfo(p: PodObject): PodInfo {
  return {
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name ?? '',
    uid: p.metadata.uid ?? '',
    labels: p.metadata.labels ?? {},
    annotations: p.metadata.annotations ?? {},
    ownerReferences: p.metadata.ownerReferences ?? [],
    deleting: p.metadata.deletionTimestamp !== undefined,
    phase: p.status?.phase ?? '',
  };
}

/**
 * The agent's window on the cluster: its own Node, the pods scheduled to it,
 * namespaces, pools and reserved IPs, each through a watch cache. Memory
 * follows this node's pods and the cluster's pools, not the cluster's pods.
 */
/** How long an ADD waits for the IPPool watch to deliver a pool the API server already has. */
export const POOL_CATCH_UP_MS = 10_000;

export function createAgentClusterView(opts: { rest: KubeRest; nodeName: string; log: Logger; delay?: (ms: number) => Promise<void> }): AgentClusterView {
  const { rest, nodeName, log } = opts;
  const postEvent = createEventPoster({ rest, component: 'tidepool-agent', host: nodeName, now: Date.now, log });
  const onError = (what: string) => (err: unknown, next: string) => log.warn('watch failed', { what, next, err: err instanceof Error ? err.message : String(err) });
  const common = { rest, delay: opts.delay };
  // Every Node, not just this one: the pool partition depends on which nodes share each pool. Only
  // names and labels are kept, so the cache stays a few hundred bytes per node in any cluster.
  const nodes = createInformer<KubeObject>({ ...common, path: '/api/v1/nodes', onError: onError('nodes'), transform: keepIdentity('labels') });
  const pods = createInformer<PodObject>({ ...common, path: '/api/v1/pods', fieldSelector: `spec.nodeName=${nodeName}`, onError: onError('pods') });
  const namespaces = createInformer<KubeObject>({ ...common, path: '/api/v1/namespaces', onError: onError('namespaces'), transform: keepIdentity('labels', 'annotations') });
  const poolObjects = createInformer<PoolObject>({ ...common, path: '/apis/tidepool.dev/v1alpha1/ippools', onError: onError('ippools') });
  const reserved = createInformer<ReservedObject>({ ...common, path: '/apis/tidepool.dev/v1alpha1/reservedips', onError: onError('reservedips') });
  const informers: Informer<KubeObject>[] = [nodes, pods, namespaces, poolObjects, reserved];

  let derived: { pools: Pool[]; terminating: Set<string> } | undefined;
  let segments = new Map<string, { index: number; count: number } | undefined>();
  const badPools = new Set<string>();
  const listeners: Array<() => void> = [];
  const invalidate = () => {
    derived = undefined;
    segments = new Map();
    for (const fn of listeners) fn();
  };
  poolObjects.onChange(invalidate);
  reserved.onChange(invalidate);
  // Node status heartbeats change nothing tidepool reads; only membership and labels matter.
  nodes.onChange((type, obj, old) => {
    if (type !== 'MODIFIED' || JSON.stringify(obj.metadata.labels ?? {}) !== JSON.stringify(old?.metadata.labels ?? {})) invalidate();
  });

  const usableOn = (pool: Pool, name: string, labels: Record<string, string>) =>
    (!pool.affinity.nodeName || pool.affinity.nodeName.includes(name)) && matchesLabelSelector(pool.affinity.nodeAffinity, labels);

  function derive(): { pools: Pool[]; terminating: Set<string> } {
    const reservedRanges: IPRange[] = [];
    for (const r of reserved.list()) {
      for (const text of Array.isArray(r.spec?.ips) ? r.spec.ips : []) {
        const range = typeof text === 'string' ? parseRangeSpec(text) : undefined;
        if (range) reservedRanges.push(range);
        else log.warn('ReservedIP entry is not an IP or a-b range; ignored', { reservedIP: r.metadata.name, entry: text });
      }
    }
    const pools: Pool[] = [];
    const terminating = new Set<string>();
    for (const obj of poolObjects.list().sort((a, b) => ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1))) {
      const name = obj.metadata.name ?? '';
      let pool: Pool;
      try {
        pool = planPool(obj);
      } catch (err) {
        const key = `${name}@${obj.metadata.resourceVersion}`;
        if (!badPools.has(key)) {
          badPools.add(key);
          log.error('IPPool is invalid; not used', { pool: name, err: toTidepoolError(err).message });
        }
        continue;
      }
      if (obj.metadata.deletionTimestamp) terminating.add(name);
      const own = reservedRanges.filter((r) => r.family === pool.family);
      if (own.length > 0) {
        const ranges = subtractRanges(pool.ranges, own);
        pool = { ...pool, ranges, total: rangesSize(ranges) };
      }
      pools.push(pool);
    }
    return { pools, terminating };
  }

  async function fresh<T extends KubeObject, R>(path: string, map: (obj: T) => R): Promise<Fresh<R>> {
    try {
      return map(await rest.get<T>(path));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      log.warn('fresh read failed; assuming the object exists', { path, err: err instanceof Error ? err.message : String(err) });
      return READ_FAILED;
    }
  }

  const view: AgentClusterView = {
    node(): NodeView | undefined {
      const n = nodes.get(nodeName);
      return n ? { name: nodeName, labels: n.metadata.labels ?? {} } : undefined;
    },
    namespace(name): NamespaceView | undefined {
      const ns = namespaces.get(name);
      return ns ? { name, labels: ns.metadata.labels ?? {}, annotations: ns.metadata.annotations ?? {} } : undefined;
    },
    async pod(namespace, name) {
      const cached = pods.get(`${namespace}/${name}`);
      if (cached) return toPodInfo(cached);
      try {
        return toPodInfo(await rest.get<PodObject>(`/api/v1/namespaces/${namespace}/pods/${name}`));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        // Without the pod there is no pool selection: the ADD fails with a code that says whether waiting helps.
        throw storeError(err, `read pod ${namespace}/${name}`);
      }
    },
    freshPod: (namespace, name) => fresh<PodObject, PodInfo>(`/api/v1/namespaces/${namespace}/pods/${name}`, toPodInfo),
    freshStatefulSet: (namespace, name) =>
      fresh<StatefulSetObject, { replicas: number; deleting: boolean }>(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`, (s) => ({
        replicas: s.spec?.replicas ?? 1,
        deleting: s.metadata.deletionTimestamp !== undefined,
      })),
    freshVirtualMachine: (namespace, name) =>
      fresh<KubeObject, { deleting: boolean }>(`/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachines/${name}`, (v) => ({ deleting: v.metadata.deletionTimestamp !== undefined })),
    async catchUpPool(name) {
      if (poolObjects.get(name)) return true;
      try {
        await rest.get(`/apis/tidepool.dev/v1alpha1/ippools/${encodeURIComponent(name)}`);
      } catch (err) {
        if (isNotFound(err)) return false;
        throw storeError(err, `read IPPool ${name}`);
      }
      // The API server has it: the watch brings it, normally within milliseconds.
      const sleep = opts.delay ?? ((ms: number) => wait(ms));
      for (let waited = 0; waited < POOL_CATCH_UP_MS; waited += 20) {
        await sleep(20);
        if (poolObjects.get(name)) return true;
      }
      throw new TidepoolError('STORE_BUSY', `IPPool ${name} exists, but this agent's watch has not delivered it within ${POOL_CATCH_UP_MS / 1000} s`, { pool: name });
    },
    pools() {
      derived ??= derive();
      return derived;
    },
    eligiblePools() {
      const node = view.node();
      return view
        .pools()
        .pools.filter((p) => usableOn(p, nodeName, node?.labels ?? {}))
        .map((p) => p.name)
        .sort();
    },
    segment(pool) {
      if (!segments.has(pool.name)) {
        const sharing = nodes
          .list()
          .filter((n) => usableOn(pool, n.metadata.name ?? '', n.metadata.labels ?? {}))
          .map((n) => n.metadata.name ?? '')
          .sort();
        const index = sharing.indexOf(nodeName);
        segments.set(pool.name, index < 0 ? undefined : { index, count: sharing.length });
      }
      return segments.get(pool.name);
    },
    onPoolsChanged(fn) {
      listeners.push(fn);
    },
    warn(pod, reason, message) {
      postEvent({ kind: 'Pod', ...pod }, reason, message);
    },
    poolEvent(pool, reason, message) {
      postEvent({ kind: 'IPPool', name: pool, uid: poolObjects.get(pool)?.metadata?.uid }, reason, message);
    },
    get synced() {
      return informers.every((i) => i.synced);
    },
    async waitForSync() {
      for (const i of informers) i.start();
      await Promise.all(informers.map((i) => i.waitForSync()));
    },
    async stop() {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
  return view;
}
