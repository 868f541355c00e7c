// What a DELETE does to an object, as the real server's generic store decides
// it (registry/generic/registry/store.go Delete and
// updateForGracefulDeletionAndFinalizers, rest/delete.go BeforeDelete, the
// pod strategy's CheckGracefulDelete) and as the namespace storage overrides
// it. Pure: the store commits the plan.
//
// The cases a watcher can tell apart:
// - remove: one DELETED (no graceful strategy, no finalizers, nothing to add);
// - update: one MODIFIED setting deletionTimestamp (and the garbage
//   collector's finalizers); the object stays until its grace period ends or
//   its finalizers are gone;
// - update then remove: MODIFIED, then DELETED in the same request: a pod
//   deleted with a zero grace period (unscheduled, finished, forced, or
//   kubelet's final delete) always gets both;
// - pending: nothing written (a graceful deletion already under way).
import type { DeleteOptions } from './delete-options.ts';
import type { KindSpec, KubeObject } from './kinds.ts';
import { isRecord } from './kinds.ts';
import { conflict, forbidden } from './status.ts';
import { timestamp } from './timestamps.ts';

export const ORPHAN_FINALIZER = 'orphan';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const NAMESPACE_FINALIZER = 'kubernetes';
const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

export type DeletePlan =
  | { action: 'pending'; current: KubeObject }
  | { action: 'remove'; current: KubeObject }
  | { action: 'update'; current: KubeObject; next: KubeObject; remove: boolean };

/** BeforeDelete's precondition check (its wording, not the storage layer's). */
function checkPreconditions(spec: KindSpec, current: KubeObject, opts: DeleteOptions): void {
  const m = current.metadata;
  const ref = { group: spec.group, plural: spec.kind, kind: spec.kind };
  const pre = opts.preconditions;
  if (pre?.uid !== undefined && pre.uid !== m.uid)
    throw conflict(ref, m.name ?? '', `the UID in the precondition (${pre.uid}) does not match the UID in record (${m.uid}). The object might have been deleted and then recreated`);
  if (pre?.resourceVersion !== undefined && pre.resourceVersion !== m.resourceVersion)
    throw conflict(ref, m.name ?? '', `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${m.resourceVersion}). The object might have been modified`);
}

/** The pod strategy's CheckGracefulDelete: the period a pod gets (negative becomes 1). */
function podGracePeriod(pod: KubeObject, requested: number | undefined): number {
  const spec = isRecord(pod['spec']) ? pod['spec'] : {};
  const phase = isRecord(pod['status']) ? pod['status']['phase'] : undefined;
  const own = spec['terminationGracePeriodSeconds'];
  let period = requested ?? (typeof own === 'number' ? own : 0);
  if (!spec['nodeName'] || phase === 'Succeeded' || phase === 'Failed') period = 0;
  return period < 0 ? 1 : period;
}

interface GracefulOutcome {
  graceful: boolean;
  pending: boolean;
}

/**
 * BeforeDelete: sets deletionTimestamp, deletionGracePeriodSeconds and generation on `next`
 * for a graceful kind; says whether the deletion is graceful or already pending.
 */
function beforeDelete(spec: KindSpec, next: KubeObject, opts: DeleteOptions, now: number): GracefulOutcome {
  const m = next.metadata;
  let requested = opts.gracePeriodSeconds;
  if (requested !== undefined && requested < 0) requested = 1;
  if (m.deletionGracePeriodSeconds !== undefined && m.deletionGracePeriodSeconds < 0) m.deletionGracePeriodSeconds = 1;
  if (!spec.gracefulDeletion) return { graceful: false, pending: false };
  if (m.deletionTimestamp) {
    const current = m.deletionGracePeriodSeconds;
    if (current === undefined || current === 0) return { graceful: false, pending: false };
    if (requested === undefined || requested >= current) return { graceful: false, pending: true };
    // Only a shorter period may be asked for; the deadline moves back, never into the past.
    let period = requested;
    let at = Date.parse(m.deletionTimestamp) - current * 1000 + period * 1000;
    if (at < now) {
      at = now;
      if (period !== 0) period = 1;
    }
    m.deletionTimestamp = timestamp(new Date(at));
    m.deletionGracePeriodSeconds = period;
    return { graceful: true, pending: false };
  }
  const period = podGracePeriod(next, requested);
  m.deletionTimestamp = timestamp(new Date(now + period * 1000));
  m.deletionGracePeriodSeconds = period;
  if (m.generation !== undefined && m.generation > 0) m.generation += 1;
  return { graceful: true, pending: false };
}

/** shouldOrphanDependents and shouldDeleteDependentsInForeground: options, then existing finalizers, then the kind's default. */
export function gcFinalizers(spec: KindSpec, finalizers: readonly string[], opts: DeleteOptions): string[] {
  let orphan: boolean;
  let foreground: boolean;
  if (opts.orphanDependents !== undefined) {
    orphan = opts.orphanDependents;
    foreground = false;
  } else if (opts.propagationPolicy !== undefined) {
    orphan = opts.propagationPolicy === 'Orphan';
    foreground = opts.propagationPolicy === 'Foreground';
  } else {
    const hasOrphan = finalizers.includes(ORPHAN_FINALIZER);
    const hasForeground = finalizers.includes(FOREGROUND_FINALIZER);
    const first = finalizers.find((f) => f === ORPHAN_FINALIZER || f === FOREGROUND_FINALIZER);
    orphan = first === ORPHAN_FINALIZER || (!hasOrphan && !hasForeground && spec.orphanDependentsByDefault === true);
    foreground = first === FOREGROUND_FINALIZER;
  }
  const out = finalizers.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER);
  if (orphan) out.push(ORPHAN_FINALIZER);
  if (foreground) out.push(FOREGROUND_FINALIZER);
  return out;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

/** markAsDeleting: a non-graceful object held by finalizers is marked deleted now, with a zero grace period. */
function markAsDeleting(next: KubeObject, now: number): void {
  const m = next.metadata;
  if (!m.deletionTimestamp && m.generation !== undefined && m.generation > 0) m.generation += 1;
  if (!m.deletionTimestamp || Date.parse(m.deletionTimestamp) > now) m.deletionTimestamp = timestamp(new Date(now));
  m.deletionGracePeriodSeconds = 0;
}

/** The generic store's Delete for one object. */
export function planDelete(spec: KindSpec, current: KubeObject, opts: DeleteOptions, now: number): DeletePlan {
  checkPreconditions(spec, current, opts);
  const next = structuredClone(current);
  const { graceful, pending } = beforeDelete(spec, next, opts, now);
  if (pending) return { action: 'pending', current };
  const before = current.metadata.finalizers ?? [];
  const finalizers = gcFinalizers(spec, before, opts);
  const finalizersChange = !sameSet(before, finalizers);
  if (!graceful && before.length === 0 && !finalizersChange) return { action: 'remove', current };
  if (finalizersChange) next.metadata.finalizers = finalizers;
  if (finalizers.length === 0) delete next.metadata.finalizers;
  if (!graceful) {
    if (finalizers.length === 0) return { action: 'remove', current };
    markAsDeleting(next, now);
    return { action: 'update', current, next, remove: false };
  }
  return { action: 'update', current, next, remove: finalizers.length === 0 && next.metadata.deletionGracePeriodSeconds === 0 };
}

/** The namespace storage's precondition check (its older wording, on namespaces). */
function checkNamespacePreconditions(current: KubeObject, opts: DeleteOptions): void {
  const m = current.metadata;
  const ref = { group: '', plural: 'namespaces', kind: 'Namespace' };
  const pre = opts.preconditions;
  if (pre?.uid !== undefined && pre.uid !== m.uid) throw conflict(ref, m.name ?? '', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid}`);
  if (pre?.resourceVersion !== undefined && pre.resourceVersion !== m.resourceVersion)
    throw conflict(ref, m.name ?? '', `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${m.resourceVersion}`);
}

/** The namespace finalizers DeleteOptions ask for (shouldHaveOrphanFinalizer, shouldHaveDeleteDependentsFinalizer). */
function namespaceGcFinalizers(finalizers: readonly string[], opts: DeleteOptions): string[] {
  let orphan = finalizers.includes(ORPHAN_FINALIZER);
  let foreground = finalizers.includes(FOREGROUND_FINALIZER);
  if (opts.orphanDependents !== undefined) [orphan, foreground] = [opts.orphanDependents, !opts.orphanDependents];
  else if (opts.propagationPolicy !== undefined) [orphan, foreground] = [opts.propagationPolicy === 'Orphan', opts.propagationPolicy === 'Foreground'];
  const out = finalizers.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER);
  if (orphan) out.push(ORPHAN_FINALIZER);
  if (foreground) out.push(FOREGROUND_FINALIZER);
  return out;
}

export const namespaceFinalizers = (ns: KubeObject): string[] => {
  const spec = isRecord(ns['spec']) ? ns['spec'] : {};
  return Array.isArray(spec['finalizers']) ? spec['finalizers'].filter((f): f is string => typeof f === 'string') : [];
};

/**
 * The namespace storage's Delete: the first DELETE marks the namespace Terminating
 * (the namespace controller then empties it); later ones change nothing while
 * spec.finalizers remain, and then delete it as any object.
 */
export function planNamespaceDelete(spec: KindSpec, current: KubeObject, opts: DeleteOptions, now: number): DeletePlan {
  const name = current.metadata.name ?? '';
  // The NamespaceLifecycle admission plugin's immortal namespaces.
  if (IMMORTAL_NAMESPACES.has(name)) throw forbidden({ group: '', plural: 'namespaces', kind: 'Namespace' }, name, 'this namespace may not be deleted');
  checkNamespacePreconditions(current, opts);
  if (!current.metadata.deletionTimestamp) {
    const next = structuredClone(current);
    next.metadata.deletionTimestamp = timestamp(new Date(now));
    next['status'] = { ...(isRecord(current['status']) ? current['status'] : {}), phase: 'Terminating' };
    const finalizers = namespaceGcFinalizers(current.metadata.finalizers ?? [], opts);
    if (finalizers.length) next.metadata.finalizers = finalizers;
    else delete next.metadata.finalizers;
    return { action: 'update', current, next, remove: false };
  }
  if (namespaceFinalizers(current).length > 0) return { action: 'pending', current };
  return planDelete(spec, current, { ...opts, preconditions: undefined }, now);
}

/**
 * ShouldDeleteDuringUpdate (and its namespace variant): an update that leaves an object
 * being deleted without finalizers removes it, once no grace period is running.
 */
export function shouldDeleteDuringUpdate(spec: KindSpec, next: KubeObject, current: KubeObject): boolean {
  if ((next.metadata.finalizers ?? []).length > 0) return false;
  if (!current.metadata.deletionTimestamp) return false;
  const grace = current.metadata.deletionGracePeriodSeconds;
  if (grace !== undefined && grace !== 0) return false;
  return !(spec.group === '' && spec.plural === 'namespaces' && namespaceFinalizers(next).length > 0);
}
