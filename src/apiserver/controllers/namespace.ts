// The namespace controller, as kube-controller-manager's runs it
// (pkg/controller/namespace, deletion/namespaced_resources_deleter.go): a
// namespace marked for deletion is emptied kind by kind (deletecollection,
// background propagation), its status conditions say what remains, and
// once nothing is left the `kubernetes` finalizer is removed through
// /finalize, which removes the namespace. While pods are still in their
// grace period it looks again after half the longest one; while anything
// else remains, with a growing backoff.
import { NAMESPACE_FINALIZER, namespaceFinalizers } from '../deletion.ts';
import { isRecord, type KubeObject } from '../kinds.ts';
import type { KindRegistry } from '../registry.ts';
import type { HistoryEvent, KindState } from '../store.ts';
import type { Timers } from '../timers.ts';
import type { WatchCache } from '../watch-cache.ts';
import type { ControllerClient } from './client.ts';
import { namespaceConditions } from './namespace-conditions.ts';
import { collectionPath } from './paths.ts';
import { createWorkQueue, type Outcome } from './work-queue.ts';

export interface NamespaceControllerDeps {
  readonly registry: KindRegistry;
  readonly cache: WatchCache;
  readonly client: ControllerClient;
  readonly timers: Timers;
}

/** How long to assume finalizers on remaining content take (finalizerEstimateSeconds). */
const FINALIZER_ESTIMATE_SECONDS = 15;

const NS = { group: '', version: 'v1', plural: 'namespaces' };
const nsPath = (name: string, sub = ''): string => `/api/v1/namespaces/${name}${sub}`;

/** What is left in one kind after its deletecollection. */
interface Remaining {
  readonly kind: KindState;
  readonly items: KubeObject[];
}

export function startNamespaceController(deps: NamespaceControllerDeps): { stop(): void } {
  const { client, timers } = deps;
  const queue = createWorkQueue(sync, { timers, maxDelayMs: 60_000 });

  /** The longest grace period among the namespace's live pods, unless the namespace was deleted longer ago than that. */
  async function podEstimate(ns: string, deletedAt: number): Promise<number> {
    let estimate = 0;
    for (const pod of await client.list(`/api/v1/namespaces/${ns}/pods`)) {
      const phase = isRecord(pod['status']) ? pod['status']['phase'] : undefined;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const grace = isRecord(pod['spec']) ? pod['spec']['terminationGracePeriodSeconds'] : undefined;
      if (typeof grace === 'number' && grace > estimate) estimate = grace;
    }
    return timers.now() - deletedAt >= estimate * 1000 ? 0 : estimate;
  }

  /** deleteAllContent: every namespaced kind's deletecollection, then what remains. */
  async function deleteContent(ns: string, deletedAt: number): Promise<{ estimate: number; remaining: Remaining[]; errors: string[] }> {
    let estimate = 0;
    const remaining: Remaining[] = [];
    const errors: string[] = [];
    for (const kind of deps.registry.all().filter((k) => k.spec.namespaced)) {
      try {
        const kindEstimate = kind.spec.group === '' && kind.spec.plural === 'pods' ? await podEstimate(ns, deletedAt) : 0;
        const path = collectionPath(kind.spec, ns);
        await client.deleteCollection(path, { propagationPolicy: 'Background' });
        const items = await client.list(path);
        if (items.length) remaining.push({ kind, items });
        let e = kindEstimate;
        if (items.length && e === 0) {
          if (!items.some((o) => (o.metadata.finalizers ?? []).length > 0)) throw new Error(`unexpected items still remain in namespace: ${ns} for gvr: ${kind.spec.group}/${kind.spec.version}, Resource=${kind.spec.plural}`);
          e = FINALIZER_ESTIMATE_SECONDS;
        }
        estimate = Math.max(estimate, e);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    return { estimate, remaining, errors };
  }

  async function updateConditions(ns: KubeObject, remaining: Remaining[], errors: string[]): Promise<void> {
    const status = isRecord(ns['status']) ? ns['status'] : {};
    const conditions = namespaceConditions(Array.isArray(status['conditions']) ? status['conditions'] : [], remaining, errors, timers.now());
    if (!conditions) return;
    await client.update(nsPath(ns.metadata.name ?? '', '/status'), { ...ns, status: { ...status, conditions } });
  }

  async function sync(name: string): Promise<Outcome> {
    const ns = await client.get(nsPath(name));
    if (!ns || !ns.metadata.deletionTimestamp) return;
    if (namespaceFinalizers(ns).length === 0) return void (await client.delete(nsPath(name), { preconditions: { uid: ns.metadata.uid } }));
    const { estimate, remaining, errors } = await deleteContent(name, Date.parse(ns.metadata.deletionTimestamp));
    const latest = await client.get(nsPath(name));
    if (!latest) return;
    await updateConditions(latest, remaining, errors);
    if (errors.length) throw new Error(errors.join(', '));
    if (estimate > 0) return { requeueAfterMs: (Math.floor(estimate / 2) + 1) * 1000 };
    const current = (await client.get(nsPath(name))) ?? latest;
    const rest = namespaceFinalizers(current).filter((f) => f !== NAMESPACE_FINALIZER);
    const finalized = await client.update(nsPath(name, '/finalize'), { ...current, spec: { ...(isRecord(current['spec']) ? current['spec'] : {}), finalizers: rest } });
    if (namespaceFinalizers(finalized).length === 0 && (await client.get(nsPath(name)))) await client.delete(nsPath(name), { preconditions: { uid: current.metadata.uid } });
  }

  function onEvent(e: HistoryEvent): void {
    const spec = e.kind.spec;
    if (spec.group !== NS.group || spec.plural !== NS.plural || e.type === 'DELETED') return;
    if (e.object.metadata.deletionTimestamp) queue.add(e.object.metadata.name ?? '');
  }

  const nsKind = deps.registry.resolve(NS.group, NS.version, NS.plural);
  for (const ns of nsKind?.objects.values() ?? []) if (ns.metadata.deletionTimestamp) queue.add(ns.metadata.name ?? '');
  const unsubscribe = deps.cache.onEvent(onEvent);
  return {
    stop() {
      unsubscribe();
      queue.stop();
    },
  };
}
