// The pod garbage collector, as kube-controller-manager's runs it
// (pkg/controller/podgc): every `periodMs` (20 s) it looks at the pods and
// nodes its informers hold. A pod bound to a node it does not know puts the
// node in quarantine (40 s); a node still unknown after that and confirmed
// gone by a live read has its pods marked Failed (with a DisruptionTarget
// condition) and force-deleted (grace period 0). A terminating pod never
// scheduled is force-deleted too. The terminated-pod threshold
// (--terminated-pod-gc-threshold, 12,500) and out-of-service nodes are not
// modelled.
import { isRecord, type KubeObject } from '../kinds.ts';
import type { KindRegistry } from '../registry.ts';
import type { Store } from '../store.ts';
import { timestamp } from '../timestamps.ts';
import type { Timers } from '../timers.ts';
import type { WatchCache } from '../watch-cache.ts';
import type { ControllerClient } from './client.ts';

export interface PodGcOptions {
  /** How often it runs; kube-controller-manager's gcCheckPeriod, 20 s. */
  readonly periodMs?: number;
  /** How long a missing node stays in quarantine before a live read confirms it gone; 40 s. */
  readonly quarantineMs?: number;
}

export interface PodGcDeps {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly cache: WatchCache;
  readonly client: ControllerClient;
  readonly timers: Timers;
  readonly options?: PodGcOptions;
  readonly onError?: (err: unknown) => void;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const nodeOf = (pod: KubeObject): string => (isRecord(pod['spec']) ? str(pod['spec']['nodeName']) : '');
const phaseOf = (pod: KubeObject): string => (isRecord(pod['status']) ? str(pod['status']['phase']) : '');
const podPath = (pod: KubeObject): string => `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;

export function startPodGc(deps: PodGcDeps): { stop(): void } {
  const { client, timers } = deps;
  const periodMs = deps.options?.periodMs ?? 20_000;
  const quarantineMs = deps.options?.quarantineMs ?? 40_000;
  const podKind = deps.registry.resolve('', 'v1', 'pods');
  const nodeKind = deps.registry.resolve('', 'v1', 'nodes');
  /** Unknown nodes, and whether their quarantine is over (a timer says so, whatever the clock reads). */
  const quarantine = new Map<string, { over: boolean; cancel: () => void }>();
  let cancel: () => void = () => {};
  let stopped = false;

  /** What the informers hold: the store as of the revision the watch cache has reached. */
  const listed = (kind: typeof podKind): KubeObject[] => (kind ? deps.store.list(kind, { fields: [] }, { atRv: deps.cache.resourceVersion }).items : []);

  async function markFailedAndDelete(pod: KubeObject, condition: Record<string, unknown> | undefined): Promise<void> {
    if (phaseOf(pod) !== 'Succeeded' && phaseOf(pod) !== 'Failed') {
      const status = isRecord(pod['status']) ? pod['status'] : {};
      const others = Array.isArray(status['conditions']) ? status['conditions'].filter((c) => !isRecord(c) || c['type'] !== 'DisruptionTarget') : [];
      const conditions = condition ? [...others, condition] : others;
      await client.patch(`${podPath(pod)}/status`, { status: { phase: 'Failed', conditions } });
    }
    await client.delete(podPath(pod), { gracePeriodSeconds: 0 });
  }

  /** Nodes whose quarantine is over and which a live read confirms gone. */
  async function deletedNodes(known: Set<string>): Promise<Set<string>> {
    const gone = new Set<string>();
    for (const [node, q] of [...quarantine]) {
      if (known.has(node)) {
        q.cancel();
        quarantine.delete(node);
      } else if (q.over) {
        quarantine.delete(node);
        if (!(await client.get(`/api/v1/nodes/${node}`))) gone.add(node);
      }
    }
    return gone;
  }

  function startQuarantine(node: string): void {
    const q = { over: false, cancel: () => {} };
    q.cancel = timers.after(quarantineMs, () => void (q.over = true));
    quarantine.set(node, q);
  }

  async function gcOrphaned(pods: KubeObject[], known: Set<string>): Promise<void> {
    for (const pod of pods) {
      const node = nodeOf(pod);
      if (node && !known.has(node) && !quarantine.has(node)) startQuarantine(node);
    }
    const gone = await deletedNodes(known);
    if (gone.size === 0) return;
    const condition = { type: 'DisruptionTarget', status: 'True', lastTransitionTime: timestamp(new Date(timers.now())), reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists' };
    for (const pod of pods) if (gone.has(nodeOf(pod))) await markFailedAndDelete(pod, condition).catch(deps.onError);
  }

  async function gcUnscheduledTerminating(pods: KubeObject[]): Promise<void> {
    for (const pod of pods) if (pod.metadata.deletionTimestamp && !nodeOf(pod)) await markFailedAndDelete(pod, undefined).catch(deps.onError);
  }

  async function pass(): Promise<void> {
    const pods = listed(podKind);
    const known = new Set(listed(nodeKind).map((n) => n.metadata.name ?? ''));
    await gcOrphaned(pods, known);
    await gcUnscheduledTerminating(pods);
  }

  function tick(): void {
    if (stopped) return;
    void pass()
      .catch((err: unknown) => deps.onError?.(err))
      .finally(() => {
        if (!stopped) cancel = timers.after(periodMs, tick);
      });
  }
  // Like wait.Until, the first pass runs at start.
  cancel = timers.after(0, tick);
  return {
    stop() {
      stopped = true;
      cancel();
      for (const q of quarantine.values()) q.cancel();
    },
  };
}
