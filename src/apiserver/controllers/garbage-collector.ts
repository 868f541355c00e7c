// The ownerReference garbage collector, as kube-controller-manager's runs it
// (pkg/controller/garbagecollector): dependents whose owners are all gone
// are deleted (in the background, or in the foreground when an owner is
// being deleted that way and they have dependents of their own); an owner
// deleted with the `orphan` finalizer has its dependents' references to it
// removed, then the finalizer; an owner deleted in the foreground loses its
// `foregroundDeletion` finalizer once no dependent with blockOwnerDeletion
// is left. Decisions start from the graph (the watch cache's view) and are
// confirmed by live reads, as the real collector confirms them.
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER } from '../deletion.ts';
import { apiVersionOf, type KubeObject } from '../kinds.ts';
import { ownerReferences, type OwnerReference } from '../owner-references.ts';
import type { KindRegistry } from '../registry.ts';
import type { HistoryEvent, KindState } from '../store.ts';
import type { Timers } from '../timers.ts';
import type { WatchCache } from '../watch-cache.ts';
import type { ControllerClient } from './client.ts';
import { OwnerGraph, type GraphNode } from './owner-graph.ts';
import { objectPath } from './paths.ts';
import { createWorkQueue, type WorkQueue } from './work-queue.ts';

export interface GarbageCollectorDeps {
  readonly registry: KindRegistry;
  readonly cache: WatchCache;
  readonly client: ControllerClient;
  readonly timers: Timers;
}

type OwnerState = 'solid' | 'dangling' | 'waiting';

const has = (obj: KubeObject, finalizer: string): boolean => (obj.metadata.finalizers ?? []).includes(finalizer);
const pathOf = (n: GraphNode): string => objectPath(n.kind.spec, n.namespace, n.name);
const addedEvent = (kind: KindState, object: KubeObject): HistoryEvent => ({ rv: 0, kind, key: '', namespace: '', type: 'ADDED', object, prev: undefined, lines: new Map() });

export function startGarbageCollector(deps: GarbageCollectorDeps): { stop(): void } {
  const { client } = deps;
  const graph = new OwnerGraph();
  const queue: WorkQueue = createWorkQueue((key) => (key.startsWith('orphan:') ? orphan(key.slice(7)) : attemptToDelete(key.slice(7))), { timers: deps.timers });
  const enqueueDelete = (uid: string) => queue.add(`delete:${uid}`);

  /** The kind an owner reference names, if it is served. */
  function kindOf(ref: OwnerReference): KindState | undefined {
    return deps.registry.all().find((k) => apiVersionOf(k.spec) === ref.apiVersion && k.spec.kind === ref.kind);
  }

  /** Whether an owner exists (same uid), is being deleted in the foreground, or is gone; undefined when it cannot be told. */
  async function ownerState(dependent: GraphNode, ref: OwnerReference): Promise<OwnerState | undefined> {
    const kind = kindOf(ref);
    if (!kind) return undefined;
    // A cluster-scoped dependent cannot be owned by a namespaced object: such a reference is unresolvable.
    if (kind.spec.namespaced && dependent.namespace === undefined) return undefined;
    const owner = await client.get(objectPath(kind.spec, kind.spec.namespaced ? dependent.namespace : undefined, ref.name));
    if (!owner || owner.metadata.uid !== ref.uid) return 'dangling';
    return owner.metadata.deletionTimestamp && has(owner, FOREGROUND_FINALIZER) ? 'waiting' : 'solid';
  }

  async function attemptToDelete(uid: string): Promise<void> {
    const node = graph.nodes.get(uid);
    if (!node) return;
    const latest = await client.get(pathOf(node));
    if (!latest || latest.metadata.uid !== uid) return;
    if (latest.metadata.deletionTimestamp) {
      if (has(latest, FOREGROUND_FINALIZER)) await processDeletingDependents(node, latest);
      return;
    }
    const refs = ownerReferences(latest.metadata);
    if (refs.length === 0) return;
    const states = new Map<OwnerReference, OwnerState>();
    for (const ref of refs) {
      const state = await ownerState(node, ref);
      if (state === undefined) throw new Error(`cannot resolve owner ${ref.apiVersion}/${ref.kind} ${ref.name} of ${pathOf(node)}`);
      states.set(ref, state);
    }
    const gone = refs.filter((r) => states.get(r) !== 'solid');
    if (gone.length < refs.length) return gone.length ? removeReferences(node, latest, new Set(gone.map((r) => r.uid))) : undefined;
    const waiting = refs.some((r) => states.get(r) === 'waiting');
    const policy = waiting && graph.dependentsOf(uid).length > 0 ? 'Foreground' : has(latest, ORPHAN_FINALIZER) ? 'Orphan' : has(latest, FOREGROUND_FINALIZER) ? 'Foreground' : 'Background';
    await client.delete(pathOf(node), { propagationPolicy: policy, preconditions: { uid, resourceVersion: latest.metadata.resourceVersion } });
  }

  /** Removes the references to `owners` from a dependent, at the revision it was read at. */
  async function removeReferences(node: GraphNode, latest: KubeObject, owners: Set<string>): Promise<void> {
    const kept = ownerReferences(latest.metadata).filter((r) => !owners.has(r.uid));
    await client.patch(pathOf(node), { metadata: { resourceVersion: latest.metadata.resourceVersion, ownerReferences: kept.length ? kept : null } });
  }

  async function removeFinalizer(node: GraphNode, latest: KubeObject, finalizer: string): Promise<void> {
    const rest = (latest.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    await client.patch(pathOf(node), { metadata: { resourceVersion: latest.metadata.resourceVersion, finalizers: rest.length ? rest : null } });
  }

  /** An owner deleted in the foreground: done once no blocking dependent is left, else its dependents go first. */
  async function processDeletingDependents(node: GraphNode, latest: KubeObject): Promise<void> {
    const blocking = graph.blockingDependentsOf(node.uid);
    if (blocking.length === 0) return removeFinalizer(node, latest, FOREGROUND_FINALIZER);
    for (const d of blocking) if (!(d.deleting && d.finalizers.includes(FOREGROUND_FINALIZER))) enqueueDelete(d.uid);
  }

  /** An owner deleted with the orphan finalizer: its dependents stop naming it, then it goes. */
  async function orphan(uid: string): Promise<void> {
    const node = graph.nodes.get(uid);
    if (!node) return;
    const latest = await client.get(pathOf(node));
    if (!latest || latest.metadata.uid !== uid || !latest.metadata.deletionTimestamp || !has(latest, ORPHAN_FINALIZER)) return;
    for (const d of graph.dependentsOf(uid)) {
      const dep = await client.get(pathOf(d));
      if (dep && dep.metadata.uid === d.uid) await removeReferences(d, dep, new Set([uid]));
    }
    await removeFinalizer(node, latest, ORPHAN_FINALIZER);
  }

  /** What a change to `node` (previously `before`) puts on the queue. */
  function react(node: GraphNode, before: GraphNode | undefined): void {
    if (node.deleting && node.finalizers.includes(ORPHAN_FINALIZER)) queue.add(`orphan:${node.uid}`);
    if (node.deleting && node.finalizers.includes(FOREGROUND_FINALIZER)) {
      enqueueDelete(node.uid);
      for (const d of graph.dependentsOf(node.uid)) enqueueDelete(d.uid);
    }
    // New owner references are checked against their owners; owners no longer named may be unblocked.
    if (node.owners.some((r) => !before?.owners.some((b) => b.uid === r.uid))) enqueueDelete(node.uid);
    const owners = new Set(node.owners.map((r) => r.uid));
    for (const ref of before?.owners ?? []) if (!owners.has(ref.uid)) enqueueDelete(ref.uid);
  }

  function onEvent(e: HistoryEvent): void {
    const before = graph.apply(e);
    if (e.type !== 'DELETED') return react(graph.nodes.get(e.object.metadata.uid ?? '')!, before);
    // Dependents of a deleted owner may now be garbage; owners waiting on it may be done.
    for (const d of graph.dependentsOf(before?.uid ?? '')) enqueueDelete(d.uid);
    for (const ref of before?.owners ?? []) enqueueDelete(ref.uid);
  }

  // The informers' initial lists: what the store holds as the cache starts following it.
  for (const kind of deps.registry.all()) for (const obj of kind.objects.values()) graph.apply(addedEvent(kind, obj));
  for (const node of [...graph.nodes.values()]) react(node, undefined);
  const unsubscribe = deps.cache.onEvent(onEvent);
  return {
    stop() {
      unsubscribe();
      queue.stop();
    },
  };
}
