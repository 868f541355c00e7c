/**
 * The garbage collector's decision rule for one allocation in Kubernetes
 * mode: keep it, release it now, or wait until a known moment. Pure: the
 * caller supplies what it saw of the cluster (from a cache, or fresh from the
 * API server to confirm) and the time. The same function decides both, so a
 * release happens only when a cached view and a fresh view agree.
 */

/** Why an IP was (or would be) reclaimed; stable label values for metrics and Events. */
export type ReclaimReason =
  | 'pod-deleted'
  | 'pod-recreated'
  | 'pod-terminating'
  | 'pod-finished'
  | 'node-deleted'
  | 'statefulset-scaled-down'
  | 'statefulset-deleted'
  | 'vm-deleted'
  | 'pool-deleted';

export const RECLAIM_REASONS: readonly ReclaimReason[] = [
  'pod-deleted',
  'pod-recreated',
  'pod-terminating',
  'pod-finished',
  'node-deleted',
  'statefulset-scaled-down',
  'statefulset-deleted',
  'vm-deleted',
  'pool-deleted',
];

/** The allocation as the collector reads it. */
export interface GcRecord {
  readonly pool: string;
  readonly ip: string;
  readonly node: string;
  readonly podNamespace?: string | undefined;
  readonly podName?: string | undefined;
  readonly podUid?: string | undefined;
  /** `sts:<ns>/<name>/<ordinal>` or `vm:<ns>/<name>`. */
  readonly stableKey?: string | undefined;
  readonly allocatedAt: number;
}

/** What is known of a pod. Times are milliseconds since the epoch. */
export interface GcPod {
  readonly uid: string;
  readonly phase: string;
  readonly deletionTimestamp?: number | undefined;
  /** When its containers finished (Succeeded/Failed), if known. */
  readonly finishedAt?: number | undefined;
  readonly hostNetwork: boolean;
}

/**
 * A view of the objects the rule needs. `'unknown'` means the answer could not
 * be read (API error, cache not synced): the rule then keeps the IP.
 */
export interface GcView {
  pod(namespace: string, name: string): GcPod | undefined | 'unknown';
  /** `ready` is the NodeReady condition; `changedAt` when it last changed (ms), if known. */
  node(name: string): { readonly ready: boolean; readonly changedAt?: number | undefined } | undefined | 'unknown';
  statefulSet(namespace: string, name: string): { readonly replicas: number; readonly deleting: boolean } | undefined | 'unknown';
  virtualMachine(namespace: string, name: string): { readonly deleting: boolean } | undefined | 'unknown';
  /**
   * The VM's virt-launcher pods (label `vm.kubevirt.io/name`): during a live
   * migration, and after one that failed, the pod a record names is not the
   * only one that may run the VM with its IPs.
   */
  vmLaunchers(namespace: string, name: string): readonly GcPod[] | 'unknown';
  poolExists(name: string): boolean | 'unknown';
}

export interface GcConfig {
  /** Reclaim pods stuck Terminating on a Ready node, at deletionTimestamp + terminatingDelayMs. */
  readonly terminatingOnReadyNode: boolean;
  /** Same on a NotReady (or vanished) node. */
  readonly terminatingOnNotReadyNode: boolean;
  readonly terminatingDelayMs: number;
  /** Succeeded/Failed pods are reclaimed this long after they finished. */
  readonly finishedDelayMs: number;
}

export const DEFAULT_GC_CONFIG: GcConfig = {
  terminatingOnReadyNode: true,
  terminatingOnNotReadyNode: true,
  terminatingDelayMs: 0,
  finishedDelayMs: 0,
};

export type GcVerdict =
  /** `unreadable`: kept only because an answer could not be read; worth asking again soon. */
  | { readonly action: 'keep'; readonly why: string; readonly unreadable?: true }
  /** Reclaimable since `since` (the moment the condition began to hold, for latency metrics). */
  | { readonly action: 'release'; readonly reason: ReclaimReason; readonly since: number }
  /** Not yet: ask again at `at`. */
  | { readonly action: 'wait'; readonly reason: ReclaimReason; readonly at: number };

const keep = (why: string): GcVerdict => ({ action: 'keep', why });
const unreadable = (what: string): GcVerdict => ({ action: 'keep', why: `${what} unreadable`, unreadable: true });

function parseStable(key: string | undefined): { kind: 'sts'; namespace: string; name: string; ordinal: number } | { kind: 'vm'; namespace: string; name: string } | undefined {
  if (!key) return undefined;
  const sts = /^sts:([^/]+)\/([^/]+)\/(\d+)$/.exec(key);
  if (sts) return { kind: 'sts', namespace: sts[1]!, name: sts[2]!, ordinal: Number(sts[3]) };
  const vm = /^vm:([^/]+)\/([^/]+)$/.exec(key);
  if (vm) return { kind: 'vm', namespace: vm[1]!, name: vm[2]! };
  return undefined;
}

/**
 * Decides one allocation. Rules, in order:
 * - anything unreadable keeps the IP (an API error counts as "alive");
 * - a pool that no longer exists: release (`pool-deleted`);
 * - an IP kept for a StatefulSet ordinal or a VM follows that object, not the
 *   pod: released once the StatefulSet is gone or scaled below the ordinal
 *   (or the VM is gone) and no pod of that name is alive;
 * - otherwise the owner pod decides: gone → `pod-deleted` (or
 *   `node-deleted` when its node is gone too); same name with another UID →
 *   `pod-recreated`; hostNetwork → keep; its node gone → `node-deleted`;
 *   Terminating → at deletionTimestamp + delay, if enabled for the node's
 *   readiness; Succeeded/Failed → finish time + delay; Pending and Running
 *   (even with no podIPs yet) → keep;
 * - a record with no pod at all: its node decides (`node-deleted`), else keep.
 * `now` only affects `wait` versus `release`.
 */
export function planGcVerdict(record: GcRecord, view: GcView, config: GcConfig, now: number): GcVerdict {
  const pool = view.poolExists(record.pool);
  if (pool === 'unknown') return unreadable('pool');
  // When the pool went is not recorded: count from when the collector saw it.
  if (!pool) return { action: 'release', reason: 'pool-deleted', since: now };

  const stable = parseStable(record.stableKey);
  const podName = record.podName;
  const podNs = record.podNamespace;
  const pod = podNs && podName ? view.pod(podNs, podName) : undefined;
  if (pod === 'unknown') return unreadable('pod');

  if (stable) {
    const finished = pod !== undefined && (pod.phase === 'Succeeded' || pod.phase === 'Failed');
    // A live pod with the same name may already have taken the IP over, or will: never pull it away.
    if (pod && !pod.deletionTimestamp && !finished) return keep('stable identity has a live pod');
    let ownerGone: GcVerdict | undefined;
    if (stable.kind === 'sts') {
      const sts = view.statefulSet(stable.namespace, stable.name);
      if (sts === 'unknown') return unreadable('statefulset');
      if (!sts || sts.deleting) ownerGone = { action: 'release', reason: 'statefulset-deleted', since: now };
      else if (stable.ordinal >= sts.replicas) ownerGone = { action: 'release', reason: 'statefulset-scaled-down', since: now };
      else return keep(`statefulset ${stable.name} still wants ordinal ${stable.ordinal}`);
    } else {
      const vm = view.virtualMachine(stable.namespace, stable.name);
      if (vm === 'unknown') return unreadable('virtual machine');
      if (vm && !vm.deleting) return keep(`virtual machine ${stable.name} still exists`);
      ownerGone = { action: 'release', reason: 'vm-deleted', since: now };
    }
    // The owner is gone, but a pod still running out its grace period may use the IP until its deletionTimestamp:
    // the recorded pod, or for a VM any launcher (the source of a migration that failed is not the recorded pod).
    const launchers = stable.kind === 'vm' ? view.vmLaunchers(stable.namespace, stable.name) : [];
    if (launchers === 'unknown') return unreadable('virt-launcher pods');
    const alive = [pod, ...launchers].filter((p): p is GcPod => p !== undefined && p.phase !== 'Succeeded' && p.phase !== 'Failed');
    if (alive.some((p) => p.deletionTimestamp === undefined)) return keep(`a pod of ${stable.name} still runs`);
    if (alive.length > 0) {
      const due = Math.max(...alive.map((p) => p.deletionTimestamp!)) + config.terminatingDelayMs;
      if (now < due) return { action: 'wait', reason: ownerGone.reason, at: due };
      return { ...ownerGone, since: due };
    }
    return ownerGone;
  }

  if (!podNs || !podName) {
    const node = view.node(record.node);
    if (node === 'unknown') return unreadable('node');
    return node ? keep('no pod recorded; node exists') : { action: 'release', reason: 'node-deleted', since: now };
  }

  if (!pod) {
    const node = view.node(record.node);
    if (node === undefined) return { action: 'release', reason: 'node-deleted', since: now };
    return { action: 'release', reason: 'pod-deleted', since: now };
  }
  if (record.podUid && pod.uid !== record.podUid) return { action: 'release', reason: 'pod-recreated', since: now };
  if (pod.hostNetwork) return keep('hostNetwork pod');
  const node = view.node(record.node);
  if (node === 'unknown') return unreadable('node');
  // No kubelet can be running the pod on a node that no longer exists, whatever its phase still says.
  if (node === undefined) return { action: 'release', reason: 'node-deleted', since: now };

  if (pod.deletionTimestamp !== undefined) {
    const enabled = node.ready ? config.terminatingOnReadyNode : config.terminatingOnNotReadyNode;
    if (!enabled) return keep(`terminating pod on a ${node.ready ? 'Ready' : 'NotReady'} node: reclaim disabled`);
    // deletionTimestamp already includes the grace period: counting the grace again would double it.
    const due = pod.deletionTimestamp + config.terminatingDelayMs;
    if (now < due) return { action: 'wait', reason: 'pod-terminating', at: due };
    // With the switch off for the node's other state, the IP became reclaimable only when the node changed.
    const otherEnabled = node.ready ? config.terminatingOnNotReadyNode : config.terminatingOnReadyNode;
    const since = otherEnabled ? due : Math.max(due, node.changedAt ?? now);
    return { action: 'release', reason: 'pod-terminating', since };
  }

  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') {
    // Unknown finish time (no container ever ran): a fixed past moment, so the delay still runs out.
    const finished = pod.finishedAt ?? record.allocatedAt;
    const due = finished + config.finishedDelayMs;
    return now >= due ? { action: 'release', reason: 'pod-finished', since: due } : { action: 'wait', reason: 'pod-finished', at: due };
  }
  return keep(`pod is ${pod.phase || 'Pending'}`);
}
