// The API server's storage engine, in the role etcd plays for the real one:
// objects per kind, one global revision counter, a bounded history of
// writes (etcd's compaction window: lists at a past revision and continue
// tokens read from it), and the object-lifecycle rules applied in a write
// (create/update/delete, graceful deletion and finalizers, see deletion.ts).
// It knows nothing of requests; the router's handlers map requests onto it.
// Watch clients are served by the watch cache (watch-cache.ts), which
// follows the store's commits with a lag; `watch` here is the store's own
// synchronous feed, as an etcd watch would be.
//
// Stored objects are never mutated after they are committed: every write
// builds a new object, so references handed to watchers and responses stay
// valid snapshots.
import { randomUUID, randomInt } from 'node:crypto';
import type { KindSpec, KubeObject, FieldGetter } from './kinds.ts';
import { apiVersionOf, isRecord, sortKeys } from './kinds.ts';
import type { WatchSink } from './request.ts';
import type { LabelSelector, FieldRequirement } from './selectors.ts';
import type { FieldError, StatusObject } from './status.ts';
import { OBJECT_MODIFIED, alreadyExists, badRequest, conflict, expired, failure, forbidden, invalid, notFound } from './status.ts';
import { dns1123Label, dns1123Subdomain, pathSegmentName, quote, validateCommonMeta } from './validation.ts';
import type { DeleteOptions } from './delete-options.ts';
import { planDelete, planNamespaceDelete, shouldDeleteDuringUpdate, type DeletePlan } from './deletion.ts';
import { timestamp } from './timestamps.ts';

export type { DeleteOptions } from './delete-options.ts';
export type { DeletePlan } from './deletion.ts';
export { timestamp } from './timestamps.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed write. `prev` is the state before it (absent for ADDED). */
export interface HistoryEvent {
  rv: number;
  kind: KindState;
  key: string;
  namespace: string;
  type: EventType;
  object: KubeObject;
  prev: KubeObject | undefined;
  /** Serialised watch lines, shared by every watcher that gets the same line. */
  lines: Map<string, string>;
}

/** A filter for list and watch. */
export interface Filter {
  namespace?: string;
  label?: LabelSelector;
  fields: FieldRequirement[];
}

/** A live watch registered on one kind. */
export interface Watcher {
  readonly kind: KindState;
  readonly filter: Filter;
  readonly sink: WatchSink;
  readonly bookmarks: boolean;
}

/** Runtime state of one served kind. */
export interface KindState {
  readonly spec: KindSpec;
  readonly objects: Map<string, KubeObject>;
  readonly watchers: Set<Watcher>;
  sortedKeys: string[] | undefined;
}

/** The outcome of a committed delete: whether the object is gone, and the object to show. */
export interface DeleteResult {
  removed: boolean;
  object: KubeObject;
}

export interface StoreOptions {
  now: () => Date;
  historySize: number;
  /** New object UIDs; default random v4 UUIDs. The simulator passes a seeded source so runs replay exactly. */
  uid?: () => string;
  /** An integer in [0, n) for generateName suffixes; default crypto's. */
  randomInt?: (n: number) => number;
}

const GENERATE_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_GENERATED_BASE = 58;

export function objectKey(spec: KindSpec, namespace: string | undefined, name: string): string {
  return spec.namespaced ? `${namespace ?? ''}/${name}` : name;
}

/** Equality of two objects ignoring metadata.resourceVersion: a write that changes nothing else is a no-op. */
function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): unknown => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return JSON.stringify(sortKeys(strip(a))) === JSON.stringify(sortKeys(strip(b)));
}

/** Whether anything outside metadata (and status, when it is a subresource) differs: a generation change. */
function specChanged(spec: KindSpec, a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): unknown => {
    const c: Record<string, unknown> = { ...o };
    delete c['metadata'];
    delete c['apiVersion'];
    delete c['kind'];
    if (spec.statusSubresource) delete c['status'];
    return sortKeys(c);
  };
  return JSON.stringify(strip(a)) !== JSON.stringify(strip(b));
}

/** The in-memory API storage; see the file comment. */
export class Store {
  readonly kinds = new Map<string, KindState>();
  private rv = 0;
  private readonly history: HistoryEvent[] = [];
  /** Highest revision no longer in `history`: watches and pages from before it get 410. */
  private evictedUpTo = 0;
  private readonly listeners = new Set<(e: HistoryEvent) => void>();
  private readonly opts: StoreOptions;

  constructor(opts: StoreOptions) {
    this.opts = opts;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  addKind(spec: KindSpec): KindState {
    const id = `${spec.group}/${spec.plural}`;
    if (this.kinds.has(id)) throw new Error(`kind ${spec.plural}.${spec.group} is already registered`);
    const state: KindState = { spec, objects: new Map(), watchers: new Set(), sortedKeys: undefined };
    this.kinds.set(id, state);
    return state;
  }

  /** Stops serving a kind: its objects are gone, its watchers get nothing more (a deleted CRD's storage). */
  removeKind(group: string, plural: string): void {
    this.kinds.delete(`${group}/${plural}`);
  }

  kind(group: string, plural: string): KindState | undefined {
    return this.kinds.get(`${group}/${plural}`);
  }

  get(kind: KindState, namespace: string | undefined, name: string): KubeObject | undefined {
    return kind.objects.get(objectKey(kind.spec, namespace, name));
  }

  /** The injected clock, also used for managedFields times. */
  now(): Date {
    return this.opts.now();
  }

  // ---- writes -------------------------------------------------------------

  private commit(kind: KindState, key: string, type: EventType, next: KubeObject | undefined, prev: KubeObject | undefined): KubeObject {
    const rv = ++this.rv;
    let object: KubeObject;
    if (type === 'DELETED') {
      // Like etcd's watch, the deletion carries the deletion's revision.
      object = { ...prev!, metadata: { ...prev!.metadata, resourceVersion: String(rv) } };
      kind.objects.delete(key);
      kind.sortedKeys = undefined;
    } else {
      object = next!;
      object.metadata.resourceVersion = String(rv);
      if (type === 'ADDED') kind.sortedKeys = undefined;
      kind.objects.set(key, object);
    }
    const namespace = object.metadata.namespace ?? '';
    const event: HistoryEvent = { rv, kind, key, namespace, type, object, prev, lines: new Map() };
    this.history.push(event);
    const cap = this.opts.historySize;
    // Trim in batches so the array shift cost is amortised.
    if (this.history.length > cap + Math.max(64, cap >> 4)) {
      const drop = this.history.length - cap;
      this.evictedUpTo = this.history[drop - 1]!.rv;
      this.history.splice(0, drop);
    }
    for (const w of kind.watchers) deliver(w, event);
    for (const l of this.listeners) l(event);
    return object;
  }

  /** Every commit, synchronously and in order, as an etcd watch on the whole keyspace sees it; returns an unsubscribe. */
  subscribe(listener: (e: HistoryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The revision up to which history was compacted: reads at or before it are 410. */
  get compactedRevision(): number {
    return this.evictedUpTo;
  }

  /** Validates a create body and builds the object to store; AlreadyExists is left to commitCreate. */
  prepareCreate(kind: KindState, urlNamespace: string | undefined, body: unknown): KubeObject {
    const spec = kind.spec;
    const obj = checkBody(spec, body);
    const meta = obj.metadata;
    if (spec.namespaced) this.checkNamespaceAccepts(spec, urlNamespace ?? '', meta.name ?? meta.generateName ?? '');
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      // A plain storage error in the real server, hence 500 with reason Unknown.
      throw failure(500, 'Unknown', 'resourceVersion should not be set on objects to be created');
    }
    if (spec.namespaced) {
      if (meta.namespace && meta.namespace !== urlNamespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = urlNamespace;
    } else delete meta.namespace;
    if (!meta.name && meta.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_NAME_ALPHABET[(this.opts.randomInt ?? randomInt)(GENERATE_NAME_ALPHABET.length)];
      meta.name = meta.generateName.slice(0, MAX_GENERATED_BASE) + suffix;
    }
    const name = meta.name ?? '';
    const errs: FieldError[] = [];
    if (!name) errs.push({ field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' });
    else for (const e of spec.nameRule === 'path-segment' ? pathSegmentName(name) : spec.nameRule === 'label' ? dns1123Label(name) : dns1123Subdomain(name)) errs.push({ field: 'metadata.name', type: 'Invalid value', detail: `${quote(name)}: ${e}` });
    meta.uid = (this.opts.uid ?? randomUUID)();
    meta.creationTimestamp = timestamp(this.now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.resourceVersion;
    if (spec.hasGeneration) meta.generation = 1;
    else delete meta.generation;
    spec.defaults?.(obj);
    spec.prepareForCreate?.(obj);
    errs.push(...validateCommonMeta(meta), ...(spec.validate?.(obj) ?? []));
    if (errs.length) throw invalid(spec, name, errs);
    return obj;
  }

  /** Stores a prepared create: 409 AlreadyExists if the name is taken. */
  commitCreate(kind: KindState, obj: KubeObject): KubeObject {
    const key = objectKey(kind.spec, obj.metadata.namespace, obj.metadata.name!);
    if (kind.objects.has(key)) throw alreadyExists(kind.spec, obj.metadata.name!);
    // The namespace may have gone away or started terminating during admission.
    if (kind.spec.namespaced) this.checkNamespaceAccepts(kind.spec, obj.metadata.namespace ?? '', obj.metadata.name!);
    return this.commit(kind, key, 'ADDED', obj, undefined);
  }

  private checkNamespaceAccepts(spec: KindSpec, namespace: string, name: string): void {
    const ns = this.kind('', 'namespaces')?.objects.get(namespace);
    if (!ns) throw notFound({ group: '', plural: 'namespaces', kind: 'Namespace' }, namespace);
    if (ns.metadata.deletionTimestamp || (ns['status'] as { phase?: string } | undefined)?.phase === 'Terminating')
      throw forbidden(spec, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
  }

  /**
   * Builds the updated object from a PUT body (or a patched document), applying the
   * real server's precondition, immutability and status-subresource rules. Returns
   * `current` itself when the write would change nothing (no new revision, no event).
   */
  prepareUpdate(kind: KindState, current: KubeObject, body: unknown, opts: { subresource?: string; urlName: string; urlNamespace?: string }): KubeObject {
    const spec = kind.spec;
    const input = checkBody(spec, body);
    const meta = input.metadata;
    const cur = current.metadata;
    if ((meta.name ?? '') !== opts.urlName) throw badRequest(`the name of the object (${meta.name ?? ''}) does not match the name on the URL (${opts.urlName})`);
    if (spec.namespaced && meta.namespace && meta.namespace !== opts.urlNamespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (meta.uid && meta.uid !== cur.uid) throw conflict(spec, opts.urlName, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${cur.uid}`);
    if (meta.resourceVersion) {
      if (meta.resourceVersion !== cur.resourceVersion) throw conflict(spec, opts.urlName, OBJECT_MODIFIED);
    } else if (!spec.allowUnconditionalUpdate) {
      throw invalid(spec, opts.urlName, [{ field: 'metadata.resourceVersion', type: 'Invalid value', detail: '0x0: must be specified for an update' }]);
    }
    let next: KubeObject;
    if (opts.subresource === 'status') {
      // The body is decoded (defaulted, for custom resources pruned) like any other.
      spec.defaults?.(input);
      next = structuredClone(current);
      if (input['status'] === undefined) delete next['status'];
      else next['status'] = input['status'];
    } else {
      next = input;
      if (spec.statusSubresource) {
        if (current['status'] === undefined) delete next['status'];
        else next['status'] = structuredClone(current['status']);
      }
      spec.defaults?.(next);
    }
    spec.prepareForUpdate?.(next, current, opts.subresource);
    const m = next.metadata;
    // System-owned metadata cannot be changed by writes.
    m.name = cur.name;
    if (spec.namespaced) m.namespace = cur.namespace;
    else delete m.namespace;
    m.uid = cur.uid;
    m.creationTimestamp = cur.creationTimestamp;
    m.resourceVersion = cur.resourceVersion;
    if (cur.deletionTimestamp) m.deletionTimestamp = cur.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (cur.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = cur.deletionGracePeriodSeconds;
    else delete m.deletionGracePeriodSeconds;
    if (cur.generation !== undefined) m.generation = cur.generation;
    else delete m.generation;
    if (m.generateName === undefined) delete m.generateName;
    const errs: FieldError[] = [...validateCommonMeta(m)];
    if (cur.deletionTimestamp) {
      const old = new Set(cur.finalizers ?? []);
      const added = (m.finalizers ?? []).filter((f) => !old.has(f));
      if (added.length)
        errs.push({ field: 'metadata.finalizers', type: 'Forbidden', detail: `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}` });
    }
    errs.push(...(spec.validate?.(next, current, opts.subresource) ?? []), ...(spec.validateUpdate?.(next, current) ?? []));
    if (errs.length) throw invalid(spec, opts.urlName, errs);
    if (spec.hasGeneration && specChanged(spec, next, current)) m.generation = (cur.generation ?? 0) + 1;
    if (sameContent(next, current)) return current;
    return next;
  }

  /**
   * Stores a prepared update. When it leaves an object being deleted without
   * finalizers (and no grace period is running), the object is removed instead, as
   * the real server does; the result then says `removed`.
   */
  commitUpdate(kind: KindState, current: KubeObject, next: KubeObject): DeleteResult {
    const key = objectKey(kind.spec, current.metadata.namespace, current.metadata.name!);
    if (next === current) return { removed: false, object: current };
    if (shouldDeleteDuringUpdate(kind.spec, next, current)) return { removed: true, object: this.commit(kind, key, 'DELETED', undefined, current) };
    return { removed: false, object: this.commit(kind, key, 'MODIFIED', next, current) };
  }

  /** Decides what a DELETE does (deletion.ts): preconditions, graceful deletion, finalizers, namespace termination. */
  prepareDelete(kind: KindState, current: KubeObject, opts: DeleteOptions): DeletePlan {
    const isNamespace = kind.spec.group === '' && kind.spec.plural === 'namespaces';
    return (isNamespace ? planNamespaceDelete : planDelete)(kind.spec, current, opts, this.now().getTime());
  }

  /** Commits a delete plan: an update that changes nothing writes nothing; an update then removal writes both. */
  commitDelete(kind: KindState, plan: DeletePlan): DeleteResult {
    const key = objectKey(kind.spec, plan.current.metadata.namespace, plan.current.metadata.name!);
    if (plan.action === 'pending') return { removed: false, object: plan.current };
    if (plan.action === 'remove') return { removed: true, object: this.commit(kind, key, 'DELETED', undefined, plan.current) };
    const changed = !sameContent(plan.next, plan.current);
    const written = changed ? this.commit(kind, key, 'MODIFIED', plan.next, plan.current) : plan.current;
    if (!plan.remove) return { removed: false, object: written };
    return { removed: true, object: this.commit(kind, key, 'DELETED', undefined, written) };
  }

  // ---- reads --------------------------------------------------------------

  /** Checks a field selector against the kind's supported field labels; throws 400 like the real server. */
  checkFieldSelector(kind: KindState, fields: FieldRequirement[]): void {
    for (const f of fields) {
      if (kind.spec.fieldLabels[f.field]) continue;
      if (kind.spec.customResource) {
        const known = Object.keys(kind.spec.fieldLabels).map((k) => JSON.stringify(k)).join(', ');
        throw badRequest(`${JSON.stringify(f.field)} is not a known field selector: only ${known}`);
      }
      throw badRequest(`field label not supported: ${f.field}`);
    }
  }

  /**
   * Lists a kind as of `atRv` (default: now), sorted by key like etcd. Past revisions
   * are rebuilt from the history; 410 Expired once the history no longer covers them.
   */
  list(kind: KindState, filter: Filter, opts: { atRv?: number; startAfter?: string; limit?: number }): { items: KubeObject[]; rv: number; more: boolean; remaining: number } {
    const atRv = opts.atRv ?? this.rv;
    let source: (key: string) => KubeObject | undefined = (k) => kind.objects.get(k);
    let keys: string[];
    if (atRv >= this.rv) {
      keys = this.sortedKeys(kind);
    } else {
      if (atRv < this.evictedUpTo) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      const past = new Map<string, KubeObject | undefined>();
      for (let i = this.firstAfter(atRv); i < this.history.length; i++) {
        const e = this.history[i]!;
        if (e.kind === kind && !past.has(e.key)) past.set(e.key, e.prev);
      }
      const all = new Set(kind.objects.keys());
      for (const k of past.keys()) all.add(k);
      keys = [...all].sort();
      source = (k) => (past.has(k) ? past.get(k) : kind.objects.get(k));
    }
    let start = 0;
    if (opts.startAfter !== undefined) start = upperBound(keys, opts.startAfter);
    const items: KubeObject[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    let i = start;
    let more = false;
    for (; i < keys.length; i++) {
      const obj = source(keys[i]!);
      if (!obj || !matches(kind, filter, obj)) continue;
      if (items.length >= limit) {
        more = true;
        break;
      }
      items.push(obj);
    }
    let remaining = 0;
    if (more) for (let j = i; j < keys.length; j++) if (source(keys[j]!)) remaining++;
    return { items, rv: atRv, more, remaining };
  }

  /** One object as it was at revision `atRv` (recent enough to be in the history), or undefined. */
  getAt(kind: KindState, namespace: string | undefined, name: string, atRv: number): KubeObject | undefined {
    const key = objectKey(kind.spec, namespace, name);
    if (atRv >= this.rv) return kind.objects.get(key);
    for (let i = this.firstAfter(atRv); i < this.history.length; i++) {
      const e = this.history[i]!;
      if (e.kind === kind && e.key === key) return e.prev;
    }
    return kind.objects.get(key);
  }

  /** The retained history from the oldest write on, for a watch cache that starts late. */
  historySince(rv: number): readonly HistoryEvent[] {
    return this.history.slice(this.firstAfter(rv));
  }

  private sortedKeys(kind: KindState): string[] {
    if (!kind.sortedKeys) kind.sortedKeys = [...kind.objects.keys()].sort();
    return kind.sortedKeys;
  }

  private firstAfter(rv: number): number {
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.history[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Starts a watch. Without `sinceRv` the current matching objects are sent as ADDED
   * first; with it, history after it is replayed, or an ERROR 410 Expired is sent when
   * the history no longer reaches back that far (the caller then closes the stream).
   */
  watch(kind: KindState, filter: Filter, sink: WatchSink, opts: { sinceRv?: number; bookmarks: boolean }): Watcher | undefined {
    const w: Watcher = { kind, filter, sink, bookmarks: opts.bookmarks };
    if (opts.sinceRv === undefined) {
      for (const key of this.sortedKeys(kind)) {
        const obj = kind.objects.get(key)!;
        if (matches(kind, filter, obj)) sink.write(JSON.stringify({ type: 'ADDED', object: obj }) + '\n');
      }
    } else {
      if (opts.sinceRv < this.evictedUpTo) {
        const status: StatusObject = expired(`too old resource version: ${opts.sinceRv} (${this.evictedUpTo + 1})`).status;
        sink.write(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
        return undefined;
      }
      for (let i = this.firstAfter(opts.sinceRv); i < this.history.length; i++) {
        const e = this.history[i]!;
        if (e.kind === kind) deliver(w, e);
      }
    }
    kind.watchers.add(w);
    return w;
  }

  unwatch(w: Watcher): void {
    w.kind.watchers.delete(w);
  }

  /** Sends one watcher a BOOKMARK at the current revision: everything before it has been delivered. */
  bookmark(w: Watcher): void {
    const spec = w.kind.spec;
    w.sink.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: spec.kind, apiVersion: apiVersionOf(spec), metadata: { resourceVersion: String(this.rv) } } }) + '\n');
  }
}

/** Whether `obj` passes a list/watch filter. */
export function matches(kind: KindState, filter: Filter, obj: KubeObject): boolean {
  if (filter.namespace !== undefined && obj.metadata.namespace !== filter.namespace) return false;
  if (filter.label && !filter.label.matches(obj.metadata.labels)) return false;
  for (const f of filter.fields) {
    const get: FieldGetter | undefined = kind.spec.fieldLabels[f.field];
    const v = get ? get(obj) : '';
    if (f.op === '=' ? v !== f.value : v === f.value) return false;
  }
  return true;
}

/**
 * Delivers one event to a watcher with the watch cache's selector semantics: an object
 * that starts matching arrives as ADDED, one that stops matching as DELETED carrying its
 * previous content at the new revision.
 */
export function deliver(w: Watcher, e: HistoryEvent): void {
  const f = w.filter;
  if (f.namespace !== undefined && e.namespace !== f.namespace) return;
  const curPasses = e.type !== 'DELETED' && matches(w.kind, f, e.object);
  const oldPasses = e.prev !== undefined && matches(w.kind, f, e.prev);
  let type: EventType;
  let which: 'object' | 'prev';
  if (curPasses && !oldPasses) [type, which] = ['ADDED', 'object'];
  else if (curPasses && oldPasses) [type, which] = ['MODIFIED', 'object'];
  else if (!curPasses && oldPasses) [type, which] = ['DELETED', e.type === 'DELETED' ? 'object' : 'prev'];
  else return;
  const cacheKey = `${type}:${which}`;
  let line = e.lines.get(cacheKey);
  if (line === undefined) {
    const object = which === 'object' ? e.object : { ...e.prev!, metadata: { ...e.prev!.metadata, resourceVersion: String(e.rv) } };
    line = JSON.stringify({ type, object }) + '\n';
    e.lines.set(cacheKey, line);
  }
  w.sink.write(line);
}

function upperBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Checks a request body's type and identity (kind/apiVersion) and returns a private copy
 * with metadata present. Custom resources must name their kind and apiVersion; built-in
 * kinds default them from the URL, as typed decoding in the real server does.
 */
export function checkBody(spec: KindSpec, body: unknown): KubeObject {
  if (!isRecord(body)) throw badRequest(`the body of the request must be a JSON object`);
  const gv = apiVersionOf(spec);
  const obj = structuredClone(body) as KubeObject;
  if (spec.customResource) {
    if (typeof obj.kind !== 'string' || obj.kind === '') throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    if (typeof obj.apiVersion !== 'string' || obj.apiVersion === '') throw badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body)}'`);
  }
  if (obj.apiVersion !== undefined && obj.apiVersion !== '' && obj.apiVersion !== gv)
    throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${gv})`);
  if (obj.kind !== undefined && obj.kind !== '' && obj.kind !== spec.kind) throw badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${spec.kind})`);
  obj.apiVersion = gv;
  obj.kind = spec.kind;
  if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
  if (!isRecord(obj.metadata)) throw badRequest('metadata must be an object');
  const m = obj.metadata;
  for (const f of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion'] as const) {
    if (m[f] !== undefined && m[f] !== null && typeof m[f] !== 'string') throw badRequest(`json: cannot unmarshal ${typeof m[f]} into Go struct field ObjectMeta.metadata.${f} of type string`);
    if (m[f] === null) delete m[f];
  }
  return obj;
}

