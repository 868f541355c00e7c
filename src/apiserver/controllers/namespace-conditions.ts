// The status conditions the namespace controller keeps on a terminating
// namespace (namespace_condition_updater.go): five types, each either a
// failure with its reason and message or the "ok" variant; the transition
// time moves only when the status flips.
import type { KubeObject } from '../kinds.ts';
import { isRecord } from '../kinds.ts';
import type { KindState } from '../store.ts';
import { timestamp } from '../timestamps.ts';

interface Condition {
  type: string;
  status: 'True' | 'False';
  lastTransitionTime?: string;
  reason: string;
  message: string;
}

const OK: ReadonlyArray<readonly [string, string, string]> = [
  ['NamespaceDeletionDiscoveryFailure', 'ResourcesDiscovered', 'All resources successfully discovered'],
  ['NamespaceDeletionGroupVersionParsingFailure', 'ParsedGroupVersions', 'All legacy kube types successfully parsed'],
  ['NamespaceDeletionContentFailure', 'ContentDeleted', 'All content successfully deleted, may be waiting on finalization'],
  ['NamespaceContentRemaining', 'ContentRemoved', 'All content successfully removed'],
  ['NamespaceFinalizersRemaining', 'ContentHasNoFinalizers', 'All content-preserving finalizers finished'],
];

/** The failure conditions for what remains and what failed. */
function failures(remaining: ReadonlyArray<{ kind: KindState; items: KubeObject[] }>, errors: readonly string[]): Map<string, Condition> {
  const out = new Map<string, Condition>();
  if (remaining.length) {
    const parts = remaining.map((r) => `${r.kind.spec.plural}.${r.kind.spec.group} has ${r.items.length} resource instances`).sort();
    out.set('NamespaceContentRemaining', { type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: `Some resources are remaining: ${parts.join(', ')}` });
  }
  const byFinalizer = new Map<string, number>();
  for (const r of remaining) for (const o of r.items) for (const f of o.metadata.finalizers ?? []) byFinalizer.set(f, (byFinalizer.get(f) ?? 0) + 1);
  if (byFinalizer.size) {
    const parts = [...byFinalizer].map(([f, n]) => `${f} in ${n} resource instances`).sort();
    out.set('NamespaceFinalizersRemaining', { type: 'NamespaceFinalizersRemaining', status: 'True', reason: 'SomeFinalizersRemain', message: `Some content in the namespace has finalizers remaining: ${parts.join(', ')}` });
  }
  if (errors.length)
    out.set('NamespaceDeletionContentFailure', { type: 'NamespaceDeletionContentFailure', status: 'True', reason: 'ContentDeletionFailed', message: `Failed to delete all resource types, ${errors.length} remaining: ${[...errors].sort().join(', ')}` });
  return out;
}

/** The namespace's conditions after this pass, or undefined when nothing changed. */
export function namespaceConditions(current: readonly unknown[], remaining: ReadonlyArray<{ kind: KindState; items: KubeObject[] }>, errors: readonly string[], now: number): unknown[] | undefined {
  const conditions = current.map((c) => (isRecord(c) ? { ...c } : c)) as Array<Record<string, unknown>>;
  const failed = failures(remaining, errors);
  let changed = false;
  for (const [type, reason, message] of OK) {
    const want: Condition = failed.get(type) ?? { type, status: 'False', reason, message };
    const old = conditions.find((c) => c['type'] === type);
    if (!old) {
      conditions.push({ type, status: want.status, lastTransitionTime: timestamp(new Date(now)), reason: want.reason, message: want.message });
      changed = true;
    } else if (old['status'] !== want.status || old['reason'] !== want.reason || old['message'] !== want.message) {
      if (old['status'] !== want.status) old['lastTransitionTime'] = timestamp(new Date(now));
      Object.assign(old, { status: want.status, reason: want.reason, message: want.message });
      changed = true;
    }
  }
  return changed ? conditions : undefined;
}
