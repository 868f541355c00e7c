import { createHash } from 'node:crypto';
import { TidepoolError } from '../ipam/errors.ts';
import { parseAddress, type Family } from '../ipam/address.ts';
import type { UsageView } from '../ipam/allocate.ts';
import { TIDEPOOL_API_VERSION, validateRecord, type IPAllocationOwner, type IPAllocationResource } from '../api/crd-schemas.ts';
import { createInformer, type Informer } from '../k8s/informer.ts';
import { isConflict, isNotFound, type KubeRest } from '../k8s/rest.ts';
import { storeError } from './kube-errors.ts';
import type { AllocationRecord, AllocationStore, ListFilter, OwnerRef, PoolUsage } from './port.ts';

/**
 * The store port on the Kubernetes API server, one IPAllocation object per
 * IP (docs/adr/0005-allocation-records.md). Reserves are conditional writes
 * on that one object (create, or update at the released copy's
 * resourceVersion); releases and transfers check the owner on a copy (the
 * cached one first, a fresh read after a lost write) and write at that copy's
 * resourceVersion, so a stale caller can never change an IP someone else
 * holds. Reads (list, usage) come from a watch
 * cache, which may lag: that can cost a conflict, never a duplicate.
 */

export const IPALLOCATIONS_PATH = '/apis/tidepool.dev/v1alpha1/ipallocations';
export const LABEL_POOL = 'tidepool.dev/pool';
export const LABEL_NODE = 'tidepool.dev/node';
export const LABEL_STATE = 'tidepool.dev/state';
/** A hash of the holder's stable identity (StatefulSet ordinal, VM): lets an agent find those records on the API server itself. */
export const LABEL_STABLE = 'tidepool.dev/stable-key';

/** The label value for a stable identity: label values stop at 63 characters, identities do not. */
export function stableKeyLabel(stableKey: string): string {
  return createHash('sha256').update(stableKey).digest('hex').slice(0, 40);
}

type IPAllocationObject = IPAllocationResource & { metadata: IPAllocationResource['metadata'] & { resourceVersion?: string; uid?: string; labels?: Record<string, string> } };

/** Indexes the store reads through; a shared informer handed to the store must have them. */
export const ALLOCATION_INDEXERS: Readonly<Record<string, (o: IPAllocationObject) => readonly string[]>> = {
  pool: (o) => (typeof o.spec?.pool === 'string' ? [o.spec.pool] : []),
  podUid: (o) => (typeof o.spec?.owner?.podUid === 'string' ? [o.spec.owner.podUid] : []),
  containerId: (o) => (typeof o.spec?.owner?.containerId === 'string' ? [o.spec.owner.containerId] : []),
  node: (o) => (typeof o.spec?.owner?.node === 'string' ? [o.spec.owner.node] : []),
};

export interface KubernetesStoreOptions {
  readonly rest: KubeRest;
  /**
   * A running IPAllocation informer to share (with ALLOCATION_INDEXERS), e.g.
   * the controller's; the store then neither starts nor stops it.
   */
  readonly informer?: Informer<IPAllocationObject>;
  /** Limits the cache, e.g. `tidepool.dev/pool in (a,b)`, so memory follows the pools a node may use. */
  readonly labelSelector?: string;
  /** Reports an IPAllocation that does not match the schema; such objects are skipped, never changed. */
  readonly onInvalid?: (name: string, problems: readonly string[]) => void;
  readonly onError?: (err: unknown, next: 'relist' | 'rewatch') => void;
  readonly delay?: (ms: number) => Promise<void>;
}

export interface KubernetesStore extends AllocationStore {
  readonly informer: Informer<IPAllocationObject>;
  usageView(pool: string, family: Family): UsageView;
  listStable(stableKey: string): Promise<AllocationRecord[]>;
  onFree(listener: (pool: string) => void): void;
}

type LiveUsage = { family: Family; allocated: Set<bigint>; releasedAt: Map<bigint, number>; reusableAt: Map<bigint, number> };

/** Object name of (pool, ip): `<pool>.<ip>`, IPv6 colons as dashes (canonical text makes it unambiguous). */
export function allocationName(pool: string, ip: string): string {
  const name = `${pool}.${ip.replace(/:/g, '-')}`;
  // A DNS-1123 name must end alphanumeric; only "x::" can end in '-'.
  return name.endsWith('-') ? `${name}0` : name;
}

const MAX_WRITE_ATTEMPTS = 5;

export async function createKubernetesStore(opts: KubernetesStoreOptions): Promise<KubernetesStore> {
  const { rest } = opts;
  const reported = new Set<string>();
  const shared = opts.informer !== undefined;
  const informer =
    opts.informer ??
    createInformer<IPAllocationObject>({
      rest,
      path: IPALLOCATIONS_PATH,
      labelSelector: opts.labelSelector,
      indexers: ALLOCATION_INDEXERS,
      delay: opts.delay,
      onError: opts.onError,
    });
  // Cached objects are never mutated (a change is a new object), so validity is computed once per version.
  const validity = new WeakMap<IPAllocationObject, boolean>();
  function valid(obj: IPAllocationObject): boolean {
    const known = validity.get(obj);
    if (known !== undefined) return known;
    const problems = validateRecord('IPAllocation', obj);
    validity.set(obj, problems.length === 0);
    if (problems.length === 0) return true;
    const name = obj.metadata?.name ?? '<unnamed>';
    const key = `${name}@${obj.metadata?.resourceVersion}`;
    if (!reported.has(key)) {
      reported.add(key);
      opts.onInvalid?.(name, problems);
    }
    return false;
  }

  let closed = false;
  // Parsed usage per pool, built on first use and then kept current from the watch (and our own writes,
  // which the informer observes): planning an allocation never re-reads or re-parses the pool.
  const views = new Map<string, LiveUsage>();
  const account = (obj: IPAllocationObject | undefined, sign: 1 | -1) => {
    const pool = obj?.spec?.pool;
    const view = typeof pool === 'string' ? views.get(pool) : undefined;
    const ip = obj && typeof obj.spec?.ip === 'string' ? parseAddress(obj.spec.ip) : undefined;
    if (!view || !ip || ip.family !== view.family) return;
    view.allocated.delete(ip.value);
    view.releasedAt.delete(ip.value);
    view.reusableAt.delete(ip.value);
    if (sign < 0) return;
    // A malformed record still occupies its IP: never hand it out on a guess.
    if (!valid(obj!) || obj!.spec.owner) view.allocated.add(ip.value);
    else {
      view.releasedAt.set(ip.value, obj!.spec.releasedAt ? Date.parse(obj!.spec.releasedAt) : 0);
      if (obj!.spec.reusableAt) view.reusableAt.set(ip.value, Date.parse(obj!.spec.reusableAt));
    }
  };
  const freeListeners = new Set<(pool: string) => void>();
  const holds = (o: IPAllocationObject | undefined) => o !== undefined && (!valid(o) || o.spec.owner !== undefined);
  informer.onChange((type, obj, old) => {
    account(old, -1);
    account(obj, type === 'DELETED' ? -1 : 1);
    const pool = old?.spec?.pool;
    if (freeListeners.size > 0 && typeof pool === 'string' && holds(old) && (type === 'DELETED' || !holds(obj))) for (const l of freeListeners) l(pool);
  });
  if (!shared) informer.start();
  await informer.waitForSync();

  function ensureOpen(op: string): void {
    if (closed) throw new TidepoolError('IO_FAILURE', `kubernetes store is closed (${op})`);
  }

  function objectFor(record: AllocationRecord, base?: IPAllocationObject): IPAllocationObject {
    const labels: Record<string, string> = { ...base?.metadata.labels, [LABEL_POOL]: record.pool, [LABEL_NODE]: record.node, [LABEL_STATE]: 'allocated' };
    if (record.stableKey !== undefined) labels[LABEL_STABLE] = stableKeyLabel(record.stableKey);
    else delete labels[LABEL_STABLE];
    return {
      apiVersion: TIDEPOOL_API_VERSION,
      kind: 'IPAllocation',
      metadata: {
        name: allocationName(record.pool, record.ip),
        ...(base?.metadata.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
        labels,
      },
      spec: { pool: record.pool, ip: record.ip, owner: toOwner(record) },
    };
  }

  async function fresh(name: string): Promise<IPAllocationObject | undefined> {
    try {
      return await rest.get<IPAllocationObject>(`${IPALLOCATIONS_PATH}/${name}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw storeError(err, 'get');
    }
  }

  async function replace(obj: IPAllocationObject): Promise<IPAllocationObject | undefined> {
    try {
      const written = await rest.replace<IPAllocationObject>(`${IPALLOCATIONS_PATH}/${obj.metadata.name}`, obj);
      informer.observe(written);
      return written;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return undefined;
      throw storeError(err, 'update');
    }
  }

  /**
   * Writes `next(current)` only while `owner` holds the IP, at the resourceVersion the owner was checked at.
   * The cached copy usually is the current one: when it shows the owner, the write goes at its
   * resourceVersion with no read first (a stale copy loses with 409). Otherwise, and after a lost write,
   * it re-reads, checks the holder again and retries.
   */
  async function rewriteHeld(pool: string, ip: string, owner: OwnerRef, next: (current: IPAllocationObject) => IPAllocationObject): Promise<boolean> {
    const name = allocationName(pool, ip);
    const cached = informer.get(name);
    if (cached && valid(cached) && heldBy(cached, owner) && (await replace(next(cached)))) return true;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const current = await fresh(name);
      if (!current || !valid(current) || !heldBy(current, owner)) return false;
      if (await replace(next(current))) return true;
    }
    throw new TidepoolError('STORE_BUSY', `IPAllocation ${name} kept changing; gave up after ${MAX_WRITE_ATTEMPTS} attempts`, { name });
  }

  return {
    // One object per (pool, IP); the webhook keeps pools apart (see AddressScope).
    addressScope: 'pool',
    informer,

    async reserve(record) {
      ensureOpen('reserve');
      const name = allocationName(record.pool, record.ip);
      let known = informer.get(name);
      for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
        if (!known) {
          try {
            const created = await rest.create<IPAllocationObject>(IPALLOCATIONS_PATH, objectFor(record));
            informer.observe(created);
            return true;
          } catch (err) {
            if (!isConflict(err)) throw storeError(err, 'create');
            known = await fresh(name);
            if (!known) continue;
          }
        }
        if (!valid(known) || known.spec.owner) return false;
        const written = await replace(objectFor(record, known));
        if (written) return true;
        // Someone wrote it after our read: only a fresh look tells whether it is still free.
        known = await fresh(name);
      }
      return false;
    },

    async release(pool, ip, owner, releasedAt, reusableAt) {
      ensureOpen('release');
      return rewriteHeld(pool, ip, owner, (current) => ({
        ...current,
        metadata: { ...current.metadata, labels: { ...current.metadata.labels, [LABEL_STATE]: 'released' } },
        spec: {
          pool: current.spec.pool,
          ip: current.spec.ip,
          releasedAt: new Date(releasedAt).toISOString(),
          ...(reusableAt !== undefined ? { reusableAt: new Date(reusableAt).toISOString() } : {}),
        },
      }));
    },

    async transfer(from, to) {
      ensureOpen('transfer');
      return rewriteHeld(to.pool, to.ip, from, (current) => objectFor(to, current));
    },

    async list(filter: ListFilter = {}) {
      ensureOpen('list');
      // Start from the most selective index the filter allows.
      const source =
        filter.podUid !== undefined
          ? informer.byIndex('podUid', filter.podUid)
          : filter.containerId !== undefined
            ? informer.byIndex('containerId', filter.containerId)
            : filter.pool !== undefined
              ? informer.byIndex('pool', filter.pool)
              : filter.node !== undefined
                ? informer.byIndex('node', filter.node)
                : informer.list();
      const out: AllocationRecord[] = [];
      for (const obj of source) {
        if (!obj.spec?.owner || !valid(obj)) continue;
        const r = toRecord(obj);
        if (filter.containerId !== undefined && r.containerId !== filter.containerId) continue;
        if (filter.ifname !== undefined && r.ifname !== filter.ifname) continue;
        if (filter.node !== undefined && r.node !== filter.node) continue;
        if (filter.stableKey !== undefined && r.stableKey !== filter.stableKey) continue;
        if (filter.podUid !== undefined && r.podUid !== filter.podUid) continue;
        if (filter.pool !== undefined && r.pool !== filter.pool) continue;
        out.push(r);
      }
      return out.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    },

    async listStable(stableKey) {
      ensureOpen('listStable');
      let items: IPAllocationObject[];
      try {
        items = (await rest.list<IPAllocationObject>(IPALLOCATIONS_PATH, { labelSelector: `${LABEL_STABLE}=${stableKeyLabel(stableKey)}` })).items;
      } catch (err) {
        throw storeError(err, 'list');
      }
      // The label is a hash: keep only what really belongs to this identity, and only what is held.
      return items.filter((o) => valid(o) && o.spec.owner && stableKeyOf(o.spec.owner) === stableKey).map(toRecord);
    },

    async usage(pool): Promise<PoolUsage> {
      ensureOpen('usage');
      const allocated: string[] = [];
      const released: Array<[string, number] | [string, number, number]> = [];
      for (const obj of informer.byIndex('pool', pool)) {
        // A malformed record still occupies its IP: never hand it out on a guess.
        if (!valid(obj)) {
          if (typeof obj.spec?.ip === 'string') allocated.push(obj.spec.ip);
          continue;
        }
        if (obj.spec.owner) allocated.push(obj.spec.ip);
        else {
          const at = obj.spec.releasedAt ? Date.parse(obj.spec.releasedAt) : 0;
          released.push(obj.spec.reusableAt ? [obj.spec.ip, at, Date.parse(obj.spec.reusableAt)] : [obj.spec.ip, at]);
        }
      }
      released.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      return { allocated: allocated.sort(), released };
    },


    onFree(listener) {
      freeListeners.add(listener);
    },

    usageView(pool, family) {
      let view = views.get(pool);
      if (!view || view.family !== family) {
        view = { family, allocated: new Set(), releasedAt: new Map(), reusableAt: new Map() };
        views.set(pool, view);
        for (const obj of informer.byIndex('pool', pool)) account(obj, 1);
      }
      return view;
    },

    async close() {
      closed = true;
      if (!shared) await informer.stop();
    },
  };
}

function stableKeyOf(o: IPAllocationOwner): string | undefined {
  return o.statefulSet ? `sts:${o.statefulSet.namespace}/${o.statefulSet.name}/${o.statefulSet.ordinal}` : o.vm ? `vm:${o.vm.namespace}/${o.vm.name}` : undefined;
}

function heldBy(obj: IPAllocationObject, owner: OwnerRef): boolean {
  const o = obj.spec.owner;
  if (o && owner.stableKey !== undefined && o.ifname === owner.ifname && stableKeyOf(o) === owner.stableKey) return true;
  if (!o || o.containerId !== owner.containerId || o.ifname !== owner.ifname) return false;
  return owner.podUid === undefined || o.podUid === owner.podUid;
}

function toOwner(r: AllocationRecord): IPAllocationOwner {
  const owner: IPAllocationOwner = {
    node: r.node,
    containerId: r.containerId,
    ifname: r.ifname,
    netns: r.netns,
    allocatedAt: new Date(r.allocatedAt).toISOString(),
  };
  if (r.netnsId !== undefined) owner.netnsId = r.netnsId;
  if (r.network !== undefined) owner.network = r.network;
  if (r.podNamespace !== undefined) owner.podNamespace = r.podNamespace;
  if (r.podName !== undefined) owner.podName = r.podName;
  if (r.podUid !== undefined) owner.podUid = r.podUid;
  const sts = r.stableKey && /^sts:([^/]+)\/([^/]+)\/(\d+)$/.exec(r.stableKey);
  const vm = r.stableKey && /^vm:([^/]+)\/([^/]+)$/.exec(r.stableKey);
  if (sts) owner.statefulSet = { namespace: sts[1]!, name: sts[2]!, ordinal: Number(sts[3]) };
  else if (vm) owner.vm = { namespace: vm[1]!, name: vm[2]! };
  if (r.hold !== undefined) {
    owner.hold = { reason: r.hold.reason, mac: r.hold.mac, until: new Date(r.hold.until).toISOString(), ...(r.hold.detectedFor !== undefined ? { detectedFor: r.hold.detectedFor } : {}) };
  }
  return owner;
}

function toRecord(obj: IPAllocationObject): AllocationRecord {
  const o = obj.spec.owner!;
  const stableKey = stableKeyOf(o);
  const r: { -readonly [K in keyof AllocationRecord]: AllocationRecord[K] } = {
    pool: obj.spec.pool,
    ip: obj.spec.ip,
    containerId: o.containerId,
    ifname: o.ifname,
    netns: o.netns ?? '',
    node: o.node,
    allocatedAt: Date.parse(o.allocatedAt),
  };
  if (o.netnsId !== undefined) r.netnsId = o.netnsId;
  if (o.network !== undefined) r.network = o.network;
  if (o.podNamespace !== undefined) r.podNamespace = o.podNamespace;
  if (o.podName !== undefined) r.podName = o.podName;
  if (o.podUid !== undefined) r.podUid = o.podUid;
  if (stableKey !== undefined) r.stableKey = stableKey;
  if (o.hold !== undefined) r.hold = { reason: o.hold.reason, mac: o.hold.mac, until: Date.parse(o.hold.until), ...(o.hold.detectedFor !== undefined ? { detectedFor: o.hold.detectedFor } : {}) };
  return r;
}
