// The garbage collector's view of ownership, built from the watch cache's
// events as kube-controller-manager's graph builder builds it from its
// informers: every object with its owner references, and for every owner
// uid the objects that name it. It lags the store like any informer.
import type { KubeObject } from '../kinds.ts';
import { ownerReferences, type OwnerReference } from '../owner-references.ts';
import type { HistoryEvent, KindState } from '../store.ts';

export interface GraphNode {
  readonly uid: string;
  readonly kind: KindState;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly owners: readonly OwnerReference[];
  readonly deleting: boolean;
  readonly finalizers: readonly string[];
}

export class OwnerGraph {
  readonly nodes = new Map<string, GraphNode>();
  private readonly dependents = new Map<string, Set<string>>();

  /** Applies one event; returns the node before it (undefined when new). */
  apply(e: HistoryEvent): GraphNode | undefined {
    const uid = e.object.metadata.uid ?? '';
    const before = this.nodes.get(uid);
    if (before) this.unlink(before);
    if (e.type === 'DELETED') {
      this.nodes.delete(uid);
      return before;
    }
    const node = toNode(e.kind, e.object);
    this.nodes.set(uid, node);
    for (const ref of node.owners) {
      let set = this.dependents.get(ref.uid);
      if (!set) this.dependents.set(ref.uid, (set = new Set()));
      set.add(uid);
    }
    return before;
  }

  private unlink(node: GraphNode): void {
    for (const ref of node.owners) {
      const set = this.dependents.get(ref.uid);
      set?.delete(node.uid);
      if (set?.size === 0) this.dependents.delete(ref.uid);
    }
  }

  /** The objects naming `ownerUid` as an owner. */
  dependentsOf(ownerUid: string): GraphNode[] {
    return [...(this.dependents.get(ownerUid) ?? [])].map((uid) => this.nodes.get(uid)).filter((n): n is GraphNode => n !== undefined);
  }

  /** Dependents whose reference to `ownerUid` blocks its foreground deletion. */
  blockingDependentsOf(ownerUid: string): GraphNode[] {
    return this.dependentsOf(ownerUid).filter((d) => d.owners.some((r) => r.uid === ownerUid && r.blockOwnerDeletion === true));
  }
}

export function toNode(kind: KindState, obj: KubeObject): GraphNode {
  const m = obj.metadata;
  return {
    uid: m.uid ?? '',
    kind,
    namespace: kind.spec.namespaced ? m.namespace : undefined,
    name: m.name ?? '',
    owners: ownerReferences(m),
    deleting: m.deletionTimestamp !== undefined,
    finalizers: m.finalizers ?? [],
  };
}
