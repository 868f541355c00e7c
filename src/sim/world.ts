import { Registry } from 'prom-client';
import type { AllocateRequest, AllocateResponse } from '../api/protocol.ts';
import { TIDEPOOL_API_VERSION } from '../api/crd-schemas.ts';
import { createIpamService, type IpamService } from '../agent/ipam-service.ts';
import { openKubeAgentBackend } from '../agent/kube-agent.ts';
import type { GcReconcilerDeps } from '../controller/gc.ts';
import { IPPOOLS_PATH } from '../controller/cache.ts';
import { parseControllerArgs, startController, type RunningController } from '../controller/main.ts';
import { formatAddress, parseAddress } from '../ipam/address.ts';
import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import type { KubeObject } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import { NO_FAULTS, type LinkFaults, type SimApiServer, type SimConnection } from './api-server.ts';
import type { Plant } from './plant.ts';
import { createVirtualMachines, type VmStats } from './virtual-machines.ts';
import { createWorkloadOwners } from './workload-owners.ts';
import type { Rng } from './rng.ts';
import type { Scheduler } from './scheduler.ts';
import { toPoolObject, type Scenario, type WorkloadSpec } from './scenario.ts';

const RESERVED_PATH = '/apis/tidepool.dev/v1alpha1/reservedips';
const SYSTEM_NAMESPACE = 'kube-system';
/** How long kubelet waits between sync passes (jittered ±50%). */
const KUBELET_SYNC_MS = 1_000;
/** A CNI call that hangs this long fails, like the plugin's own timeout. */
const CNI_TIMEOUT_MS = 30_000;
/** Where the plugin finds the agent, for messages that read like the real plugin's. */
const AGENT_SOCKET = '/run/tidepool/agent.sock';
/** The node lifecycle controller marks a silent node NotReady after this, and evicts its pods this long after that. */
const NODE_MONITOR_GRACE_MS = 40_000;
const NODE_EVICTION_MS = 60_000;

export interface PodObject extends KubeObject {
  spec?: { nodeName?: string; terminationGracePeriodSeconds?: number };
  status?: { phase?: string; podIP?: string; podIPs?: Array<{ ip: string }>; containerStatuses?: unknown[] };
}

/** A pod's network sandbox as kubelet knows it. */
export interface Sandbox {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly containerId: string;
  readonly netns: string;
  state: 'adding' | 'up' | 'tearing';
  /** Every IP the ADDs returned, as `pool/ip`. */
  ips: string[];
  readonly ifnames: readonly string[];
  finishAt?: number;
}

export interface SimNode {
  readonly name: string;
  /** The machine is down (NotReady fault): no kubelet, no agent; its sandboxes still exist. */
  down: boolean;
  deleted: boolean;
  readonly sandboxes: Map<string, Sandbox>;
  readonly backoff: Map<string, { until: number; attempts: number }>;
  agent: AgentProcess | undefined;
  agentGeneration: number;
}

export interface AgentProcess {
  readonly owner: string;
  readonly conn: SimConnection;
  service: IpamService | undefined;
  killed: boolean;
  readonly onKill: Set<() => void>;
}

export interface ControllerProcess {
  readonly identity: string;
  readonly owner: string;
  readonly conn: SimConnection;
  running: RunningController | undefined;
  killed: boolean;
}

/** What the world tells the run about: every line of the trace and each outcome the report counts. */
export interface WorldObserver {
  trace(line: string): void;
  addDone(sandbox: Sandbox, ips: readonly string[], startedAt: number): void;
  addFailed(code: string, message: string): void;
  delDone(released: number): void;
  /** The simulator itself broke (a process could not start): the run is void. */
  fatal(err: unknown): void;
}

interface WorkloadState {
  readonly spec: WorkloadSpec;
  replicas: number;
  exists: boolean;
  /** The pods' owner (StatefulSet, ReplicaSet or Job) and its name. */
  uid: string;
  ownerName: string;
  generation: number;
  podGeneration: Map<string, number>;
  nextOrdinal: number;
}

export interface World {
  readonly nodes: Map<string, SimNode>;
  readonly controllers: ControllerProcess[];
  /** Whether churn and faults may still happen (off during the settle phase). */
  chaos: boolean;
  start(): Promise<void>;
  /** Brings every down node back and every dead process up again, for the settle phase. */
  heal(): void;
  /** The identity whose lease term began last, and when, among live leaders. */
  leaderSince(): number | undefined;
  pods(): Iterable<PodObject>;
  runScript(): void;
  /** What happened to the scenario's VMs, when it has any. */
  readonly vmStats: VmStats | undefined;
}

export function createWorld(deps: {
  scenario: Scenario;
  api: SimApiServer;
  sched: Scheduler;
  rng: Rng;
  /** Wraps each agent's store (a planted bug). */
  agentStore?: Plant['agentStore'];
  /** Wraps each agent's Kubernetes policy (a planted bug). */
  agentPolicy?: Plant['agentPolicy'];
  /** Rewires each controller replica's garbage collector (observation, planted bugs). */
  adjustGc?: (deps: GcReconcilerDeps) => GcReconcilerDeps;
  observer: WorldObserver;
}): World {
  const { scenario, api, sched, observer } = deps;
  const rng = deps.rng.fork('world');
  const faultRng = deps.rng.fork('faults');
  const f = scenario.faults;
  const link: LinkFaults = {
    ...NO_FAULTS,
    errorRate: f.apiError,
    timeoutRate: f.apiTimeout,
    conflictRate: f.apiConflict,
    watchDelayRate: f.watchDelay,
    watchDelayMs: f.watchDelayMaxMs,
    slowRate: f.apiSlow,
    slowMs: f.apiSlowMaxMs,
  };
  const trace = (line: string) => observer.trace(line);
  /** A process's logger: its warnings and errors go into the trace (SIM_LOG=debug shows everything, for digging). */
  const processLog = (owner: string): Logger => {
    const verbose = process.env['SIM_LOG'] === 'debug';
    const line = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      trace(`${owner} ${level}: ${msg}${fields ? ` ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}` : ''}`);
    const log: Logger = { debug: verbose ? line('debug') : () => {}, info: verbose ? line('info') : () => {}, warn: line('warn'), error: line('error'), child: () => log };
    return log;
  };
  const wait = (ms: number, owner?: string) => new Promise<void>((resolve) => sched.after(ms, resolve, owner));
  const nodes = new Map<string, SimNode>();
  const controllers: ControllerProcess[] = [];
  const workloads: WorkloadState[] = scenario.workloads.map((spec) => ({ spec, replicas: spec.replicas, exists: true, uid: '', ownerName: '', generation: 0, podGeneration: new Map(), nextOrdinal: 0 }));
  const defaultPools = { ipv4: scenario.pools.filter((p) => p.default && !p.subnet.includes(':')).map((p) => p.name), ipv6: scenario.pools.filter((p) => p.default && p.subnet.includes(':')).map((p) => p.name) };
  let nodeCount = 0;
  const owners = createWorkloadOwners({ api, rng: deps.rng.fork('owners'), trace: (line) => observer.trace(line) });
  // Forked only when there are VMs, so a scenario without them draws exactly what it drew before they existed.
  const vms = workloads.some((w) => w.spec.kind === 'VirtualMachine')
    ? createVirtualMachines({
        api,
        rng: deps.rng.fork('vms'),
        now: () => sched.now,
        trace,
        pickNode: (except) => {
          const candidates = schedulableNodes().filter((n) => n.name !== except);
          return candidates.length > 0 ? rng.pick(candidates).name : undefined;
        },
        podAnnotations,
        ensureNamespace,
        deletePod: (pod, why) => deletePod(pod, why),
      })
    : undefined;
  const world: World = {
    nodes,
    controllers,
    chaos: true,
    start,
    heal,
    leaderSince,
    pods: () => api.objects('pods') as Iterable<PodObject>,
    runScript,
    vmStats: vms?.stats,
  };

  // ---- the cluster's objects ------------------------------------------------

  const podPath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/pods/${name}`;
  const nodeReady = (name: string, ready: boolean) =>
    api.direct.patch(`/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date(sched.now).toISOString() }] } });

  function addNode(): SimNode {
    const name = `node-${++nodeCount}`;
    api.direct.create('/api/v1/nodes', { metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
    nodeReady(name, true);
    const node: SimNode = { name, down: false, deleted: false, sandboxes: new Map(), backoff: new Map(), agent: undefined, agentGeneration: 0 };
    nodes.set(name, node);
    trace(`node ${name} joined`);
    startAgent(node);
    kubeletLoop(node);
    return node;
  }

  function ensureNamespace(ns: string): boolean {
    const existing = api.direct.get<KubeObject>(`/api/v1/namespaces/${ns}`);
    if (existing) return !existing.metadata.deletionTimestamp;
    api.direct.create('/api/v1/namespaces', { metadata: { name: ns, labels: { team: ns } } });
    return true;
  }

  function schedulableNodes(): SimNode[] {
    return [...nodes.values()].filter((n) => !n.deleted && !n.down);
  }

  function podAnnotations(spec: WorkloadSpec): Record<string, string> {
    if (spec.interfaces === 1 && !spec.pools) return {};
    const eth0 = spec.interfaces === 1 ? (spec.pools ?? defaultPools) : defaultPools;
    const entries: Array<Record<string, unknown>> = [{ interface: 'eth0', ...eth0 }];
    if (spec.interfaces === 2) entries.push({ interface: 'net1', ...(spec.pools ?? defaultPools) });
    return { 'ipam.tidepool.dev/ippools': JSON.stringify(entries) };
  }

  function createPod(w: WorkloadState, name: string): void {
    const candidates = schedulableNodes();
    if (candidates.length === 0) return;
    const node = rng.pick(candidates);
    const ownerReferences = owners.reference(w);
    try {
      const pod = api.direct.create<PodObject>(`/api/v1/namespaces/${w.spec.namespace}/pods`, {
        metadata: { name, namespace: w.spec.namespace, labels: { app: w.spec.name }, annotations: podAnnotations(w.spec), ownerReferences },
        spec: { nodeName: node.name, containers: [{ name: 'main', image: 'registry.local/app:1' }], terminationGracePeriodSeconds: rng.pick([5, 10, 30]), ...(w.spec.kind === 'Job' ? { restartPolicy: 'Never' } : {}) },
        status: { phase: 'Pending' },
      });
      w.podGeneration.set(pod.metadata.uid ?? '', w.generation);
      trace(`pod ${w.spec.namespace}/${name} created on ${node.name} (uid ${short(pod.metadata.uid)})`);
    } catch (err) {
      // A name still held by a terminating pod, or a terminating namespace: try again next pass.
      trace(`pod ${w.spec.namespace}/${name} not created: ${(err as Error).message}`);
    }
  }

  function deletePod(pod: PodObject, why: string, grace?: number): void {
    const m = pod.metadata;
    try {
      api.direct.delete(podPath(m.namespace ?? '', m.name ?? ''), { ...(grace === undefined ? {} : { gracePeriodSeconds: grace }), preconditions: { uid: m.uid ?? '' } });
      trace(`pod ${m.namespace}/${m.name} deleted (${why}${grace === 0 ? ', force' : ''}) uid ${short(m.uid)}`);
    } catch {
      // Already gone or replaced.
    }
  }

  function podsOf(w: WorkloadState): PodObject[] {
    const out: PodObject[] = [];
    for (const p of world.pods()) if (p.metadata.namespace === w.spec.namespace && p.metadata.labels?.['app'] === w.spec.name) out.push(p);
    return out;
  }

  /** Pods of the workload's current owner: a deleted Deployment's or Job's pods are the garbage collector's now. */
  function ownedPods(w: WorkloadState, pods: PodObject[]): PodObject[] {
    if (w.spec.kind === 'Pod' || w.spec.kind === 'StatefulSet') return pods;
    return pods.filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === w.uid));
  }

  const finished = (p: PodObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

  // ---- workload controllers --------------------------------------------------

  function ensureStatefulSet(w: WorkloadState): boolean {
    const path = `/apis/apps/v1/namespaces/${w.spec.namespace}/statefulsets/${w.spec.name}`;
    const sts = api.direct.get<KubeObject & { spec?: { replicas?: number } }>(path);
    if (!sts) {
      if (!ensureNamespace(w.spec.namespace)) return false;
      try {
        const created = api.direct.create<KubeObject>(`/apis/apps/v1/namespaces/${w.spec.namespace}/statefulsets`, {
          metadata: { name: w.spec.name, namespace: w.spec.namespace },
          spec: { replicas: w.replicas, serviceName: w.spec.name, selector: { matchLabels: { app: w.spec.name } }, template: { metadata: { labels: { app: w.spec.name } }, spec: { containers: [{ name: 'main', image: 'registry.local/db:1' }] } } },
        });
        w.uid = created.metadata.uid ?? '';
        trace(`statefulset ${w.spec.namespace}/${w.spec.name} created with ${w.replicas} replicas`);
      } catch (err) {
        trace(`statefulset ${w.spec.namespace}/${w.spec.name} not created: ${(err as Error).message}`);
        return false;
      }
    } else {
      w.uid = sts.metadata.uid ?? '';
      if (sts.spec?.replicas !== w.replicas) {
        api.direct.patch(path, { spec: { replicas: w.replicas } });
        trace(`statefulset ${w.spec.namespace}/${w.spec.name} scaled to ${w.replicas}`);
      }
    }
    return true;
  }

  function reconcile(w: WorkloadState): void {
    if (w.spec.kind === 'VirtualMachine') return vms!.reconcile(w);
    if (!w.exists) return;
    if (!ensureNamespace(w.spec.namespace)) return;
    if (!owners.ensure(w)) return;
    const pods = ownedPods(w, podsOf(w));
    const active = pods.filter((p) => !p.metadata.deletionTimestamp && !finished(p));
    switch (w.spec.kind) {
      case 'StatefulSet': {
        if (!ensureStatefulSet(w)) return;
        const byName = new Map(pods.map((p) => [p.metadata.name ?? '', p]));
        for (let i = 0; i < w.replicas; i++) if (!byName.has(`${w.spec.name}-${i}`)) createPod(w, `${w.spec.name}-${i}`);
        // Scale down from the highest ordinal, one at a time, like the StatefulSet controller.
        const extra = active.filter((p) => ordinalOf(p, w.spec.name) >= w.replicas).sort((a, b) => ordinalOf(b, w.spec.name) - ordinalOf(a, w.spec.name));
        if (extra[0]) deletePod(extra[0], 'scale down');
        break;
      }
      case 'Pod': {
        const byName = new Set(pods.map((p) => p.metadata.name));
        for (let i = 0; i < w.replicas; i++) if (!byName.has(`${w.spec.name}-${i}`)) createPod(w, `${w.spec.name}-${i}`);
        for (const p of active) if (ordinalOf(p, w.spec.name) >= w.replicas) deletePod(p, 'scale down');
        break;
      }
      case 'Deployment':
      case 'Job': {
        for (let i = active.length; i < w.replicas; i++) createPod(w, `${w.spec.name}-${rng.hex(5)}`);
        if (active.length > w.replicas) for (const p of shuffle(active).slice(0, active.length - w.replicas)) deletePod(p, 'scale down');
        // Rolling restart: replace a quarter of the old generation per pass.
        const old = active.filter((p) => (w.podGeneration.get(p.metadata.uid ?? '') ?? w.generation) < w.generation);
        for (const p of old.slice(0, Math.max(1, Math.ceil(w.replicas / 4)))) deletePod(p, 'rolling restart');
        // Finished Job pods linger for a while (ttlSecondsAfterFinished), then go.
        if (w.spec.kind === 'Job') for (const p of pods) if (finished(p) && !p.metadata.deletionTimestamp && sched.now - finishedAt(p) > 60_000) deletePod(p, 'job ttl');
        break;
      }
    }
  }

  function shuffle<T>(items: T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  function workloadLoop(): void {
    for (const w of workloads) reconcile(w);
    sched.after(1_000, workloadLoop, 'workloads');
  }

  /** Deletes a workload as kubectl does: its top-level object, and the garbage collector takes its pods; bare pods one by one. */
  function deleteWorkload(w: WorkloadState, why: string): void {
    w.exists = false;
    if (w.spec.kind === 'VirtualMachine') vms!.remove(w);
    if (w.spec.kind === 'Pod') for (const p of podsOf(w)) if (!p.metadata.deletionTimestamp) deletePod(p, why);
    owners.remove(w);
    trace(`workload ${w.spec.kind} ${w.spec.namespace}/${w.spec.name} deleted (${why})`);
  }

  function churn(w: WorkloadState, what: keyof WorkloadSpec['churn']): void {
    if (!world.chaos) return;
    const pods = podsOf(w).filter((p) => !p.metadata.deletionTimestamp && !finished(p));
    switch (what) {
      case 'scale':
        if (!w.exists) return;
        w.replicas = rng.between(w.spec.replicasRange[0], w.spec.replicasRange[1]);
        trace(`workload ${w.spec.namespace}/${w.spec.name} scaled to ${w.replicas}`);
        break;
      case 'migrate':
        vms!.migrate(w);
        break;
      case 'restart':
        if (!w.exists) return;
        if (w.spec.kind === 'VirtualMachine') vms!.restart(w);
        else if (w.spec.kind === 'StatefulSet' || w.spec.kind === 'Pod') {
          // Same-name recreation: the controller makes the pod again under its old name once it is gone.
          const p = pods.length > 0 ? rng.pick(pods) : undefined;
          if (p) deletePod(p, 'restart');
        } else {
          w.generation++;
          trace(`workload ${w.spec.namespace}/${w.spec.name} rolling restart`);
        }
        break;
      case 'evict': {
        const p = pods.length > 0 ? rng.pick(pods) : undefined;
        if (p) deletePod(p, 'evicted');
        break;
      }
      case 'delete':
        if (!w.exists) return;
        deleteWorkload(w, 'workload deleted');
        sched.after(rng.between(20_000, 90_000), () => {
          w.exists = true;
          trace(`workload ${w.spec.namespace}/${w.spec.name} recreated`);
        }, 'workloads');
        break;
    }
  }

  // ---- kubelet ---------------------------------------------------------------

  function kubeletLoop(node: SimNode): void {
    const owner = `kubelet:${node.name}`;
    const tick = () => {
      if (node.deleted) return;
      if (!node.down) kubeletSync(node);
      sched.after(rng.between(KUBELET_SYNC_MS / 2, (KUBELET_SYNC_MS * 3) / 2), tick, owner);
    };
    sched.after(rng.int(KUBELET_SYNC_MS), tick, owner);
  }

  function kubeletSync(node: SimNode): void {
    const present = new Set<string>();
    for (const pod of world.pods()) {
      if (pod.spec?.nodeName !== node.name) continue;
      const uid = pod.metadata.uid ?? '';
      present.add(uid);
      const sb = node.sandboxes.get(uid);
      if (pod.metadata.deletionTimestamp) {
        if (sb?.state === 'up') void teardown(node, sb, 'pod deleted');
        else if (!sb) finalize(pod);
        continue;
      }
      if (finished(pod)) {
        if (sb?.state === 'up') void teardown(node, sb, 'pod finished');
        continue;
      }
      if (!sb) {
        const b = node.backoff.get(uid);
        if (!b || sched.now >= b.until) void startSandbox(node, pod);
      } else if (sb.state === 'up' && sb.finishAt !== undefined && sched.now >= sb.finishAt) {
        const failed = rng.chance(workloadOf(pod)?.spec.failRate ?? 0);
        api.direct.patch(`${podPath(sb.namespace, sb.name)}/status`, {
          status: { phase: failed ? 'Failed' : 'Succeeded', containerStatuses: [{ name: 'main', state: { terminated: { exitCode: failed ? 1 : 0, finishedAt: new Date(sched.now).toISOString() } } }] },
        });
        trace(`pod ${sb.namespace}/${sb.name} ${failed ? 'failed' : 'succeeded'}`);
      }
    }
    for (const sb of node.sandboxes.values()) if (!present.has(sb.uid) && sb.state === 'up') void teardown(node, sb, 'pod gone');
    for (const uid of node.backoff.keys()) if (!present.has(uid)) node.backoff.delete(uid);
  }

  function workloadOf(pod: PodObject): WorkloadState | undefined {
    return workloads.find((w) => w.spec.namespace === pod.metadata.namespace && w.spec.name === pod.metadata.labels?.['app']);
  }

  function finalize(pod: PodObject): void {
    try {
      api.direct.delete(podPath(pod.metadata.namespace ?? '', pod.metadata.name ?? ''), { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid ?? '' } });
    } catch {
      // Gone already.
    }
  }

  async function startSandbox(node: SimNode, pod: PodObject): Promise<void> {
    const m = pod.metadata;
    const w = workloadOf(pod);
    const ifnames = w?.spec.interfaces === 2 ? ['eth0', 'net1'] : ['eth0'];
    const containerId = rng.hex(16);
    const sb: Sandbox = { uid: m.uid ?? '', namespace: m.namespace ?? '', name: m.name ?? '', containerId, netns: `/var/run/netns/cni-${containerId.slice(0, 8)}`, state: 'adding', ips: [], ifnames };
    node.sandboxes.set(sb.uid, sb);
    const startedAt = sched.now;
    try {
      for (const ifname of ifnames) {
        const req: AllocateRequest = { containerId, ifname, netns: sb.netns, network: 'underlay', pod: { namespace: sb.namespace, name: sb.name, uid: sb.uid } };
        const res = (await callAgent(node, 'ADD', (s) => s.allocate(req))) as AllocateResponse;
        for (const ip of res.ips) sb.ips.push(`${ip.pool}/${ip.address.split('/')[0]}`);
      }
    } catch (err) {
      const { code, message } = toTidepoolError(err);
      observer.addFailed(code, message);
      const b = node.backoff.get(sb.uid) ?? { until: 0, attempts: 0 };
      b.attempts++;
      b.until = sched.now + Math.min(20_000, 1_000 * 2 ** (b.attempts - 1));
      node.backoff.set(sb.uid, b);
      trace(`ADD ${sb.namespace}/${sb.name} cid ${containerId.slice(0, 8)} on ${node.name} failed (${code}): ${(err as Error).message.slice(0, 160)}; retry in ${b.until - sched.now} ms`);
      // kubelet tears a failed sandbox down, which runs DEL for it.
      sb.state = 'tearing';
      await del(node, sb, 'failed ADD');
      if (node.sandboxes.get(sb.uid) === sb) node.sandboxes.delete(sb.uid);
      return;
    }
    if (node.deleted || node.sandboxes.get(sb.uid) !== sb) return;
    sb.state = 'up';
    node.backoff.delete(sb.uid);
    if (w?.spec.kind === 'Job') sb.finishAt = sched.now + rng.between(w.spec.runMs[0], w.spec.runMs[1]);
    trace(`ADD ${sb.namespace}/${sb.name} cid ${containerId.slice(0, 8)} on ${node.name} -> ${sb.ips.join(' ')}`);
    observer.addDone(sb, sb.ips, startedAt);
    const current = api.direct.get<PodObject>(podPath(sb.namespace, sb.name));
    if (current?.metadata.uid === sb.uid && !current.metadata.deletionTimestamp && !finished(current)) {
      const ips = sb.ips.map((x) => x.split('/')[1]!);
      api.direct.patch(`${podPath(sb.namespace, sb.name)}/status`, { status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } });
    }
  }

  async function teardown(node: SimNode, sb: Sandbox, why: string): Promise<void> {
    sb.state = 'tearing';
    await wait(rng.between(20, 800), `kubelet:${node.name}`);
    await del(node, sb, why);
    if (node.sandboxes.get(sb.uid) === sb) node.sandboxes.delete(sb.uid);
    const pod = api.direct.get<PodObject>(podPath(sb.namespace, sb.name));
    if (pod?.metadata.uid === sb.uid && pod.metadata.deletionTimestamp) finalize(pod);
  }

  /** CNI DEL for every interface, as the runtime sends it: maybe lost, maybe late, retried a few times on failure. */
  async function del(node: SimNode, sb: Sandbox, why: string): Promise<void> {
    for (const ifname of [...sb.ifnames].reverse()) {
      const ref = { containerId: sb.containerId, ifname };
      const label = `DEL ${sb.namespace}/${sb.name} cid ${sb.containerId.slice(0, 8)} ${ifname} (${why})`;
      if (world.chaos && faultRng.chance(f.delLost)) {
        trace(`${label} lost`);
        continue;
      }
      if (world.chaos && faultRng.chance(f.delLate)) {
        const delay = faultRng.between(5_000, 90_000);
        trace(`${label} delayed by ${delay} ms`);
        sched.after(delay, () => {
          callAgent(node, 'DEL', (s) => s.release(ref)).then(
            (r) => trace(`${label} arrived late, released ${(r as { released: unknown[] }).released.length}`),
            (err: unknown) => trace(`${label} arrived late and failed: ${(err as Error).message.slice(0, 120)}`),
          );
        }, `kubelet:${node.name}`);
        continue;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          const r = (await callAgent(node, 'DEL', (s) => s.release(ref))) as { released: unknown[] };
          observer.delDone(r.released.length);
          trace(`${label} released ${r.released.length}`);
          break;
        } catch (err) {
          trace(`${label} failed (attempt ${attempt}): ${(err as Error).message.slice(0, 120)}`);
          if (attempt >= 3 || node.deleted) break;
          await wait(1_000 * attempt, `kubelet:${node.name}`);
        }
      }
    }
  }

  /**
   * One plugin invocation: fails at once when the agent is not listening, and when it dies mid-call,
   * with the codes the real plugin gives (src/cni/agent-client.ts): AGENT_UNREACHABLE before it
   * connected, IO_FAILURE once it had.
   */
  function callAgent(node: SimNode, verb: 'ADD' | 'DEL', call: (s: IpamService) => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const agent = node.agent;
      const socket = `${AGENT_SOCKET} on ${node.name}`;
      if (node.down || node.deleted || !agent || agent.killed || !agent.service) {
        const err = new TidepoolError('AGENT_UNREACHABLE', `the tidepool agent is not reachable at ${socket} (ECONNREFUSED); is it running?`, { socket, errno: 'ECONNREFUSED' });
        return void sched.after(2, () => reject(err), `kubelet:${node.name}`);
      }
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        agent.onKill.delete(onKill);
        cancelTimeout();
        fn();
      };
      const closed = new TidepoolError('IO_FAILURE', 'the agent sent a malformed HTTP response: the connection closed without a response');
      const onKill = () => sched.after(1, () => finish(() => reject(closed)), `kubelet:${node.name}`);
      agent.onKill.add(onKill);
      const silent = new TidepoolError('IO_FAILURE', `the agent at ${socket} did not answer within ${CNI_TIMEOUT_MS} ms`, { socket, timeoutMs: CNI_TIMEOUT_MS });
      const cancelTimeout = sched.after(CNI_TIMEOUT_MS, () => finish(() => reject(silent)), `kubelet:${node.name}`);
      // Plugin start-up before it reaches the socket.
      sched.after(rng.between(3, 8), () => {
        if (settled) return;
        if (world.chaos && faultRng.chance(f.agentKillDuringCall)) sched.after(faultRng.between(0, 6), () => killAgent(node, `during ${verb}`));
        call(agent.service!).then(
          (v) => sched.after(1, () => finish(() => resolve(v)), `kubelet:${node.name}`),
          (err: unknown) => sched.after(1, () => finish(() => reject(err)), `kubelet:${node.name}`),
        );
      }, `kubelet:${node.name}`);
    });
  }

  // ---- agents and controllers ---------------------------------------------------

  function startAgent(node: SimNode): void {
    if (node.deleted || node.down || (node.agent && !node.agent.killed)) return;
    const owner = `agent:${node.name}#${++node.agentGeneration}`;
    const conn = api.connect(owner, link);
    const agent: AgentProcess = { owner, conn, service: undefined, killed: false, onKill: new Set() };
    node.agent = agent;
    const clock = sched.clock(owner);
    const agentRng = rng.fork(owner);
    trace(`agent ${owner} starting`);
    void (async () => {
      const log = processLog(owner);
      const backend = await openKubeAgentBackend({ rest: conn, node: node.name, log, delay: (ms) => clock.sleep(ms) });
      if (agent.killed) return;
      const store = deps.agentStore ? deps.agentStore(backend.store) : backend.store;
      agent.service = createIpamService({
        store,
        policy: deps.agentPolicy ? deps.agentPolicy(backend.policy) : backend.policy,
        node: node.name,
        now: clock.now,
        probeNetns: (path) => ({ exists: [...node.sandboxes.values()].some((s) => s.netns === path), id: path }),
        reuseCooldownMs: 0,
        // The daemon's default: an ADD that finds its pools full waits up to 3 s for a DEL or a reclaim.
        exhaustedWaitMs: 3_000,
        sleep: clock.sleep,
        gcGraceMs: 10_000,
        usageCacheMs: 0,
        segment: backend.segment,
        random: () => agentRng.next(),
        log,
      });
      trace(`agent ${owner} ready`);
      const collect = () => {
        if (agent.killed) return;
        agent.service!.collect().then(
          (r) => r.released.length > 0 && trace(`agent ${owner} namespace collector released ${r.released.map((x) => `${x.pool}/${x.ip}`).join(' ')}`),
          () => undefined,
        );
        sched.after(30_000, collect, owner);
      };
      sched.after(30_000, collect, owner);
    })().catch((err: unknown) => observer.fatal(new Error(`agent ${owner} failed to start: ${(err as Error).message}`)));
  }

  function killAgent(node: SimNode, why: string, restartAfter = rng.between(1_000, 8_000)): void {
    const agent = node.agent;
    if (!agent || agent.killed) return;
    agent.killed = true;
    agent.conn.kill();
    for (const fn of [...agent.onKill]) fn();
    trace(`agent ${agent.owner} killed (${why})`);
    if (restartAfter >= 0) sched.after(restartAfter, () => startAgent(node), `restart:${node.name}`);
  }

  let controllerGeneration = 0;
  function startControllerProcess(index: number): void {
    const identity = `tidepool-controller-${index}`;
    const owner = `controller:${index}#${++controllerGeneration}`;
    const conn = api.connect(owner, link);
    const proc: ControllerProcess = { identity, owner, conn, running: undefined, killed: false };
    controllers[index] = proc;
    const g = scenario.gc;
    const config = parseControllerArgs(
      [
        '--namespace', SYSTEM_NAMESPACE,
        '--identity', identity,
        '--webhook-listen', 'off',
        '--metrics-listen', 'off',
        '--gc-scan-interval', `${g.scanIntervalMs}ms`,
        '--gc-orphan-confirm', `${g.orphanConfirmMs}ms`,
        '--gc-reclaim-cooldown', `${g.reclaimCooldownMs}ms`,
        '--gc-terminating-delay', `${g.terminatingDelayMs}ms`,
        '--gc-finished-delay', `${g.finishedDelayMs}ms`,
      ],
      {},
    );
    trace(`controller ${owner} starting`);
    startController(config, { clock: sched.clock(owner), log: processLog(owner), rest: conn, registry: new Registry(), adjustGc: deps.adjustGc }).then(
      (running) => {
        if (!proc.killed) proc.running = running;
      },
      (err: unknown) => observer.fatal(new Error(`controller ${owner} failed to start: ${(err as Error).message}`)),
    );
  }

  function killController(index: number, restartAfter: number): void {
    const proc = controllers[index];
    if (!proc || proc.killed) return;
    proc.killed = true;
    proc.conn.kill();
    trace(`controller ${proc.owner} killed${proc.running?.isLeader() ? ' (was leader)' : ''}`);
    sched.after(restartAfter, () => startControllerProcess(index), `restart:controller`);
  }

  let leaderStart: { identity: string; at: number } | undefined;
  function leaderSince(): number | undefined {
    const leader = controllers.find((c) => !c.killed && c.running?.isLeader());
    if (!leader) {
      leaderStart = undefined;
      return undefined;
    }
    if (leaderStart?.identity !== leader.owner) leaderStart = { identity: leader.owner, at: sched.now };
    return leaderStart.at;
  }

  // ---- node faults ---------------------------------------------------------------

  function nodeDown(node: SimNode): void {
    node.down = true;
    killAgent(node, 'node down', -1);
    trace(`node ${node.name} went down`);
    sched.after(NODE_MONITOR_GRACE_MS, () => {
      if (!node.down || node.deleted) return;
      nodeReady(node.name, false);
      trace(`node ${node.name} marked NotReady`);
      sched.after(NODE_EVICTION_MS, () => {
        if (!node.down || node.deleted) return;
        for (const p of world.pods()) if (p.spec?.nodeName === node.name && !p.metadata.deletionTimestamp) deletePod(p, 'NotReady node eviction');
      }, 'nodes');
    }, 'nodes');
    sched.after(rng.between(60_000, 240_000), () => nodeUp(node), 'nodes');
  }

  function nodeUp(node: SimNode): void {
    if (!node.down || node.deleted) return;
    node.down = false;
    nodeReady(node.name, true);
    trace(`node ${node.name} back up`);
    // kubelet's first act on start is a sync: pods deleted meanwhile are torn down before anything else runs.
    kubeletSync(node);
    startAgent(node);
  }

  function deleteNode(node: SimNode): void {
    node.deleted = true;
    killAgent(node, 'node deleted', -1);
    sched.cancelOwner(`kubelet:${node.name}`);
    node.sandboxes.clear();
    try {
      api.direct.delete(`/api/v1/nodes/${node.name}`);
    } catch {
      // Already gone.
    }
    trace(`node ${node.name} deleted`);
    // The API server's pod garbage collector force-deletes the pods bound to it (after its quarantine).
    sched.after(30_000, () => addNode(), 'nodes');
  }

  // ---- pool edits ----------------------------------------------------------------

  const simExcluded = new Map<string, string[]>();
  let reservedSeq = 0;
  function poolEdit(): void {
    const pools = api.direct.list<KubeObject & { spec: { ips?: string[]; excludeIPs?: string[]; subnet: string } }>(IPPOOLS_PATH);
    const pool = rng.pick(pools);
    const name = pool.metadata.name ?? '';
    const held = new Set<string>();
    for (const a of api.objects('ipallocations') as Iterable<KubeObject & { spec?: { pool?: string; ip?: string; owner?: unknown } }>) if (a.spec?.owner) held.add(`${a.spec.pool}/${a.spec.ip}`);
    const mine = simExcluded.get(name) ?? [];
    const choice = rng.int(4);
    if (choice === 0 && mine.length > 0) {
      const ip = mine.splice(rng.int(mine.length), 1)[0]!;
      api.direct.patch(`${IPPOOLS_PATH}/${name}`, { spec: { excludeIPs: (pool.spec.excludeIPs ?? []).filter((x) => x !== ip) } });
      trace(`pool ${name}: ${ip} no longer excluded`);
      return;
    }
    if (choice === 1) {
      const reserved = api.direct.list<KubeObject>(RESERVED_PATH).filter((r) => r.metadata.name?.startsWith('sim-'));
      if (reserved.length > 0) {
        const r = rng.pick(reserved);
        api.direct.delete(`${RESERVED_PATH}/${r.metadata.name}`);
        trace(`ReservedIP ${r.metadata.name} deleted`);
        return;
      }
    }
    // Only free IPs, as the webhook requires; an agent may be reserving one right now, which is the race being tested.
    const candidates = (pool.spec.ips ?? []).flatMap((r) => expandRange(r)).filter((ip) => !held.has(`${name}/${ip}`) && !(pool.spec.excludeIPs ?? []).includes(ip));
    if (candidates.length === 0) return;
    const ip = rng.pick(candidates);
    if (choice === 2) {
      const rname = `sim-${++reservedSeq}`;
      api.direct.create(RESERVED_PATH, { apiVersion: TIDEPOOL_API_VERSION, kind: 'ReservedIP', metadata: { name: rname }, spec: { ips: [ip] } });
      trace(`ReservedIP ${rname} reserves ${ip}`);
      return;
    }
    api.direct.patch(`${IPPOOLS_PATH}/${name}`, { spec: { excludeIPs: [...(pool.spec.excludeIPs ?? []), ip] } });
    simExcluded.set(name, [...mine, ip]);
    trace(`pool ${name}: ${ip} excluded`);
  }

  // ---- fault schedule ----------------------------------------------------------------

  /** Fires `fn` as a Poisson process of `perMin` events per minute while chaos is on. */
  function every(perMin: number, fn: () => void): void {
    if (perMin <= 0) return;
    const next = () => {
      const gap = Math.max(1, Math.round((-Math.log(1 - faultRng.next()) / perMin) * 60_000));
      sched.after(gap, () => {
        if (!world.chaos) return;
        fn();
        next();
      }, 'chaos');
    };
    next();
  }

  function liveNodes(): SimNode[] {
    return [...nodes.values()].filter((n) => !n.deleted && !n.down);
  }

  function scheduleFaults(): void {
    every(f.agentKillPerMin, () => {
      const n = liveNodes();
      if (n.length > 0) killAgent(faultRng.pick(n), 'fault');
    });
    every(f.controllerKillPerMin, () => {
      const live = controllers.map((c, i) => ({ c, i })).filter(({ c }) => !c.killed);
      const leader = live.find(({ c }) => c.running?.isLeader());
      const target = leader && faultRng.chance(0.7) ? leader : live.length > 0 ? faultRng.pick(live) : undefined;
      if (target) killController(target.i, faultRng.between(2_000, 30_000));
    });
    every(f.watchDropPerMin, () => {
      const n = api.dropWatches(faultRng, faultRng.between(1, 3));
      if (n > 0) trace(`${n} watch streams dropped`);
    });
    every(f.nodeNotReadyPerMin, () => {
      const n = liveNodes();
      if (n.length > 1) nodeDown(faultRng.pick(n));
    });
    every(f.nodeDeletePerMin, () => {
      const n = [...nodes.values()].filter((x) => !x.deleted);
      if (n.length > 1) deleteNode(faultRng.pick(n));
    });
    every(f.poolEditPerMin, poolEdit);
    every(f.sandboxRestartPerMin, () => {
      const ups = liveNodes().flatMap((n) => [...n.sandboxes.values()].filter((s) => s.state === 'up').map((s) => ({ n, s })));
      if (ups.length === 0) return;
      const { n, s } = faultRng.pick(ups);
      trace(`sandbox of ${s.namespace}/${s.name} on ${n.name} restarts`);
      void teardown(n, s, 'sandbox restart');
    });
    every(f.namespaceDeletePerMin, () => {
      const spaces = [...new Set(workloads.map((w) => w.spec.namespace))].filter((ns) => ns !== 'default');
      if (spaces.length === 0) return;
      const ns = faultRng.pick(spaces);
      const obj = api.direct.get<KubeObject>(`/api/v1/namespaces/${ns}`);
      if (!obj || obj.metadata.deletionTimestamp) return;
      api.direct.delete(`/api/v1/namespaces/${ns}`);
      trace(`namespace ${ns} deleted`);
    });
    for (const w of workloads) {
      every(w.spec.churn.scale, () => churn(w, 'scale'));
      every(w.spec.churn.restart, () => churn(w, 'restart'));
      every(w.spec.churn.evict, () => churn(w, 'evict'));
      every(w.spec.churn.delete, () => churn(w, 'delete'));
      every(w.spec.churn.migrate, () => churn(w, 'migrate'));
    }
  }

  function runScript(): void {
    for (const step of scenario.script) {
      sched.at(sched.now + step.atMs, () => {
        for (const w of workloads) {
          if (step.workload !== '*' && step.workload !== w.spec.name) continue;
          if (step.action === 'scale') {
            if (w.spec.kind === 'VirtualMachine') continue;
            w.replicas = step.replicas;
            w.exists = true;
          } else if (step.action === 'delete-pods') {
            for (const p of podsOf(w)) if (!p.metadata.deletionTimestamp) deletePod(p, 'script');
          } else deleteWorkload(w, 'script');
        }
        trace(`script: ${step.action} ${step.workload}${step.action === 'scale' ? ` to ${step.replicas}` : ''}`);
      }, 'script');
    }
  }

  // ---- lifecycle -------------------------------------------------------------------

  async function start(): Promise<void> {
    for (const p of scenario.pools) api.direct.create(IPPOOLS_PATH, toPoolObject(p));
    for (const ns of new Set(workloads.map((w) => w.spec.namespace))) ensureNamespace(ns);
    for (let i = 0; i < scenario.nodes; i++) addNode();
    for (let i = 0; i < scenario.controllers; i++) startControllerProcess(i);
    // Workloads start once agents had a moment to sync, like a cluster that was up before the apps.
    sched.after(2_000, workloadLoop, 'workloads');
    scheduleFaults();
  }

  function heal(): void {
    world.chaos = false;
    for (const node of nodes.values()) {
      if (node.deleted) continue;
      if (node.down) nodeUp(node);
      else startAgent(node);
    }
    controllers.forEach((c, i) => {
      if (c.killed) startControllerProcess(i);
    });
    trace('chaos off: every node and process is back');
  }

  return world;
}

function ordinalOf(pod: KubeObject, base: string): number {
  const name = pod.metadata.name ?? '';
  const m = /-(\d+)$/.exec(name);
  return m && name === `${base}-${m[1]}` ? Number(m[1]) : -1;
}

function finishedAt(pod: PodObject): number {
  const s = pod.status?.containerStatuses?.[0] as { state?: { terminated?: { finishedAt?: string } } } | undefined;
  return Date.parse(s?.state?.terminated?.finishedAt ?? '') || 0;
}

function short(uid: string | undefined): string {
  return (uid ?? '').slice(0, 8);
}

/** The IPs of an `a-b` range or a single IP, as text (ranges in scenarios are small enough to list). */
function expandRange(text: string): string[] {
  const [a, b] = text.split('-');
  const lo = a ? parseAddress(a.trim()) : undefined;
  const hi = b ? parseAddress(b.trim()) : lo;
  if (!lo || !hi || hi.family !== lo.family) return [];
  const out: string[] = [];
  for (let v = lo.value; v <= hi.value && out.length < 65_536; v++) out.push(formatAddress({ family: lo.family, value: v }));
  return out;
}
