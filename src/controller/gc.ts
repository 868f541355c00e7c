import { setMaxListeners } from 'node:events';
import { validateRecord } from '../api/crd-schemas.ts';
import { planGcVerdict, type GcConfig, type GcPod, type GcRecord, type GcVerdict, type GcView, type ReclaimReason } from '../ipam/gc-rules.ts';
import type { Informer } from '../k8s/informer.ts';
import { isNotFound, type KubeObject, type KubeRest } from '../k8s/rest.ts';
import { createWorkQueue } from '../k8s/work-queue.ts';
import type { WorkQueueMetrics } from '../k8s/work-queue-metrics.ts';
import { createPendingReclaims } from './pending-reclaims.ts';
import type { AllocationStore } from '../store/port.ts';
import type { Logger } from '../util/logger.ts';
import type { AllocationObject, ControllerCache } from './cache.ts';
import type { Clock } from './clock.ts';
import type { EventTarget } from '../k8s/events.ts';
import type { LeaderTask } from './leader-tasks.ts';

/** Knobs of the garbage collector; docs/gc.md lists each with its default. */
export interface GcSettings extends GcConfig {
  /** Periodic full scan. */
  readonly scanIntervalMs: number;
  /** A reclaim found only by a periodic scan must still hold this long later (a second sighting). */
  readonly orphanConfirmMs: number;
  /** A reclaimed IP is not handed out again for this long. */
  readonly reclaimCooldownMs: number;
  /** Reclaims processed at once. */
  readonly workers: number;
}

export const DEFAULT_GC_SETTINGS: GcSettings = {
  terminatingOnReadyNode: true,
  terminatingOnNotReadyNode: true,
  terminatingDelayMs: 0,
  finishedDelayMs: 0,
  scanIntervalMs: 5 * 60_000,
  orphanConfirmMs: 5 * 60_000,
  reclaimCooldownMs: 3_000,
  workers: 16,
};

/** What the collector reports; the composition root binds it to Prometheus. */
export interface GcMetrics {
  reclaimed(reason: ReclaimReason, latencySeconds: number): void;
  failed(reason: ReclaimReason): void;
  candidates(count: number): void;
  scan(records: number, seconds: number): void;
  invalidRecord(): void;
}

/** Confirmation retries after API errors before a candidate is left to the periodic scan. */
const CONFIRM_RETRIES = 6;

export const noGcMetrics: GcMetrics = { reclaimed() {}, failed() {}, candidates() {}, scan() {}, invalidRecord() {} };

interface PodObject extends KubeObject {
  spec?: { nodeName?: string; hostNetwork?: boolean };
  status?: { phase?: string; containerStatuses?: Array<{ state?: { terminated?: { finishedAt?: string } } }> };
}
interface NodeObject extends KubeObject {
  status?: { conditions?: Array<{ type?: string; status?: string; lastTransitionTime?: string }> };
}
interface StatefulSetObject extends KubeObject {
  spec?: { replicas?: number };
}

/** One line of a dry run or scan report. */
export interface GcReportEntry {
  readonly allocation: string;
  readonly pool: string;
  readonly ip: string;
  readonly pod: string;
  readonly node: string;
  readonly verdict: GcVerdict;
}

export function toGcPod(p: PodObject): GcPod {
  let finishedAt: number | undefined;
  for (const c of p.status?.containerStatuses ?? []) {
    const at = c.state?.terminated?.finishedAt ? Date.parse(c.state.terminated.finishedAt) : NaN;
    if (Number.isFinite(at) && (finishedAt === undefined || at > finishedAt)) finishedAt = at;
  }
  const deletion = p.metadata.deletionTimestamp ? Date.parse(p.metadata.deletionTimestamp) : undefined;
  return {
    uid: p.metadata.uid ?? '',
    phase: p.status?.phase ?? '',
    deletionTimestamp: deletion !== undefined && Number.isFinite(deletion) ? deletion : undefined,
    finishedAt,
    hostNetwork: p.spec?.hostNetwork === true,
  };
}

export function toNodeState(n: NodeObject): { ready: boolean; changedAt?: number } {
  const cond = (n.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const changedAt = cond?.lastTransitionTime ? Date.parse(cond.lastTransitionTime) : NaN;
  return { ready: cond?.status === 'True', ...(Number.isFinite(changedAt) ? { changedAt } : {}) };
}

/** The GC's reading of an IPAllocation, or undefined for a released or malformed one. */
export function toGcRecord(obj: AllocationObject): (GcRecord & { containerId: string; ifname: string }) | undefined {
  const o = obj.spec?.owner;
  if (!o || typeof obj.spec?.pool !== 'string' || typeof obj.spec.ip !== 'string') return undefined;
  const stableKey = o.statefulSet ? `sts:${o.statefulSet.namespace}/${o.statefulSet.name}/${o.statefulSet.ordinal}` : o.vm ? `vm:${o.vm.namespace}/${o.vm.name}` : undefined;
  return {
    pool: obj.spec.pool,
    ip: obj.spec.ip,
    node: o.node,
    podNamespace: o.podNamespace,
    podName: o.podName,
    podUid: o.podUid,
    stableKey,
    allocatedAt: Date.parse(o.allocatedAt),
    containerId: o.containerId,
    ifname: o.ifname,
  };
}

/** Index keys the collector needs on the IPAllocation cache (see ControllerCache). */
export const GC_INDEXERS: Readonly<Record<string, (o: AllocationObject) => readonly string[]>> = {
  gcPod: (o) => (o.spec?.owner?.podNamespace && o.spec.owner.podName ? [`${o.spec.owner.podNamespace}/${o.spec.owner.podName}`] : []),
  gcNode: (o) => (o.spec?.owner?.node ? [o.spec.owner.node] : []),
  gcOwner: (o) => {
    const owner = o.spec?.owner;
    if (owner?.statefulSet) return [`sts:${owner.statefulSet.namespace}/${owner.statefulSet.name}`];
    if (owner?.vm) return [`vm:${owner.vm.namespace}/${owner.vm.name}`];
    return [];
  },
};

/** A GcView over the controller's watch caches: fast, possibly stale; used to find candidates. */
export function createCachedGcView(cache: ControllerCache): GcView {
  return {
    pod: (ns, name) => {
      const p = cache.pods.get(`${ns}/${name}`) as PodObject | undefined;
      return p ? toGcPod(p) : undefined;
    },
    node: (name) => {
      const n = cache.nodes.get(name) as NodeObject | undefined;
      return n ? toNodeState(n) : undefined;
    },
    statefulSet: (ns, name) => {
      const s = cache.statefulSets.get(`${ns}/${name}`) as StatefulSetObject | undefined;
      return s ? { replicas: s.spec?.replicas ?? 1, deleting: s.metadata.deletionTimestamp !== undefined } : undefined;
    },
    virtualMachine: (ns, name) => {
      if (!cache.virtualMachines) return undefined;
      const v = cache.virtualMachines.get(`${ns}/${name}`);
      return v ? { deleting: v.metadata.deletionTimestamp !== undefined } : undefined;
    },
    vmLaunchers: (ns, name) => cache.pods.byIndex(VM_LAUNCHER_INDEX, `${ns}/${name}`).map((p) => toGcPod(p as PodObject)),
    poolExists: (name) => cache.pools.get(name) !== undefined,
  };
}

/** KubeVirt labels each virt-launcher pod with its VM's name. */
export const VM_NAME_LABEL = 'vm.kubevirt.io/name';
/** The pod cache's index of virt-launcher pods by `namespace/vm`. */
export const VM_LAUNCHER_INDEX = 'vmLauncher';
export const POD_INDEXERS: Readonly<Record<string, (o: KubeObject) => readonly string[]>> = {
  [VM_LAUNCHER_INDEX]: (o) => {
    const vm = o.metadata.labels?.[VM_NAME_LABEL];
    return vm && o.metadata.namespace ? [`${o.metadata.namespace}/${vm}`] : [];
  },
};

/**
 * A GcView read fresh from the API server for one record: every decision to
 * release is confirmed by one of these. The pod (and the StatefulSet or VM)
 * is always read; the node only when the reason rests on it (node deleted,
 * a Terminating pod's node readiness), the pool only for `pool-deleted`:
 * other reasons stand on the pod alone, so the cache may answer the rest.
 * Any error reads as 'unknown', which the rule turns into "keep".
 */
export async function readFreshGcView(rest: KubeRest, record: GcRecord, cached: GcView, reason: ReclaimReason): Promise<GcView> {
  async function get<T extends KubeObject, R>(path: string, map: (o: T) => R): Promise<R | undefined | 'unknown'> {
    try {
      return map(await rest.get<T>(path));
    } catch (err) {
      return isNotFound(err) ? undefined : 'unknown';
    }
  }
  const stable = record.stableKey?.split(/[:/]/) ?? [];
  const [pod, node, pool, sts, vm] = await Promise.all([
    record.podNamespace && record.podName ? get<PodObject, GcPod>(`/api/v1/namespaces/${record.podNamespace}/pods/${record.podName}`, toGcPod) : Promise.resolve(undefined),
    reason === 'node-deleted' || reason === 'pod-terminating'
      ? get<NodeObject, { ready: boolean; changedAt?: number }>(`/api/v1/nodes/${record.node}`, toNodeState)
      : Promise.resolve(cached.node(record.node)),
    reason === 'pool-deleted' ? get<KubeObject, boolean>(`/apis/tidepool.dev/v1alpha1/ippools/${record.pool}`, () => true) : Promise.resolve(cached.poolExists(record.pool)),
    stable[0] === 'sts'
      ? get<StatefulSetObject, { replicas: number; deleting: boolean }>(`/apis/apps/v1/namespaces/${stable[1]}/statefulsets/${stable[2]}`, (s) => ({
          replicas: s.spec?.replicas ?? 1,
          deleting: s.metadata.deletionTimestamp !== undefined,
        }))
      : Promise.resolve(undefined),
    stable[0] === 'vm' ? get<KubeObject, { deleting: boolean }>(`/apis/kubevirt.io/v1/namespaces/${stable[1]}/virtualmachines/${stable[2]}`, (v) => ({ deleting: v.metadata.deletionTimestamp !== undefined })) : Promise.resolve(undefined),
  ]);
  let launchers: readonly GcPod[] | 'unknown' = [];
  if (stable[0] === 'vm') {
    try {
      const list = await rest.list<PodObject>(`/api/v1/namespaces/${stable[1]}/pods`, { labelSelector: `${VM_NAME_LABEL}=${stable[2]}` });
      launchers = list.items.map(toGcPod);
    } catch {
      launchers = 'unknown';
    }
  }
  return {
    pod: () => pod,
    node: () => node,
    statefulSet: () => sts,
    virtualMachine: () => vm,
    vmLaunchers: () => launchers,
    poolExists: () => (pool === undefined ? false : pool),
  };
}

// Cached objects never change in place, so each version's schema check is done once, for every reader.
const checked = new WeakMap<object, string[]>();
function problemsOf(obj: AllocationObject): string[] {
  let problems = checked.get(obj);
  if (!problems) checked.set(obj, (problems = validateRecord('IPAllocation', obj)));
  return problems;
}

/** Verdicts for every allocated record in the cache: what a dry run prints and a scan acts on. */
export function planGcReport(cache: ControllerCache, settings: GcConfig, now: number): GcReportEntry[] {
  const view = createCachedGcView(cache);
  const out: GcReportEntry[] = [];
  for (const obj of cache.allocations.list()) {
    const record = toGcRecord(obj);
    if (!record || problemsOf(obj).length > 0) continue;
    const verdict = planGcVerdict(record, view, settings, now);
    out.push({ allocation: obj.metadata.name ?? '', pool: record.pool, ip: record.ip, pod: record.podName ? `${record.podNamespace}/${record.podName}` : '', node: record.node, verdict });
  }
  return out;
}

/** How a candidate came to the worker: a watch event (or takeover scan), or a periodic scan's second sighting. */
export type GcFinding = 'event' | 'periodic-scan';

export interface GcReconcilerDeps {
  readonly rest: KubeRest;
  readonly cache: ControllerCache;
  /** Conditional releases (owner-checked at a fresh resourceVersion). */
  readonly store: Pick<AllocationStore, 'release'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics?: GcMetrics;
  /** The reclaim queue's metrics (depth, adds, waits, retries). */
  readonly queueMetrics?: WorkQueueMetrics;
  readonly settings?: Partial<GcSettings>;
  /** Posts an Event; must not throw. */
  readonly event: (target: EventTarget, reason: string, message: string) => void;
  /** Resolves whenever someone asks for a scan now (`tidepool gc`). */
  readonly scanRequests?: (onRequest: () => void) => () => void;
  /** The decision rule; planGcVerdict unless a simulation plants a bug. */
  readonly verdict?: typeof planGcVerdict;
  /** The fresh confirmation; readFreshGcView unless a simulation plants a bug. */
  readonly confirm?: (rest: KubeRest, record: GcRecord, cached: GcView, reason: ReclaimReason, found: GcFinding) => Promise<GcView>;
}

export interface GcReconciler extends LeaderTask {
  /** Runs one full scan now (leader only, while running). */
  scanNow(): void;
  /** When the oldest allocation found reclaimable and not yet released became reclaimable (ms); undefined when none waits or this replica does not lead. */
  oldestPending(): number | undefined;
}

/**
 * The garbage collector, a leader task. Watch events (pods, nodes,
 * StatefulSets, VMs, pools, IPAllocations) put the affected allocations on a
 * delaying queue; a worker decides each from the cache, confirms a release
 * with fresh reads, and releases conditionally on the owner. A scan at the
 * start of every term catches what happened while no leader ran; periodic
 * scans need two sightings, `orphanConfirmMs` apart, before they act.
 */
export function createGcReconciler(deps: GcReconcilerDeps): GcReconciler {
  const settings: GcSettings = { ...DEFAULT_GC_SETTINGS, ...deps.settings };
  const { cache, clock, log, rest } = deps;
  const metrics = deps.metrics ?? noGcMetrics;
  const planVerdict = deps.verdict ?? planGcVerdict;
  const confirm = deps.confirm ?? readFreshGcView;
  const reported = new WeakSet<object>();
  // The pool's UID lets `kubectl describe ippool` find its Events.
  const poolTarget = (name: string): EventTarget => ({ kind: 'IPPool', name, uid: cache.pools.get(name)?.metadata.uid });
  let requestScan: (() => void) | undefined;
  const pending = createPendingReclaims();

  function validRecord(obj: AllocationObject): ReturnType<typeof toGcRecord> {
    const problems = problemsOf(obj);
    if (problems.length > 0) {
      if (!reported.has(obj)) {
        reported.add(obj);
        metrics.invalidRecord();
        log.error('IPAllocation cannot be parsed; skipped, never deleted', { allocation: obj.metadata.name, problems });
        deps.event(poolTarget(String(obj.spec?.pool ?? obj.metadata.name ?? '')), 'InvalidIPAllocation', `IPAllocation ${obj.metadata.name} skipped by garbage collection: ${problems.join('; ')}`);
      }
      return undefined;
    }
    return toGcRecord(obj);
  }

  async function run(signal: AbortSignal): Promise<void> {
    await cache.waitForSync();
    if (signal.aborted) return;
    const queue = createWorkQueue({ now: clock.now, setTimer: clock.setTimer, metrics: deps.queueMetrics });
    pending.reset();
    const sightings = new Map<string, number>();
    const foundByScan = new Set<string>();
    const waiting = new Set<string>();
    // Unconfirmed reclaims are asked again after 1, 2, 4 ... 32 s, then left to the periodic scan: an API outage
    // must not turn every candidate into a request per second.
    const retries = new Map<string, number>();
    const cachedView = createCachedGcView(cache);

    // When an event first put each key on the queue: a reclaim's latency counts from there, queue wait included.
    const noticedAt = new Map<string, number>();
    const enqueueIndex = (index: string, value: string) => {
      for (const o of cache.allocations.byIndex(index, value)) {
        const key = o.metadata.name ?? '';
        if (!noticedAt.has(key)) noticedAt.set(key, clock.now());
        queue.add(key);
      }
    };
    const unsubscribe = [
      cache.allocations.onChange((type, obj) => {
        if (type !== 'DELETED' && obj.spec?.owner) queue.add(obj.metadata.name ?? '');
      }),
      cache.pods.onChange((_type, obj) => {
        enqueueIndex('gcPod', `${obj.metadata.namespace}/${obj.metadata.name}`);
        // A VM's records may name another of its launchers (a failed migration's gone target): any launcher's change may decide them.
        const vm = obj.metadata.labels?.[VM_NAME_LABEL];
        if (vm) enqueueIndex('gcOwner', `vm:${obj.metadata.namespace}/${vm}`);
      }),
      cache.nodes.onChange((type, obj, old) => {
        const readiness = (n: KubeObject | undefined) => (n ? toNodeState(n as NodeObject).ready : undefined);
        if (type !== 'MODIFIED' || readiness(obj) !== readiness(old)) enqueueIndex('gcNode', obj.metadata.name ?? '');
      }),
      cache.statefulSets.onChange((_type, obj) => enqueueIndex('gcOwner', `sts:${obj.metadata.namespace}/${obj.metadata.name}`)),
      ...(cache.virtualMachines ? [cache.virtualMachines.onChange((_type: string, obj: KubeObject) => enqueueIndex('gcOwner', `vm:${obj.metadata.namespace}/${obj.metadata.name}`))] : []),
      cache.pools.onChange((type, obj) => (type === 'DELETED' ? enqueueIndex('pool', obj.metadata.name ?? '') : undefined)),
    ];

    function scan(mode: 'takeover' | 'periodic'): void {
      const started = performance.now();
      const now = clock.now();
      const seen = new Set<string>();
      const reclaimable = new Set<string>();
      let records = 0;
      for (const obj of cache.allocations.list()) {
        const record = obj.spec?.owner ? validRecord(obj) : undefined;
        if (!record) continue;
        records++;
        const key = obj.metadata.name ?? '';
        const verdict = planVerdict(record, cachedView, settings, now);
        if (verdict.action === 'wait') queue.addAt(key, verdict.at);
        if (verdict.action !== 'release') continue;
        reclaimable.add(key);
        pending.note(key, Math.min(verdict.since, now));
        if (mode === 'takeover') {
          queue.add(key);
          continue;
        }
        // No event explained this one: act only if a later scan still agrees.
        seen.add(key);
        let first = sightings.get(key);
        if (first === undefined) sightings.set(key, (first = now));
        // orphanConfirmMs 0 turns the second sighting off: the first one acts (the fresh read still confirms).
        if (now - first >= settings.orphanConfirmMs && (first !== now || settings.orphanConfirmMs === 0)) {
          foundByScan.add(key);
          queue.add(key);
        }
      }
      for (const key of [...sightings.keys()]) if (!seen.has(key)) sightings.delete(key);
      pending.retainOnly(reclaimable);
      metrics.scan(records, (performance.now() - started) / 1000);
      log.info('garbage collection scan', { mode, records, queued: queue.size, awaitingSecondSighting: sightings.size });
    }

    /** `key` needs no reclaim now: it is neither noticed nor pending. */
    function forget(key: string): void {
      noticedAt.delete(key);
      pending.clear(key);
    }

    async function process(key: string): Promise<void> {
      const obj = cache.allocations.get(key);
      const record = obj?.spec?.owner ? validRecord(obj) : undefined;
      const found: GcFinding = foundByScan.delete(key) ? 'periodic-scan' : 'event';
      waiting.delete(key);
      if (!obj || !record) return forget(key);
      const cached = planVerdict(record, cachedView, settings, clock.now());
      if (cached.action === 'keep') return forget(key);
      if (cached.action === 'wait') {
        // Not reclaimable before its due time: that moment, not the event, starts the latency.
        forget(key);
        waiting.add(key);
        queue.addAt(key, cached.at);
        return;
      }
      pending.note(key, Math.min(cached.since, noticedAt.get(key) ?? Infinity));
      // Never on the cache's word alone: the API server must agree right now.
      const fresh = planVerdict(record, await confirm(rest, record, cachedView, cached.reason, found), settings, clock.now());
      if (fresh.action === 'wait') {
        pending.clear(key);
        queue.addAt(key, fresh.at);
        return;
      }
      if (fresh.action !== 'release') {
        if (fresh.unreadable) {
          // The API server could not answer: ask again soon rather than waiting for the next scan.
          metrics.failed(cached.reason);
          const attempt = retries.get(key) ?? 0;
          if (attempt < CONFIRM_RETRIES) {
            retries.set(key, attempt + 1);
            // A retry is still the same finding.
            if (found === 'periodic-scan') foundByScan.add(key);
            queue.retryAt(key, clock.now() + 1_000 * 2 ** attempt);
          } else {
            retries.delete(key);
            noticedAt.delete(key);
          }
          log.warn('could not confirm a reclaim', { allocation: key, reason: cached.reason, why: fresh.why, retry: attempt < CONFIRM_RETRIES ? attempt + 1 : 'left to the periodic scan' });
          return;
        }
        retries.delete(key);
        pending.clear(key);
        log.debug('cache said reclaim, API server says keep', { allocation: key, why: fresh.why });
        return;
      }
      retries.delete(key);
      if (signal.aborted) return; // The term ended while confirming: no writes now; the next leader's takeover scan finishes it.
      const now = clock.now();
      let released: boolean;
      try {
        released = await deps.store.release(record.pool, record.ip, { containerId: record.containerId, ifname: record.ifname, podUid: record.podUid }, now, now + settings.reclaimCooldownMs);
      } catch (err) {
        metrics.failed(fresh.reason);
        log.warn('reclaim failed; will retry', { allocation: key, reason: fresh.reason, err: err instanceof Error ? err.message : String(err) });
        queue.retryAt(key, now + 1_000);
        return;
      }
      const since = Math.min(cached.since, fresh.since, noticedAt.get(key) ?? Infinity);
      forget(key);
      if (!released) return; // Someone else changed it first (a DEL, a new owner): nothing of ours to free.
      metrics.reclaimed(fresh.reason, Math.max(0, now - since) / 1000);
      const pod = record.podName ? `pod ${record.podNamespace}/${record.podName} (uid ${record.podUid ?? 'unknown'})` : `node ${record.node}`;
      const message = `reclaimed ${record.ip} of pool ${record.pool} from ${pod}: ${fresh.reason}`;
      log.info('reclaimed', { allocation: key, ip: record.ip, pool: record.pool, pod: record.podName ? `${record.podNamespace}/${record.podName}` : undefined, podUid: record.podUid, reason: fresh.reason, latencyMs: now - since, found });
      deps.event(poolTarget(record.pool), 'IPReclaimed', message);
      if (record.podNamespace && record.podName && cache.pods.get(`${record.podNamespace}/${record.podName}`)) {
        deps.event({ kind: 'Pod', namespace: record.podNamespace, name: record.podName, uid: record.podUid }, 'IPReclaimed', message);
      }
    }

    // An operator's "scan now" acts like a takeover scan: candidates are confirmed by fresh reads, not by a second sighting.
    requestScan = () => scan('takeover');
    const stopRequests = deps.scanRequests?.(() => requestScan?.());
    scan('takeover');
    const ticker = (async () => {
      while (!signal.aborted) {
        await clock.sleep(settings.scanIntervalMs, signal);
        if (!signal.aborted) scan('periodic');
      }
    })();
    // Every idle worker waits on the term's signal: that many listeners are expected, not a leak.
    setMaxListeners(settings.workers + 8, signal);
    const workers = Array.from({ length: settings.workers }, async () => {
      for (;;) {
        const key = await queue.next(signal);
        if (key === undefined) return;
        try {
          await process(key);
        } catch (err) {
          log.error('garbage collection of an allocation failed', { allocation: key, err });
        } finally {
          queue.done(key);
          metrics.candidates(queue.size + waiting.size);
        }
      }
    });
    await Promise.all([ticker, ...workers]);
    for (const off of unsubscribe) off();
    stopRequests?.();
    requestScan = undefined;
    // A standby reports nothing pending: the next leader reports what it finds.
    pending.reset();
  }

  return {
    name: 'garbage-collection',
    run,
    scanNow() {
      requestScan?.();
    },
    oldestPending: () => pending.oldest(),
  };
}
