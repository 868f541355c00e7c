import { TidepoolError } from '../ipam/errors.ts';
import type { Pool } from '../ipam/pool.ts';
import { planPoolSelection, type NamespaceView, type NodeView } from '../ipam/selection.ts';
import type { AllocationRecord } from '../store/port.ts';
import type { IpamPolicy } from './policy.ts';
import type { Logger } from '../util/logger.ts';

/** The parts of a Pod the agent reads. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly ownerReferences: ReadonlyArray<{ readonly kind: string; readonly name: string; readonly controller?: boolean }>;
  readonly deleting: boolean;
  readonly phase: string;
}

/** A read that failed: the caller must assume the object exists (never release on doubt). */
export const READ_FAILED = Symbol('read failed');
export type Fresh<T> = T | undefined | typeof READ_FAILED;

/**
 * What the Kubernetes policy needs from the cluster. Cached reads serve the
 * hot path (ADD); `fresh*` reads go to the API server and back every
 * decision to let an IP go.
 */
export interface ClusterView {
  node(): NodeView | undefined;
  namespace(name: string): NamespaceView | undefined;
  /** Cache first, then the API server: a pod scheduled a moment ago may not be cached yet. */
  pod(namespace: string, name: string): Promise<PodInfo | undefined>;
  freshPod(namespace: string, name: string): Promise<Fresh<PodInfo>>;
  /** Replicas wanted and whether it is being deleted. */
  freshStatefulSet(namespace: string, name: string): Promise<Fresh<{ replicas: number; deleting: boolean }>>;
  freshVirtualMachine(namespace: string, name: string): Promise<Fresh<{ deleting: boolean }>>;
  /**
   * For a pool a pod names that the cache lacks: false when the API server has
   * no such pool either; true once the cache has it (a pool created a moment
   * before the pod, whose watch event is still on its way). Throws STORE_BUSY
   * when the watch does not deliver it within a bound.
   */
  catchUpPool(name: string): Promise<boolean>;
  /** Usable pools (reserved IPs already removed) and the names of pools being deleted. */
  pools(): { readonly pools: readonly Pool[]; readonly terminating: ReadonlySet<string> };
  /** Posts a Warning Event on the pod; must not throw. */
  warn(pod: { namespace: string; name: string; uid?: string | undefined }, reason: string, message: string): void;
  /** Posts a Warning Event on an IPPool; must not throw. */
  poolEvent?(pool: string, reason: string, message: string): void;
}

/** `sts:<ns>/<name>/<ordinal>` for a StatefulSet pod, `vm:<ns>/<name>` for a KubeVirt VM's pod. */
export function planStableKey(pod: PodInfo): string | undefined {
  const owner = pod.ownerReferences.find((o) => o.controller) ?? pod.ownerReferences[0];
  if (!owner) return undefined;
  if (owner.kind === 'StatefulSet') {
    const m = /^(.*)-(\d+)$/.exec(pod.name);
    if (m && m[1] === owner.name) return `sts:${pod.namespace}/${owner.name}/${Number(m[2])}`;
    return undefined;
  }
  if (owner.kind === 'VirtualMachineInstance') {
    // A VMI is named after its VirtualMachine; the label says so explicitly when present.
    return `vm:${pod.namespace}/${pod.labels['vm.kubevirt.io/name'] ?? owner.name}`;
  }
  return undefined;
}

/**
 * KubeVirt marks the target pod of a live migration with the migration's UID
 * (label `kubevirt.io/migrationJobUID`) and name (annotation
 * `kubevirt.io/migrationJobName`); the source pod carries neither.
 */
export const MIGRATION_JOB_LABEL = 'kubevirt.io/migrationJobUID';
export const MIGRATION_JOB_ANNOTATION = 'kubevirt.io/migrationJobName';

/** The migration this virt-launcher pod is the target of, or undefined. */
export function planMigrationJob(pod: PodInfo): string | undefined {
  return pod.annotations[MIGRATION_JOB_ANNOTATION] ?? pod.labels[MIGRATION_JOB_LABEL];
}

function parseStableKey(key: string): { kind: 'sts'; namespace: string; name: string; ordinal: number } | { kind: 'vm'; namespace: string; name: string } | undefined {
  const sts = /^sts:([^/]+)\/([^/]+)\/(\d+)$/.exec(key);
  if (sts) return { kind: 'sts', namespace: sts[1]!, name: sts[2]!, ordinal: Number(sts[3]) };
  const vm = /^vm:([^/]+)\/([^/]+)$/.exec(key);
  if (vm) return { kind: 'vm', namespace: vm[1]!, name: vm[2]! };
  return undefined;
}

/**
 * Kubernetes mode: pools come from the pod's annotations, its namespace, the
 * netconf or the cluster defaults (planPoolSelection); the pod's UID and
 * stable identity let a new sandbox or a restarted StatefulSet pod keep its
 * IPs; a DEL keeps the IPs of a pod that is still alive (a sandbox restart)
 * and of a StatefulSet ordinal or VM that still exists.
 */
export function createKubePolicy(view: ClusterView, log: Logger): IpamPolicy {
  async function podOf(req: { pod?: { namespace: string; name: string; uid?: string | undefined } | undefined; containerId: string }): Promise<PodInfo> {
    if (!req.pod) {
      throw new TidepoolError('INVALID_REQUEST', `container ${req.containerId}: CNI_ARGS lacks K8S_POD_NAMESPACE and K8S_POD_NAME, which tidepool needs in Kubernetes mode`, {
        field: 'pod',
      });
    }
    const pod = await view.pod(req.pod.namespace, req.pod.name);
    if (!pod) throw new TidepoolError('NOT_FOUND', `pod ${req.pod.namespace}/${req.pod.name} does not exist`, { pod: `${req.pod.namespace}/${req.pod.name}` });
    if (req.pod.uid && req.pod.uid !== pod.uid) {
      throw new TidepoolError('NOT_FOUND', `pod ${pod.namespace}/${pod.name} has UID ${pod.uid}, but the runtime asked for UID ${req.pod.uid} (the pod was re-created)`, {
        pod: `${pod.namespace}/${pod.name}`,
      });
    }
    return pod;
  }

  async function keep(record: AllocationRecord, cache: Map<string, Promise<boolean>>): Promise<boolean> {
    const podKey = `${record.podNamespace}/${record.podName}/${record.podUid}`;
    let decision = cache.get(podKey);
    if (!decision) {
      decision = decide(record);
      cache.set(podKey, decision);
    }
    return decision;
  }

  async function decide(record: AllocationRecord): Promise<boolean> {
    if (record.podNamespace && record.podName) {
      const pod = await view.freshPod(record.podNamespace, record.podName);
      if (pod === READ_FAILED) return true;
      // The same pod, alive: this DEL is a sandbox restart and the next ADD takes the IP over.
      if (pod && pod.uid === record.podUid && !pod.deleting && pod.phase !== 'Succeeded' && pod.phase !== 'Failed') return true;
    }
    const stable = record.stableKey ? parseStableKey(record.stableKey) : undefined;
    if (stable?.kind === 'sts') {
      const sts = await view.freshStatefulSet(stable.namespace, stable.name);
      if (sts === READ_FAILED) return true;
      return sts !== undefined && !sts.deleting && stable.ordinal < sts.replicas;
    }
    if (stable?.kind === 'vm') {
      const vm = await view.freshVirtualMachine(stable.namespace, stable.name);
      if (vm === READ_FAILED) return true;
      return vm !== undefined && !vm.deleting;
    }
    return false;
  }

  /**
   * Runs `select`; when it names a pool the cache lacks but the API server has
   * (created a moment before the pod, its watch event still on the way), waits
   * for the cache and selects again, once per such pool.
   */
  async function selectCatchingUp<T>(select: () => T): Promise<T> {
    const caughtUp = new Set<string>();
    for (;;) {
      try {
        return select();
      } catch (err) {
        const missing = err instanceof TidepoolError && err.code === 'POOL_NOT_FOUND' ? err.details?.['pool'] : undefined;
        if (typeof missing !== 'string' || caughtUp.has(missing) || !(await view.catchUpPool(missing))) throw err;
        caughtUp.add(missing);
      }
    }
  }

  return {
    pools: () => view.pools().pools,

    async plan(req) {
      const pod = await podOf(req);
      const node = view.node();
      if (!node) throw new TidepoolError('AGENT_NOT_READY', 'the agent has not read its Node object yet', {});
      const select = () =>
        planPoolSelection({
          pod,
          namespace: view.namespace(pod.namespace),
          node,
          ifname: req.ifname,
          multusName: req.network,
          netconf: { ipv4Pools: req.ipv4Pools, ipv6Pools: req.ipv6Pools },
          ...view.pools(),
        });
      const selection = await selectCatchingUp(select);
      const stableKey = planStableKey(pod);
      const migrationJob = stableKey?.startsWith('vm:') ? planMigrationJob(pod) : undefined;
      return {
        interfaces: selection.interfaces.map((i) => ({
          ifname: i.ifname,
          families: [
            ...(i.ipv4.length ? [{ family: 4 as const, pools: i.ipv4 }] : []),
            ...(i.ipv6.length ? [{ family: 6 as const, pools: i.ipv6 }] : []),
          ],
          defaultRoute: i.ifname === selection.defaultRouteInterface,
          cleanGateway: i.cleanGateway,
          routes: selection.routes.filter((r) => r.ifname === i.ifname).map((r) => ({ dst: r.dst, gw: r.gw })),
        })),
        podUid: pod.uid,
        stableKey,
        podRef: `${pod.namespace}/${pod.name}`,
        ...(migrationJob === undefined ? {} : { migration: { job: migrationJob } }),
      };
    },

    statusPools(req) {
      const { pools } = view.pools();
      const byName = new Map(pools.map((p) => [p.name, p]));
      const named = [...(req?.ipv4Pools ?? []).map((n) => [n, 4] as const), ...(req?.ipv6Pools ?? []).map((n) => [n, 6] as const)];
      if (named.length === 0) return pools;
      return named.map(([name, family], i) => {
        const pool = byName.get(name);
        const field = family === 4 ? `ipv4Pools[${i}]` : `ipv6Pools[${i - (req?.ipv4Pools?.length ?? 0)}]`;
        if (!pool) throw new TidepoolError('POOL_NOT_FOUND', `${field}: pool "${name}" does not exist`, { pool: name, field });
        if (pool.family !== family) throw new TidepoolError('POOL_FAMILY_MISMATCH', `${field}: pool "${name}" is IPv${pool.family}, not IPv${family}`, { pool: name, field });
        return pool;
      });
    },

    async retain(records) {
      const cache = new Map<string, Promise<boolean>>();
      const kept = new Set<AllocationRecord>();
      for (const r of records) if (await keep(r, cache)) kept.add(r);
      if (kept.size > 0) log.debug('kept on DEL', { ips: [...kept].map((r) => `${r.pool}/${r.ip}`), reasons: [...kept].map((r) => r.stableKey ?? 'pod alive') });
      return kept;
    },

    conflictDetected(req, report) {
      if (req.pod) view.warn(req.pod, 'IPConflict', report.message);
      view.poolEvent?.(report.pool, 'IPConflict', report.message);
    },

    allocationFailed(req, err) {
      if (req.pod && err.spec.retry !== 'later') view.warn(req.pod, 'IPAllocationFailed', err.message);
      else if (req.pod && err.code === 'POOL_EXHAUSTED') view.warn(req.pod, 'IPPoolExhausted', err.message);
    },
  };
}
