// What the real server's apiextensions controllers do with a stored CRD,
// done at once after each write instead of a moment later:
//
// - naming (NamingConditionController): its names must not clash with the
//   accepted names of another CRD in its group; status.acceptedNames and the
//   NamesAccepted condition say how that went;
// - establishing (EstablishingController): once its names are accepted the
//   CRD is Established and its kind is served (registered, or updated in
//   place when the CRD changed, stored objects re-decoded by the new schema
//   as the real server decodes them on read);
// - finalizing (CRDFinalizer): a CRD being deleted (DELETE adds the
//   customresourcecleanup finalizer, handlers.ts) is Terminating: its objects
//   are deleted, finalizers of their own honoured, and once none is left the
//   finalizer goes, the CRD with it, and its kind is no longer served.
import type { KindSpec, KubeObject } from '../kinds.ts';
import type { KindRegistry } from '../registry.ts';
import { timestamp, type KindState, type Store } from '../store.ts';
import { CRD_GROUP, CRD_PLURAL } from './crd-kind.ts';
import { customResourceInfo, decodeCustomResource, kindForCrd, updateKindForCrd } from './custom-kind.ts';
import { isObject, jsonDeepEqual } from './schema.ts';

export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** Discovery's verbs for a custom resource, in the real server's order; a Terminating one loses create, update and patch. */
const VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];
const TERMINATING_VERBS = ['delete', 'deletecollection', 'get', 'list', 'watch'];

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  reason: string;
  message: string;
}

type Json = Record<string, unknown>;
const rec = (v: unknown): Json => (isObject(v) ? v : {});

export function conditions(crd: KubeObject): Condition[] {
  const c = rec(crd['status'])['conditions'];
  return Array.isArray(c) ? (c as Condition[]) : [];
}

export const conditionTrue = (crd: KubeObject, type: string): boolean => conditions(crd).some((c) => c.type === type && c.status === 'True');

/** SetCRDCondition: replaces the condition of that type; the transition time moves only when the status does. */
export function setCondition(crd: KubeObject, cond: Condition, now: Date): void {
  const status = rec(crd['status']);
  crd['status'] = status;
  const list = conditions(crd).slice();
  const i = list.findIndex((c) => c.type === cond.type);
  const old = list[i];
  const lastTransitionTime = old && old.status === cond.status && old.lastTransitionTime ? old.lastTransitionTime : timestamp(now);
  const next = { type: cond.type, status: cond.status, lastTransitionTime, reason: cond.reason, message: cond.message };
  if (i >= 0) list[i] = next;
  else list.push(next);
  status['conditions'] = list;
}

export interface CrdController {
  /** Brings the CRD named `name` (and the kind it serves) up to date after a write. */
  reconcile(name: string): void;
  /** After a write to a custom resource: a Terminating CRD may now be done. */
  afterInstanceWrite(kind: KindSpec): void;
  /** Whether the CRD behind a kind is being deleted (its kind refuses creates). */
  isTerminating(kind: KindSpec): boolean;
}

export function createCrdController(store: Store, registry: KindRegistry, now: () => Date): CrdController {
  const crds = (): KindState => registry.resolve(CRD_GROUP, 'v1', CRD_PLURAL)!;
  const servedBy = new Map<string, KindState>();

  function write(current: KubeObject, next: KubeObject): KubeObject | undefined {
    if (jsonDeepEqual(current, next)) return current;
    const r = store.commitUpdate(crds(), current, next);
    return r.removed ? undefined : r.object;
  }

  function acceptedNames(crd: KubeObject): { names: Json; accepted: Condition } {
    const spec = rec(crd['spec']);
    const requested = rec(spec['names']);
    const accepted = rec(rec(crd['status'])['acceptedNames']);
    const used = { resources: new Set<string>(), kinds: new Set<string>() };
    for (const other of crds().objects.values()) {
      if (other.metadata.name === crd.metadata.name || rec(other['spec'])['group'] !== spec['group']) continue;
      const n = rec(rec(other['status'])['acceptedNames']);
      for (const r of [n['plural'], n['singular'], ...(Array.isArray(n['shortNames']) ? n['shortNames'] : [])]) if (typeof r === 'string' && r) used.resources.add(r);
      for (const k of [n['kind'], n['listKind']]) if (typeof k === 'string' && k) used.kinds.add(k);
    }
    const names: Json = { ...accepted };
    let cond: Condition = { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' };
    const take = (field: string, pool: Set<string>, reason: string): void => {
      const want = requested[field];
      if (want === accepted[field] || typeof want !== 'string' || !pool.has(want)) names[field] = want;
      else cond = { type: 'NamesAccepted', status: 'False', reason, message: `"${want}" is already in use` };
    };
    take('plural', used.resources, 'PluralConflict');
    take('singular', used.resources, 'SingularConflict');
    const shortNames = Array.isArray(requested['shortNames']) ? (requested['shortNames'] as string[]) : [];
    const clash = shortNames.filter((s) => !(accepted['shortNames'] as string[] | undefined)?.includes(s) && used.resources.has(s));
    if (clash.length) cond = { type: 'NamesAccepted', status: 'False', reason: 'ShortNamesConflict', message: clash.map((s) => `"${s}" is already in use`).join(', ') };
    else if (shortNames.length) names['shortNames'] = shortNames;
    else delete names['shortNames'];
    take('kind', used.kinds, 'KindConflict');
    take('listKind', used.kinds, 'ListKindConflict');
    if (requested['categories'] !== undefined) names['categories'] = requested['categories'];
    else delete names['categories'];
    return { names, accepted: cond };
  }

  /** Naming and establishing: the status the controllers would write. */
  function establish(crd: KubeObject): KubeObject {
    const next = structuredClone(crd);
    const { names, accepted } = acceptedNames(crd);
    rec(next['status'])['acceptedNames'] = names;
    const t = now();
    setCondition(next, accepted, t);
    if (accepted.status === 'True' && !conditionTrue(crd, 'Established')) {
      setCondition(next, { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' }, t);
    } else if (!conditions(crd).some((c) => c.type === 'Established')) {
      setCondition(next, { type: 'Established', status: 'False', reason: 'NotAccepted', message: 'not all names are accepted' }, t);
    }
    return next;
  }

  function serve(crd: KubeObject): void {
    const name = crd.metadata.name ?? '';
    if (!conditionTrue(crd, 'NamesAccepted') && !conditionTrue(crd, 'Established')) return;
    const existing = servedBy.get(name);
    if (existing) {
      updateKindForCrd(existing.spec, crd);
      existing.spec.verbs = VERBS;
      redecode(existing);
      return;
    }
    const spec = kindForCrd(crd);
    // A kind served by something else (a built-in group) keeps being served by it.
    if (store.kind(spec.group, spec.plural)) return;
    spec.verbs = VERBS;
    servedBy.set(name, registry.add(spec));
  }

  /** Stored objects read as the current schema decodes them, as the real server reads from etcd. */
  function redecode(kind: KindState): void {
    const schema = customResourceInfo(kind.spec)?.schema;
    if (!schema) return;
    for (const [key, obj] of kind.objects) {
      const copy = structuredClone(obj);
      decodeCustomResource(copy, schema);
      if (!jsonDeepEqual(copy, obj)) kind.objects.set(key, copy);
    }
  }

  function unserve(name: string): void {
    const kind = servedBy.get(name);
    if (!kind) return;
    servedBy.delete(name);
    registry.remove(kind.spec.group, kind.spec.plural);
  }

  /** CRDFinalizer.sync: delete the instances, then let the CRD go. */
  function finalize(crd: KubeObject): void {
    const name = crd.metadata.name ?? '';
    if (!(crd.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) return;
    const kind = servedBy.get(name);
    let next = structuredClone(crd);
    if (kind) kind.spec.verbs = TERMINATING_VERBS;
    if (kind && conditionTrue(crd, 'Established')) {
      setCondition(next, { type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' }, now());
      const current = write(crd, next);
      if (!current) return unserve(name);
      for (const obj of [...kind.objects.values()]) store.commitDelete(kind, store.prepareDelete(kind, obj, {}));
      // Instances with finalizers of their own keep the CRD Terminating until they are gone.
      if (kind.objects.size > 0) return;
      next = structuredClone(current);
      crd = current;
      setCondition(next, { type: 'Terminating', status: 'False', reason: 'InstanceDeletionCompleted', message: 'removed all instances' }, now());
    } else {
      setCondition(next, { type: 'Terminating', status: 'False', reason: 'NeverEstablished', message: 'resource was never established' }, now());
    }
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    if (!write(crd, next)) unserve(name);
  }

  function reconcile(name: string): void {
    const crd = crds().objects.get(name);
    if (!crd) return unserve(name);
    if (crd.metadata.deletionTimestamp) return finalize(crd);
    const next = establish(crd);
    serve(write(crd, next) ?? next);
  }

  const crdOf = (kind: KindSpec): KubeObject | undefined => {
    const info = customResourceInfo(kind);
    return info ? crds().objects.get(info.crdName) : undefined;
  };

  return {
    reconcile,
    afterInstanceWrite(kind) {
      const crd = crdOf(kind);
      if (crd?.metadata.deletionTimestamp) finalize(crd);
    },
    isTerminating(kind) {
      const crd = crdOf(kind);
      return crd !== undefined && (crd.metadata.deletionTimestamp !== undefined || conditionTrue(crd, 'Terminating'));
    },
  };
}
