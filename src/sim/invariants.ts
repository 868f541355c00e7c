import { parseAddress } from '../ipam/address.ts';
import { planPool, type Pool } from '../ipam/pool.ts';
import { parseRangeSpec, rangesContain, type IPRange } from '../ipam/range.ts';
import { allocationName } from '../store/kubernetes.ts';
import type { KubeObject } from '../k8s/rest.ts';
import { WATCH_CACHE_LAG_MAX_MS, type SimApiServer } from './api-server.ts';
import type { Scenario } from './scenario.ts';
import { planLauncherOf } from './virtual-machines.ts';
import type { Sandbox, World, PodObject } from './world.ts';

/** The rules checked after every step; docs/simulate.md states each one. */
export type InvariantName = 'unique-ip' | 'live-pod-keeps-ip' | 'sts-keeps-ip' | 'vm-keeps-ip' | 'leak-bound' | 'counts-agree' | 'valid-handout';

export interface Violation {
  readonly invariant: InvariantName;
  readonly at: number;
  readonly message: string;
  /** IPs (`pool/ip`) and pods (`ns/name`) involved, to pick the trace lines that matter. */
  readonly subjects: readonly string[];
}

interface AllocationObject extends KubeObject {
  spec?: {
    pool?: string;
    ip?: string;
    owner?: {
      podNamespace?: string;
      podName?: string;
      podUid?: string;
      node?: string;
      ifname?: string;
      statefulSet?: { namespace: string; name: string; ordinal: number };
      vm?: { namespace: string; name: string };
    };
  };
}

export interface Checker {
  /** Checks the step's state; returns new violations. */
  afterStep(): Violation[];
  /** The end-of-run checks, after the settle phase. */
  final(): Violation[];
  /** An ADD succeeded: its IPs must have been allocatable when it ran. */
  handout(sb: Sandbox, ips: readonly string[], startedAt: number): Violation[];
  /** Allocated IPs whose owner is gone, per pool, right now. */
  leakedByPool(): Map<string, number>;
  /** The most IPs leaked at once at any check so far. */
  readonly peakLeaked: number;
  /** The longest time one IP stayed leaked before it was freed (or until now). */
  readonly longestLeakMs: number;
  readonly bound: number;
}

/**
 * The oracle. It reads only the simulated world (kubelets' sandboxes, the API
 * server's objects) and decides from first principles, never by calling the
 * rules under test.
 */
export function createChecker(deps: { scenario: Scenario; api: SimApiServer; world: World; now: () => number }): Checker {
  const { scenario, api, world, now } = deps;
  const f = scenario.faults;
  const g = scenario.gc;
  // The docs/gc.md bound (2 s with the controller running), plus what the scenario's faults add:
  // late watch events (the API server's own watch cache lag, and the link's delays) and relists;
  // with API errors, the confirmation retries (1+2+…+32 s) and the periodic scans.
  const apiFaults = f.apiError > 0 || f.apiTimeout > 0 || f.apiConflict > 0;
  const watchLate = WATCH_CACHE_LAG_MAX_MS + f.watchDelayMaxMs;
  const bound = 2_000 + watchLate + (f.apiSlow > 0 ? 4 * f.apiSlowMaxMs : 0) + (f.watchDropPerMin > 0 ? 6_000 : 0) + (apiFaults ? 63_000 + 10_000 + 2 * g.scanIntervalMs + g.orphanConfirmMs : 0);
  // After a takeover the new leader must sync its caches and scan: allowed on top of the bound.
  const takeoverSlack = 5_000;
  // IPPool.status is written from the controller's cache, debounced by 1 s: it may trail the records by that, plus what faults add.
  const countsBound = 3_000 + watchLate + (f.apiSlow > 0 ? 4 * f.apiSlowMaxMs : 0) + (f.watchDropPerMin > 0 ? 6_000 : 0) + (apiFaults ? 30_000 : 0);
  const leakSince = new Map<string, number>();
  let peakLeaked = 0;
  let longestLeakMs = 0;
  const poolChangedAt = new Map<string, number>();
  api.store.watch(api.kind('ipallocations'), { fields: [] }, {
    write(line) {
      const e = JSON.parse(line) as { object: AllocationObject };
      poolChangedAt.set(e.object.spec?.pool ?? '', now());
    },
  }, { bookmarks: false });
  const reported = new Set<string>();
  // KubeVirt's kinds are served only when the scenario has VMs.
  const hasVms = scenario.workloads.some((w) => w.kind === 'VirtualMachine');
  /** The VirtualMachine, unless it is gone or being deleted. */
  const liveVm = (ns: string | undefined, name: string): KubeObject | undefined => {
    if (!hasVms) return undefined;
    const vm = api.store.get(api.kind('virtualmachines'), ns, name) as KubeObject | undefined;
    return vm && !vm.metadata.deletionTimestamp ? vm : undefined;
  };
  // The IPs each VM got at its first ADD, by the VM's UID: the same VM (never deleted) keeps them for good.
  const vmIps = new Map<string, { vmUid: string; ips: string; pod: string }>();
  // Which VMI each virt-launcher pod ran, by pod UID, remembered past the pod: a completed source pod is deleted at once, before kubelet tears its sandbox down.
  const launcherVmi = new Map<string, string>();
  if (hasVms) {
    api.store.watch(api.kind('pods'), { fields: [] }, {
      write(line) {
        const e = JSON.parse(line) as { object: KubeObject };
        const launcher = planLauncherOf(e.object);
        if (launcher) launcherVmi.set(e.object.metadata.uid ?? '', launcher.vmiUid);
      },
    }, { bookmarks: false });
  }

  // Pool and ReservedIP versions over time, for valid-handout (an agent may act on a version it saw a moment ago).
  const poolHistory = new Map<string, Array<{ at: number; pool: Pool | undefined }>>();
  const reservedHistory: Array<{ at: number; ranges: IPRange[] }> = [];
  const recordPool = (obj: KubeObject | undefined, name: string) => {
    let pool: Pool | undefined;
    try {
      pool = obj ? planPool(obj) : undefined;
    } catch {
      pool = undefined;
    }
    const list = poolHistory.get(name) ?? [];
    list.push({ at: now(), pool });
    poolHistory.set(name, list);
  };
  const recordReserved = () => {
    const ranges: IPRange[] = [];
    for (const r of api.objects('reservedips') as Iterable<KubeObject & { spec?: { ips?: string[] } }>) for (const t of r.spec?.ips ?? []) {
      const range = parseRangeSpec(t);
      if (range) ranges.push(range);
    }
    reservedHistory.push({ at: now(), ranges });
  };
  api.store.watch(api.kind('ippools'), { fields: [] }, {
    write(line) {
      const e = JSON.parse(line) as { type: string; object: KubeObject };
      recordPool(e.type === 'DELETED' ? undefined : e.object, e.object.metadata.name ?? '');
    },
  }, { bookmarks: false });
  api.store.watch(api.kind('reservedips'), { fields: [] }, { write: () => recordReserved() }, { bookmarks: false });
  recordReserved();

  // What each StatefulSet ordinal last got, while its StatefulSet keeps wanting it (same UID, ordinal below replicas).
  const stableIps = new Map<string, { stsUid: string; ips: string; pod: string }>();
  api.store.watch(api.kind('statefulsets'), { fields: [] }, {
    write(line) {
      const e = JSON.parse(line) as { type: string; object: KubeObject & { spec?: { replicas?: number } } };
      const prefix = `${e.object.metadata.namespace}/${e.object.metadata.name}/`;
      for (const [key, v] of stableIps) {
        if (!key.startsWith(prefix)) continue;
        const ordinal = Number(key.slice(prefix.length));
        // Scaled below the ordinal or deleted: its IP may go, and a new pod of that ordinal may get another.
        if (e.type === 'DELETED' || v.stsUid !== e.object.metadata.uid || ordinal >= (e.object.spec?.replicas ?? 1)) stableIps.delete(key);
      }
    },
  }, { bookmarks: false });

  const lag = watchLate + f.apiSlowMaxMs + 6_000;
  /** Versions that were current at some moment in [from, to]. */
  function versions<T extends { at: number }>(list: readonly T[], from: number, to: number): T[] {
    const out: T[] = [];
    for (let i = 0; i < list.length; i++) {
      const v = list[i]!;
      const next = list[i + 1];
      if (v.at <= to && (!next || next.at >= from)) out.push(v);
    }
    return out;
  }

  function podAt(ns: string | undefined, name: string | undefined): PodObject | undefined {
    return api.store.get(api.kind('pods'), ns, name ?? '') as PodObject | undefined;
  }
  const finished = (p: PodObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
  const podKey = (sb: { namespace: string; name: string }) => `${sb.namespace}/${sb.name}`;

  /** Why a held IP has no owner any more, or undefined while its owner is alive or kept. */
  function orphaned(a: AllocationObject, heldByPod: ReadonlyMap<string, ReadonlySet<string>>): string | undefined {
    const o = a.spec?.owner;
    if (!o) return undefined;
    if (o.statefulSet) {
      const s = o.statefulSet;
      const sts = api.store.get(api.kind('statefulsets'), s.namespace, s.name) as (KubeObject & { spec?: { replicas?: number } }) | undefined;
      if (sts && s.ordinal < (sts.spec?.replicas ?? 1)) {
        // Kept for the ordinal, unless the ordinal's live pod already holds another IP of that interface and family.
        const pod = podAt(s.namespace, `${s.name}-${s.ordinal}`);
        const slot = `${o.ifname}/${(a.spec?.ip ?? '').includes(':') ? 6 : 4}`;
        if (pod && pod.metadata.uid !== o.podUid && !pod.metadata.deletionTimestamp && heldByPod.get(pod.metadata.uid ?? '')?.has(slot)) {
          return `StatefulSet pod ${s.namespace}/${s.name}-${s.ordinal} holds another IP for ${o.ifname}; this one stays with an earlier incarnation`;
        }
        return undefined;
      }
      if (podAt(s.namespace, `${s.name}-${s.ordinal}`)) return undefined;
      return sts ? `StatefulSet ${s.namespace}/${s.name} scaled below ordinal ${s.ordinal}` : `StatefulSet ${s.namespace}/${s.name} deleted`;
    }
    if (o.vm) {
      // Kept while the VM exists, and after that while any of its virt-launcher pods is there to run it.
      if (liveVm(o.vm.namespace, o.vm.name)) return undefined;
      for (const p of api.objects('pods') as Iterable<PodObject>) {
        if (p.metadata.namespace === o.vm.namespace && planLauncherOf(p)?.vm === o.vm.name && !finished(p)) return undefined;
      }
      return `VirtualMachine ${o.vm.namespace}/${o.vm.name} deleted and none of its virt-launcher pods is left`;
    }
    const pod = podAt(o.podNamespace, o.podName);
    if (!pod) return `pod ${o.podNamespace}/${o.podName} deleted`;
    if (pod.metadata.uid !== o.podUid) return `pod ${o.podNamespace}/${o.podName} recreated with a new UID`;
    if (finished(pod)) return `pod ${o.podNamespace}/${o.podName} ${pod.status?.phase}`;
    return undefined;
  }

  function once(v: Violation, key: string): Violation[] {
    if (reported.has(key)) return [];
    reported.add(key);
    return [v];
  }

  function liveSandboxes(): Array<{ node: string; sb: Sandbox }> {
    const out: Array<{ node: string; sb: Sandbox }> = [];
    for (const n of world.nodes.values()) {
      // A down node's pods may still run; reclaiming them is the documented --gc-terminating-not-ready trade-off.
      if (n.deleted || n.down) continue;
      for (const sb of n.sandboxes.values()) if (sb.state === 'up') out.push({ node: n.name, sb });
    }
    return out;
  }

  /** The VMI a sandbox's pod runs, when it is a virt-launcher pod. */
  const vmiOf = (sb: Sandbox): string | undefined => launcherVmi.get(sb.uid);

  function checkUnique(t: number): Violation[] {
    const holders = new Map<string, { node: string; sb: Sandbox }>();
    const out: Violation[] = [];
    for (const entry of liveSandboxes()) {
      for (const ip of entry.sb.ips) {
        const bare = ip.split('/')[1]!;
        const other = holders.get(bare);
        // A live migration: the source and the target launcher of one VMI run the VM with its IPs at once. Nothing else may share.
        const migrating = () => {
          const vmi = vmiOf(entry.sb);
          return vmi !== undefined && vmi === vmiOf(other!.sb);
        };
        if (other && other.sb.uid !== entry.sb.uid && !migrating()) {
          out.push(
            ...once(
              { invariant: 'unique-ip', at: t, message: `${bare} is held by two live pods: ${podKey(other.sb)} on ${other.node} and ${podKey(entry.sb)} on ${entry.node}`, subjects: [ip, podKey(other.sb), podKey(entry.sb)] },
              `unique:${bare}:${other.sb.containerId}:${entry.sb.containerId}`,
            ),
          );
        } else holders.set(bare, entry);
      }
    }
    return out;
  }

  function checkLivePods(t: number): Violation[] {
    const out: Violation[] = [];
    for (const { sb } of liveSandboxes()) {
      const pod = podAt(sb.namespace, sb.name);
      if (!pod || pod.metadata.uid !== sb.uid || pod.metadata.deletionTimestamp || finished(pod)) continue;
      const launcher = planLauncherOf(pod);
      if (launcher) {
        out.push(...checkRunningVm(t, sb, launcher.vm));
        continue;
      }
      for (const ip of sb.ips) {
        const [pool, bare] = ip.split('/') as [string, string];
        const rec = api.store.get(api.kind('ipallocations'), undefined, allocationName(pool, bare)) as AllocationObject | undefined;
        if (rec?.spec?.owner?.podUid === sb.uid) continue;
        const holder = rec?.spec?.owner ? `now held by ${rec.spec.owner.podNamespace}/${rec.spec.owner.podName} (uid ${(rec.spec.owner.podUid ?? '').slice(0, 8)})` : rec ? 'released' : 'its record is gone';
        out.push(...once({ invariant: 'live-pod-keeps-ip', at: t, message: `live pod ${podKey(sb)} (uid ${sb.uid.slice(0, 8)}) lost ${ip}: ${holder}`, subjects: [ip, podKey(sb)] }, `keeps:${ip}:${sb.containerId}`));
      }
    }
    return out;
  }

  /**
   * A running VM's IPs belong to the VM: whichever of its launcher pods the
   * records name (a migration's target, a failed migration's gone target), they
   * must name the VM, held, for as long as the VM exists.
   */
  function checkRunningVm(t: number, sb: Sandbox, vm: string): Violation[] {
    if (!liveVm(sb.namespace, vm)) return [];
    const out: Violation[] = [];
    for (const ip of sb.ips) {
      const [pool, bare] = ip.split('/') as [string, string];
      const rec = api.store.get(api.kind('ipallocations'), undefined, allocationName(pool, bare)) as AllocationObject | undefined;
      const o = rec?.spec?.owner;
      if (o?.vm?.namespace === sb.namespace && o.vm.name === vm) continue;
      const holder = o ? `now held by ${o.podNamespace}/${o.podName} (uid ${(o.podUid ?? '').slice(0, 8)})${o.vm ? ` for VM ${o.vm.namespace}/${o.vm.name}` : ', not for the VM'}` : rec ? 'released' : 'its record is gone';
      out.push(
        ...once(
          { invariant: 'vm-keeps-ip', at: t, message: `running VM ${sb.namespace}/${vm} (virt-launcher ${sb.name}, uid ${sb.uid.slice(0, 8)}) lost ${ip}: ${holder}`, subjects: [ip, podKey(sb), `${sb.namespace}/${vm}`] },
          `vm:${ip}:${sb.containerId}`,
        ),
      );
    }
    return out;
  }

  function checkLeaks(t: number): Violation[] {
    const out: Violation[] = [];
    const leader = world.leaderSince();
    const seen = new Set<string>();
    // What each pod UID holds, as `ifname/family`.
    const heldByPod = new Map<string, Set<string>>();
    for (const a of api.objects('ipallocations') as Iterable<AllocationObject>) {
      const o = a.spec?.owner;
      if (!o?.podUid) continue;
      let slots = heldByPod.get(o.podUid);
      if (!slots) heldByPod.set(o.podUid, (slots = new Set()));
      slots.add(`${o.ifname}/${(a.spec?.ip ?? '').includes(':') ? 6 : 4}`);
    }
    for (const a of api.objects('ipallocations') as Iterable<AllocationObject>) {
      const key = `${a.spec?.pool}/${a.spec?.ip}`;
      const why = orphaned(a, heldByPod);
      if (!why) continue;
      seen.add(key);
      let since = leakSince.get(key);
      if (since === undefined) leakSince.set(key, (since = t));
      if (leader === undefined) continue;
      const from = Math.max(since, leader + takeoverSlack);
      if (t - from > bound) {
        const o = a.spec!.owner!;
        out.push(
          ...once(
            { invariant: 'leak-bound', at: t, message: `${key} leaked for ${((t - since) / 1000).toFixed(1)} s (bound ${(bound / 1000).toFixed(1)} s): ${why}`, subjects: [key, `${o.podNamespace}/${o.podName}`] },
            `leak:${key}:${since}`,
          ),
        );
      }
    }
    for (const [key, since] of [...leakSince]) {
      longestLeakMs = Math.max(longestLeakMs, t - since);
      if (!seen.has(key)) leakSince.delete(key);
    }
    peakLeaked = Math.max(peakLeaked, leakSince.size);
    return out;
  }

  function checkCounts(t: number): Violation[] {
    const leader = world.leaderSince();
    if (leader === undefined) return [];
    const held = new Map<string, number>();
    for (const a of api.objects('ipallocations') as Iterable<AllocationObject>) if (a.spec?.owner) held.set(a.spec.pool ?? '', (held.get(a.spec.pool ?? '') ?? 0) + 1);
    const out: Violation[] = [];
    for (const p of api.objects('ippools') as Iterable<KubeObject & { status?: { allocatedIPCount?: number } }>) {
      const name = p.metadata.name ?? '';
      const counted = p.status?.allocatedIPCount;
      if (counted === (held.get(name) ?? 0)) continue;
      const since = Math.max(poolChangedAt.get(name) ?? 0, leader + takeoverSlack);
      if (t - since <= countsBound) continue;
      out.push(
        ...once(
          { invariant: 'counts-agree', at: t, message: `IPPool ${name} status says ${counted ?? 'nothing'} allocated; ${held.get(name) ?? 0} IPAllocations hold an IP of it, ${((t - since) / 1000).toFixed(1)} s after the last change (bound ${countsBound / 1000} s)`, subjects: [name] },
          `counts:${name}:${since}`,
        ),
      );
    }
    return out;
  }

  return {
    bound,
    get peakLeaked() {
      return peakLeaked;
    },
    get longestLeakMs() {
      return longestLeakMs;
    },
    afterStep() {
      const t = now();
      return [...checkUnique(t), ...checkLivePods(t), ...checkLeaks(t), ...checkCounts(t)];
    },
    final() {
      const t = now();
      return [...checkLeaks(t), ...checkCounts(t)];
    },
    handout(sb, ips, startedAt) {
      const t = now();
      const out: Violation[] = [];
      // IPs this pod's StatefulSet ordinal or VM held before this ADD: kept, not handed out anew.
      const kept = new Set<string>();
      const pod = podAt(sb.namespace, sb.name) as (PodObject & { metadata: { ownerReferences?: Array<{ kind: string; name: string; uid: string }> } }) | undefined;
      const owner = pod?.metadata.uid === sb.uid ? pod.metadata.ownerReferences?.find((o) => o.kind === 'StatefulSet') : undefined;
      const m = owner ? new RegExp(`^${owner.name}-(\\d+)$`).exec(sb.name) : null;
      if (owner && m) {
        const key = `${sb.namespace}/${owner.name}/${m[1]}`;
        const got = [...ips].sort().join(' ');
        const before = stableIps.get(key);
        if (before && before.stsUid === owner.uid) for (const ip of before.ips.split(' ')) kept.add(ip);
        if (before && before.stsUid === owner.uid && before.ips !== got) {
          out.push({ invariant: 'sts-keeps-ip', at: t, message: `StatefulSet pod ${podKey(sb)} got ${got}; its ordinal held ${before.ips} and its StatefulSet never let it go`, subjects: [...ips, ...before.ips.split(' '), podKey(sb)] });
        }
        // Only an ordinal its StatefulSet wants right now has an IP to keep.
        const sts = api.store.get(api.kind('statefulsets'), sb.namespace, owner.name) as (KubeObject & { spec?: { replicas?: number } }) | undefined;
        if (sts?.metadata.uid === owner.uid && Number(m[1]) < (sts.spec?.replicas ?? 1)) stableIps.set(key, { stsUid: owner.uid, ips: got, pod: podKey(sb) });
        else stableIps.delete(key);
      }
      const launcher = pod?.metadata.uid === sb.uid ? planLauncherOf(pod) : undefined;
      const vm = launcher && liveVm(sb.namespace, launcher.vm);
      if (launcher && vm) {
        const key = `${sb.namespace}/${launcher.vm}`;
        const got = [...ips].sort().join(' ');
        const before = vmIps.get(key);
        if (before && before.vmUid === vm.metadata.uid) for (const ip of before.ips.split(' ')) kept.add(ip);
        if (before && before.vmUid === vm.metadata.uid && before.ips !== got) {
          out.push({ invariant: 'vm-keeps-ip', at: t, message: `VM ${key}'s virt-launcher ${podKey(sb)} got ${got}; the VM had ${before.ips} since its first ADD (in ${before.pod}) and was never deleted`, subjects: [...ips, ...before.ips.split(' '), podKey(sb), key] });
        } else if (!before || before.vmUid !== vm.metadata.uid) vmIps.set(key, { vmUid: vm.metadata.uid ?? '', ips: got, pod: podKey(sb) });
      }
      for (const ip of ips) {
        // An ordinal's or VM's own address stays its own when a pool edit or ReservedIP comes later
        // (the webhook refuses excluding an allocated IP; a reservation racing the first ADD is judged there).
        if (kept.has(ip)) continue;
        const [poolName, bare] = ip.split('/') as [string, string];
        const value = parseAddress(bare)?.value;
        const inPool = versions(poolHistory.get(poolName) ?? [], startedAt - lag, t).some((v) => v.pool && value !== undefined && rangesContain(v.pool.ranges, value));
        const unreserved = versions(reservedHistory, startedAt - lag, t).some((v) => value === undefined || !rangesContain(v.ranges, value));
        if (!inPool || !unreserved) {
          out.push({
            invariant: 'valid-handout',
            at: t,
            message: `ADD of ${podKey(sb)} got ${ip}, which ${!inPool ? `is outside pool ${poolName}'s ranges or excluded` : 'is reserved by a ReservedIP'} in every version current since the ADD began`,
            subjects: [ip, podKey(sb)],
          });
        }
      }
      return out;
    },
    leakedByPool() {
      const out = new Map<string, number>();
      for (const key of leakSince.keys()) {
        const pool = key.slice(0, key.indexOf('/'));
        out.set(pool, (out.get(pool) ?? 0) + 1);
      }
      return out;
    },
  };
}
