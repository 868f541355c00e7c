// The known bugs the simulator must catch, each planted into the real code
// through its dependency seams (src/sim/plant.ts). Each undoes exactly one
// safety rule of docs/gc.md or docs/simulate.md. They live with the tests:
// only test code and `npm run sim` can plant them, never a shipped build.
import { readFreshGcView } from '../../src/controller/gc.ts';
import { planGcVerdict } from '../../src/ipam/gc-rules.ts';
import type { AllocationRecord, AllocationStore } from '../../src/store/port.ts';
import type { PoolScopedStore } from '../../src/agent/kube-agent.ts';
import type { Plant } from '../../src/sim/plant.ts';

export type PlantName = 'release-ignores-owner' | 'trust-cache' | 'first-sighting' | 'no-cooldown' | 'forget-ordinal' | 'sts-like-deployment' | 'del-forgets-vm' | 'vm-like-pod';

/** `store` with some members replaced; the rest (getters included) still read the original. */
function override(store: PoolScopedStore, patch: Partial<PoolScopedStore>): PoolScopedStore {
  return new Proxy(store, { get: (target, key) => (key in patch ? patch[key as keyof PoolScopedStore] : Reflect.get(target, key)) });
}

/** A release that frees the IP whoever holds it now: it reads the current owner and names that one. */
function ignoreOwner<S extends Pick<AllocationStore, 'release' | 'list'>>(store: S): S {
  return {
    ...store,
    async release(pool, ip, owner, at, reusableAt) {
      const held = (await store.list({ pool })).find((r) => r.ip === ip);
      return store.release(pool, ip, held ? { containerId: held.containerId, ifname: held.ifname, podUid: held.podUid } : owner, at, reusableAt);
    },
  };
}

/** A VM's record as if it had no stable identity: only its pod speaks for it. */
const withoutVm = <R extends { stableKey?: string | undefined }>(r: R): R => (r.stableKey?.startsWith('vm:') ? { ...r, stableKey: undefined } : r);

export const PLANTS: Readonly<Record<PlantName, Plant & { readonly name: PlantName }>> = {
  'release-ignores-owner': {
    name: 'release-ignores-owner',
    description: 'releases skip the owner check: a late DEL or a stale reclaim frees an IP that a new pod holds',
    agentStore: (store) => override(store, { release: ignoreOwner(store).release }),
    gc: (deps) => ({ ...deps, store: ignoreOwner(deps.store as AllocationStore) }),
  },
  'trust-cache': {
    name: 'trust-cache',
    description: "the garbage collector releases on its cache's word, without a fresh read",
    gc: (deps) => ({ ...deps, confirm: async (_rest, _record, cached) => cached }),
  },
  'first-sighting': {
    name: 'first-sighting',
    description: 'a periodic scan releases what it finds at the first sighting, on the word of the cache it scanned',
    gc: (deps) => {
      const confirm = deps.confirm ?? readFreshGcView;
      return {
        ...deps,
        settings: { ...deps.settings, orphanConfirmMs: 0 },
        confirm: (rest, record, cached, reason, found) => (found === 'periodic-scan' ? Promise.resolve(cached) : confirm(rest, record, cached, reason, found)),
      };
    },
  },
  'no-cooldown': {
    name: 'no-cooldown',
    description: 'a reclaimed IP is handed out again at once (no reclaim cooldown, reusableAt ignored)',
    agentStore: (store) => override(store, { usageView: (pool, family) => ({ ...store.usageView!(pool, family), reusableAt: new Map() }) }),
    gc: (deps) => ({ ...deps, settings: { ...deps.settings, reclaimCooldownMs: 0 } }),
  },
  'forget-ordinal': {
    name: 'forget-ordinal',
    description: "the garbage collector keeps a StatefulSet pod's IP while the StatefulSet exists, whatever its replicas",
    gc: (deps) => {
      const verdict = deps.verdict;
      return {
        ...deps,
        verdict: (record, view, settings, now) => {
          const v = (verdict ?? planGcVerdict)(record, view, settings, now);
          return v.action !== 'keep' && v.reason === 'statefulset-scaled-down' ? { action: 'keep', why: 'planted: ordinal not checked' } : v;
        },
      };
    },
  },
  'sts-like-deployment': {
    name: 'sts-like-deployment',
    description: "the garbage collector treats a StatefulSet pod's IP like any pod's: gone with the pod, not kept for the ordinal",
    gc: (deps) => {
      const verdict = deps.verdict ?? planGcVerdict;
      // Only a StatefulSet's identity: VMs have their own plant.
      return { ...deps, verdict: (record, view, settings, now) => verdict(record.stableKey?.startsWith('sts:') ? { ...record, stableKey: undefined } : record, view, settings, now) };
    },
  },
  'del-forgets-vm': {
    name: 'del-forgets-vm',
    description: "a DEL keeps a VM's IPs only while the pod it names lives, not while the VM exists",
    agentPolicy: (policy) => ({
      ...policy,
      async retain(records) {
        const plain = records.map(withoutVm);
        const kept = await policy.retain!(plain);
        return new Set(records.filter((_r, i) => kept.has(plain[i]!)) as AllocationRecord[]);
      },
    }),
  },
  'vm-like-pod': {
    name: 'vm-like-pod',
    description: "the garbage collector treats a VM's IP like any pod's: gone with the pod the record names, not kept for the VM",
    gc: (deps) => {
      const verdict = deps.verdict ?? planGcVerdict;
      return { ...deps, verdict: (record, view, settings, now) => verdict(withoutVm(record), view, settings, now) };
    },
  },
};
