// The kubelets of every simulated node, the ReplicaSet controller, the
// garbage collector and the user, in the bench process. Pods are API objects;
// every sandbox is a real network namespace, and every ADD and DEL runs
// Debian's macvlan plugin (through the node's runtime process), which runs
// tidepool's plugin, which asks that node's agent over its socket.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { isNotFound } from '../../src/k8s/rest.ts';
import { cleanEnv } from '../../test/helpers/agent-process.ts';
import { CNI_BIN } from '../../test/helpers/netns.ts';
import type { RuntimeResult } from './runtime-shim.ts';
import { Semaphore, TokenBucket } from './limits.ts';
import type { Owned, Runtime } from './system.ts';

export const POD_NAMESPACE = 'default';
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function suffix(n: number): string {
  const bytes = randomBytes(n);
  return [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

export interface Deployment {
  readonly name: string;
  readonly hash: string;
  /** The UID of its ReplicaSet, once created: pods name it as their owner, so the API server's garbage collector leaves them be. */
  readonly rsUid: Promise<string>;
  readonly replicas: number;
  /** Pods that count towards the replicas: not being deleted. */
  active: number;
  deleted: boolean;
}

export type PodState = 'starting' | 'running' | 'terminating' | 'gone';

export interface Pod {
  readonly name: string;
  readonly uid: string;
  readonly node: string;
  readonly dep: Deployment;
  /** Creation order: a phase's replacements have seq >= the driver's podSeq at its start. */
  readonly seq: number;
  state: PodState;
  netns: string | undefined;
  containerId: string | undefined;
  /** Addresses without prefix length, as the ADD result gave them. */
  ips: string[];
  /** Recovery: the addresses before the node went down. */
  prevIps: string[] | undefined;
}

export type CniRun = RuntimeResult;

export interface DriverOptions {
  readonly rest: KubeRest;
  readonly owned: Owned;
  /** Name prefix of every namespace this run creates. */
  readonly prefix: string;
  readonly nodes: readonly string[];
  readonly masters: ReadonlyMap<string, string>;
  readonly sockets: ReadonlyMap<string, string>;
  /** Each node's container runtime: every sandbox command runs through it. */
  readonly runtimes: ReadonlyMap<string, Runtime>;
  /** CNI_PATH: the private plugin copy first, then Debian's plugins. */
  readonly cniPath: string;
  readonly concurrency: number;
  /** Requests in flight per client: the ReplicaSet role, the garbage-collector role, the user. */
  readonly apiConcurrency?: number;
  /** Wait before a pod whose ADD failed is tried again; default KUBELET_BACKOFF_MS (jittered up to +50%). */
  readonly retryMs?: number;
  /** The ReplicaSet controller's client rate limit (kube-controller-manager's --kube-api-qps/--kube-api-burst); qps 0: none. */
  readonly controllerQps?: { readonly qps: number; readonly burst: number };
}

export interface Duplicate {
  readonly ip: string;
  readonly pods: readonly string[];
  readonly where: string;
}

/** Figures a phase reads and resets. */
export interface DriverCounters {
  addMs: number[];
  delMs: number[];
  /** Failed ADD attempts by error (code and the start of the message). */
  addFailures: Record<string, number>;
  delFailures: Record<string, number>;
  lostDels: number;
  dels: number;
  podsCreated: number;
  /** ms from a pod's graceful delete until each of its IPs was free, by who freed it: its DEL, or the collector after a lost DEL. */
  freedAfterDelete: { del: number[]; gc: number[] };
}

function freshCounters(): DriverCounters {
  return { addMs: [], delMs: [], addFailures: {}, delFailures: {}, lostDels: 0, dels: 0, podsCreated: 0, freedAfterDelete: { del: [], gc: [] } };
}

/** Kubelet's backOffPeriod after a pod sync fails (pkg/kubelet), and the jitter factor its pod workers apply to it. */
export const KUBELET_BACKOFF_MS = 10_000;
const KUBELET_BACKOFF_JITTER = 0.5;

/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

/** Parses a CNI error on stdout into a short bucket name. */
function errorBucket(r: CniRun): string {
  try {
    const e = JSON.parse(r.stdout) as { code?: number; msg?: string };
    const msg = (e.msg ?? '').replace(/pod \S+/g, 'pod X').replace(/"[^"]*"/g, '"…"');
    return `${e.code ?? '?'} ${msg.slice(0, 60)}`;
  } catch {
    return `exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 60)}`;
  }
}

export class Driver {
  readonly pods = new Map<string, Pod>();
  readonly deployments: Deployment[] = [];
  readonly duplicates: Duplicate[] = [];
  counters: DriverCounters = freshCounters();
  /** IP → the running pod holding it, per the ADD results. */
  private readonly holders = new Map<string, string>();
  /**
   * Per node, sandbox starts and teardowns in flight. Kubelet runs a worker
   * per pod, so a new pod's start never queues behind another pod's
   * teardown: at 1:1 a replacement's ADD races the DELs that free its IP.
   */
  private readonly kubelets = new Map<string, { starts: Semaphore; stops: Semaphore }>();
  /** Requests in flight per client: the ReplicaSet controller, the garbage collector, and the user deleting pods. */
  private readonly clients: Record<'replicaset' | 'gc' | 'user', { inFlight: Semaphore; rate: TokenBucket }>;
  private rr = 0;
  /** Pods created so far (the next pod's seq). */
  podSeq = 0;
  private nsSeq = 0;
  private stopped = false;
  private readonly stopping = new AbortController();
  private readonly retryMs: number;
  private readonly waiters = new Set<() => void>();
  private readonly background = new Set<Promise<void>>();
  private readonly errors: Error[] = [];
  /** Pods deleted (by UID): when the graceful delete was answered, and whether their DEL is lost. */
  private readonly deletedAt = new Map<string, { at: number; lostDel: boolean }>();
  /** Recovery: pods whose re-ADD returned different addresses. */
  readonly changedOnRecovery: Array<{ pod: string; before: string[]; after: string[] }> = [];
  lastRunningAt = 0;

  constructor(private readonly o: DriverOptions) {
    this.retryMs = o.retryMs ?? KUBELET_BACKOFF_MS;
    for (const n of o.nodes) this.kubelets.set(n, { starts: new Semaphore(o.concurrency), stops: new Semaphore(o.concurrency) });
    const client = (rate: TokenBucket) => ({ inFlight: new Semaphore(o.apiConcurrency ?? 32), rate });
    // kube-controller-manager builds each controller its own client, so each has its own bucket.
    const controller = () => client(new TokenBucket(o.controllerQps?.qps ?? 0, o.controllerQps?.burst ?? 1));
    this.clients = { replicaset: controller(), gc: controller(), user: client(new TokenBucket(0, 0)) };
  }

  /** An IP of pod `uid` was seen free (by the caller's watch): counted if the pod was deleted. */
  ipFreed(uid: string): void {
    const d = this.deletedAt.get(uid);
    if (d) this.counters.freedAfterDelete[d.lostDel ? 'gc' : 'del'].push(performance.now() - d.at);
  }

  resetCounters(): DriverCounters {
    const c = this.counters;
    this.counters = freshCounters();
    return c;
  }

  get running(): number {
    let n = 0;
    for (const p of this.pods.values()) if (p.state === 'running') n++;
    return n;
  }

  countBy(): Record<PodState, number> {
    const out: Record<PodState, number> = { starting: 0, running: 0, terminating: 0, gone: 0 };
    for (const p of this.pods.values()) out[p.state]++;
    return out;
  }

  /** Stops every loop: pending retries give up, nothing new is started. */
  stop(): void {
    this.stopped = true;
    this.stopping.abort();
    this.notify();
  }

  /** The first unexpected error of a background task (API failure, netns failure), if any. */
  get error(): Error | undefined {
    return this.errors[0];
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when `done()` holds, checked after every state change; rejects at the deadline with `describe()`. */
  waitFor(done: () => boolean, deadlineMs: number, describe: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      const finish = (err?: Error) => {
        this.waiters.delete(check);
        clearTimeout(timer);
        clearInterval(poll);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (this.errors.length > 0) finish(this.errors[0]);
        else if (done()) finish();
        else if (this.stopped) finish(new Error('stopped'));
      };
      this.waiters.add(check);
      timer = setTimeout(() => finish(new Error(`timed out: ${describe()}`)), Math.max(0, deadlineMs - Date.now()));
      // For conditions outside the driver (the allocation watch).
      poll = setInterval(check, 50);
      check();
    });
  }

  private spawnTask(p: Promise<void>): void {
    const t = p.catch((err: unknown) => {
      if (!this.stopped) {
        this.errors.push(err instanceof Error ? err : new Error(String(err)));
        this.notify();
      }
    });
    this.background.add(t);
    void t.finally(() => this.background.delete(t));
  }

  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  private async apiCall<T>(who: keyof Driver['clients'], fn: () => Promise<T>): Promise<T> {
    const c = this.clients[who];
    await c.rate.take();
    await c.inFlight.acquire();
    try {
      return await fn();
    } finally {
      c.inFlight.release();
    }
  }

  // ---- the ReplicaSet role ----------------------------------------------------

  /** Creates `count` Deployments of `replicas` and their pods; returns at once, pods start in the background. */
  createDeployments(count: number, replicas: number): void {
    const width = String(count - 1).length;
    for (let i = 0; i < count; i++) {
      const name = `web-${String(i).padStart(width, '0')}`;
      const hash = suffix(10);
      const dep: Deployment = { name, hash, rsUid: this.createReplicaSet(name, hash, replicas), replicas, active: 0, deleted: false };
      // Awaited by every pod's creation; a failure fails those, not the process.
      dep.rsUid.catch(() => undefined);
      this.deployments.push(dep);
      this.reconcile(dep);
    }
  }

  /** The ReplicaSet object the pods of a Deployment belong to, as the Deployment controller makes it. */
  private async createReplicaSet(dep: string, hash: string, replicas: number): Promise<string> {
    const labels = { app: dep, 'pod-template-hash': hash };
    const created = await this.apiCall('replicaset', () =>
      this.o.rest.create<{ metadata: { uid: string } }>(`/apis/apps/v1/namespaces/${POD_NAMESPACE}/replicasets`, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: `${dep}-${hash}`, namespace: POD_NAMESPACE, labels },
        spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] } } },
      }),
    );
    return created.metadata.uid;
  }

  /** Keeps `dep` at its replica count: replacements for pods being deleted are created at once. */
  private reconcile(dep: Deployment): void {
    while (!dep.deleted && !this.stopped && dep.active < dep.replicas) {
      dep.active++;
      this.spawnTask(this.createPod(dep));
    }
  }

  private async createPod(dep: Deployment): Promise<void> {
    const node = this.o.nodes[this.rr++ % this.o.nodes.length]!;
    const seq = this.podSeq++;
    const rs = `${dep.name}-${dep.hash}`;
    const name = `${rs}-${suffix(5)}`;
    const rsUid = await dep.rsUid;
    const created = await this.apiCall('replicaset', () =>
      this.o.rest.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${POD_NAMESPACE}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: POD_NAMESPACE,
          labels: { app: dep.name, 'pod-template-hash': dep.hash },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: rsUid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { nodeName: node, containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.9' }] },
      }),
    );
    this.counters.podsCreated++;
    const pod: Pod = { name, uid: created.metadata.uid, node, dep, seq, state: 'starting', netns: undefined, containerId: undefined, ips: [], prevIps: undefined };
    this.pods.set(name, pod);
    this.notify();
    await this.startSandbox(pod);
  }

  // ---- kubelet ----------------------------------------------------------------

  private netconf(node: string): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: 'e2e-underlay',
      type: 'macvlan',
      master: this.o.masters.get(node),
      mode: 'bridge',
      ipam: { type: 'tidepool', socket: this.o.sockets.get(node) },
    });
  }

  /** Runs macvlan through the pod's node's runtime; timed there, from spawn to exit. */
  cni(command: 'ADD' | 'DEL', pod: Pod, containerId: string, netns: string): Promise<CniRun> {
    const env = cleanEnv({
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/var/run/netns/${netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: this.o.cniPath,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${POD_NAMESPACE};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${containerId};K8S_POD_UID=${pod.uid}`,
    });
    return this.runtime(pod.node).exec(`${CNI_BIN}/macvlan`, [], { env, input: this.netconf(pod.node) });
  }

  private runtime(node: string): Runtime {
    const r = this.o.runtimes.get(node);
    if (!r) throw new Error(`no runtime for ${node}`);
    return r;
  }

  private async newNetns(node: string): Promise<string> {
    const name = `${this.o.prefix}-${this.nsSeq++}`;
    this.o.owned.namespaces.add(name);
    await this.runtime(node).run('ip', ['netns', 'add', name]);
    return name;
  }

  private async deleteNetns(node: string, name: string): Promise<void> {
    await this.runtime(node).run('ip', ['netns', 'del', name]).catch(() => '');
    this.o.owned.namespaces.delete(name);
  }

  /**
   * Sandbox start, as kubelet does it: namespace, ADD; a failed ADD is torn
   * down with DEL, and the pod's sync is retried after kubelet's backOffPeriod
   * (10 s, jittered up to +50%) with a new sandbox ID, until it succeeds or
   * the pod is deleted.
   */
  private async startSandbox(pod: Pod): Promise<void> {
    const slots = this.kubelets.get(pod.node)!.starts;
    while (!this.stopped && pod.state === 'starting') {
      await slots.acquire();
      let ok: { containerId: string; ips: string[] } | undefined;
      try {
        if (this.stopped || pod.state !== 'starting') return;
        pod.netns ??= await this.newNetns(pod.node);
        const containerId = randomBytes(32).toString('hex');
        const r = await this.cni('ADD', pod, containerId, pod.netns);
        if (r.code === 0) {
          this.counters.addMs.push(r.ms);
          const result = JSON.parse(r.stdout) as { ips?: Array<{ address: string }> };
          ok = { containerId, ips: (result.ips ?? []).map((i) => i.address.split('/')[0]!) };
        } else {
          const bucket = errorBucket(r);
          this.counters.addFailures[bucket] = (this.counters.addFailures[bucket] ?? 0) + 1;
          // macvlan leaves its interface behind on a failed ADD; the runtime tears the sandbox down.
          await this.cni('DEL', pod, containerId, pod.netns);
        }
      } finally {
        slots.release();
      }
      if (ok) {
        pod.containerId = ok.containerId;
        pod.ips = ok.ips;
        // Kubelet's status update, on its own client: its default limit (50/s, burst 100) is far above what a node needs here.
        await this.o.rest.patch(`/api/v1/namespaces/${POD_NAMESPACE}/pods/${pod.name}/status`, {
          status: {
            phase: 'Running',
            podIP: ok.ips[0],
            podIPs: ok.ips.map((ip) => ({ ip })),
            conditions: [{ type: 'Ready', status: 'True' }],
          },
        });
        this.markRunning(pod);
        return;
      }
      await sleep(this.retryMs * (1 + KUBELET_BACKOFF_JITTER * Math.random()), this.stopping.signal);
    }
  }

  private markRunning(pod: Pod): void {
    if (pod.state !== 'starting') return;
    for (const ip of pod.ips) {
      const other = this.holders.get(ip);
      if (other && other !== pod.name && this.pods.get(other)?.state === 'running') this.duplicates.push({ ip, pods: [other, pod.name], where: 'ADD results of running pods' });
      this.holders.set(ip, pod.name);
    }
    if (pod.prevIps) {
      const before = [...pod.prevIps].sort();
      const after = [...pod.ips].sort();
      if (before.join() !== after.join()) this.changedOnRecovery.push({ pod: pod.name, before, after });
      pod.prevIps = undefined;
    }
    pod.state = 'running';
    this.lastRunningAt = performance.now();
    this.notify();
  }

  private forgetIps(pod: Pod): void {
    for (const ip of pod.ips) if (this.holders.get(ip) === pod.name) this.holders.delete(ip);
  }

  /**
   * Graceful delete through the API (deletionTimestamp), by the user or by
   * the garbage collector (a deleted Deployment's pods); then kubelet's part:
   * DEL and namespace removal, or only the namespace removal when the DEL is
   * lost; then the final delete with grace 0. The ReplicaSet role creates the
   * replacement as soon as the graceful delete is answered.
   */
  deletePod(pod: Pod, lostDel: boolean, by: 'user' | 'gc' = 'user'): void {
    this.spawnTask(this.deletePodTask(pod, lostDel, by));
  }

  private async deletePodTask(pod: Pod, lostDel: boolean, by: 'user' | 'gc'): Promise<void> {
    const path = `/api/v1/namespaces/${POD_NAMESPACE}/pods/${pod.name}`;
    await this.apiCall(by, () => this.o.rest.delete(path, {}));
    pod.dep.active--;
    this.reconcile(pod.dep);
    pod.state = 'terminating';
    this.deletedAt.set(pod.uid, { at: performance.now(), lostDel });
    this.forgetIps(pod);
    this.notify();
    const slots = this.kubelets.get(pod.node)!.stops;
    await slots.acquire();
    try {
      if (pod.netns) {
        if (lostDel) this.counters.lostDels++;
        else if (pod.containerId) {
          this.counters.dels++;
          for (let attempt = 0; ; attempt++) {
            const r = await this.cni('DEL', pod, pod.containerId, pod.netns);
            if (r.code === 0) {
              this.counters.delMs.push(r.ms);
              break;
            }
            const bucket = errorBucket(r);
            this.counters.delFailures[bucket] = (this.counters.delFailures[bucket] ?? 0) + 1;
            if (attempt >= 5 || this.stopped) break;
            await sleep(200 * (attempt + 1), this.stopping.signal);
          }
        }
        await this.deleteNetns(pod.node, pod.netns);
        pod.netns = undefined;
      }
    } finally {
      slots.release();
    }
    // Each kubelet sends its final delete on its own connection right after teardown: it must not queue
    // behind the ReplicaSet role's creates, or the deletion would reach the API server late.
    await this.o.rest.delete(path, { gracePeriodSeconds: 0 }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    pod.state = 'gone';
    this.pods.delete(pod.name);
    this.notify();
  }

  /** The user deletes every pod at once; a `lostShare` of them lose their DEL (chosen evenly, every 1/share-th pod). */
  deleteAllPods(lostShare: number, by: 'user' | 'gc' = 'user'): { lost: number } {
    const pods = [...this.pods.values()].filter((p) => p.state === 'running' || p.state === 'starting');
    let lost = 0;
    let acc = 0;
    for (const p of pods) {
      acc += lostShare;
      const isLost = acc >= 1 - 1e-9;
      if (isLost) {
        acc -= 1;
        lost++;
      }
      this.deletePod(p, isLost, by);
    }
    return { lost };
  }

  /** The Deployments are deleted: no more replacements; the garbage collector deletes every pod, and each gets its DEL. */
  deleteDeployments(): void {
    for (const d of this.deployments) d.deleted = true;
    this.deleteAllPods(0, 'gc');
  }

  /**
   * The nodes went down: every sandbox is gone without a DEL. Returns the old
   * namespaces (for the caller to delete) and marks every pod as starting,
   * remembering its addresses.
   */
  nodesDown(): string[] {
    const old: string[] = [];
    for (const p of this.pods.values()) {
      if (p.state !== 'running') throw new Error(`pod ${p.name} is ${p.state}, not running, when the nodes go down`);
      this.forgetIps(p);
      p.prevIps = p.ips;
      p.ips = [];
      if (p.netns) old.push(p.netns);
      p.netns = undefined;
      p.containerId = undefined;
      p.state = 'starting';
    }
    this.notify();
    return old;
  }

  /** Kubelets come back: every pod's sandbox is created again (new ID, new namespace). */
  restartSandboxes(): void {
    for (const p of this.pods.values()) if (p.state === 'starting') this.spawnTask(this.startSandbox(p));
  }
}
