// Shared by test/k8s-contention.test.ts and bench/k8s.ts: many nodes' agents
// allocating from one pool through the API server at once, driven the way
// kubelets drive CNI ADD and DEL. Also runnable as a child process that serves
// a fake API server and answers its stats() over IPC (see
// startFakeApiServerProcess), because test/apiserver/main.ts keeps its
// counters to itself and the conflict count is the figure that matters here.
import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeRest } from '../../src/k8s/rest.ts';
import type { ServerStats } from '../apiserver/server.ts';
import type { ChartKubeconfigs } from './chart-rbac.ts';
import { callSocket, cleanEnv, ROOT } from './agent-process.ts';
import { waitUntilReady } from './readiness.ts';

export const NAMESPACE = 'default';
export const POOL = 'contention-v4';
const IPALLOCATIONS = '/apis/tidepool.dev/v1alpha1/ipallocations';
// 10.40.0.0/13 is the largest block aligned at 10.40.0.0.
const BASE = (10 << 24) | (40 << 16);
export const MAX_POOL_IPS = 2 ** 19 - 2;

export interface PoolPlan {
  readonly subnet: string;
  readonly range: string;
  readonly size: number;
}

function ipv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The smallest subnet at 10.40.0.0 holding exactly `size` host addresses from .1 on. */
export function planPool(size: number): PoolPlan {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_POOL_IPS) throw new RangeError(`pool size must be 1..${MAX_POOL_IPS}, got ${size}`);
  // +2: the network address stays out, and so does the broadcast address.
  const hostBits = Math.max(2, Math.ceil(Math.log2(size + 2)));
  return { subnet: `${ipv4(BASE)}/${32 - hostBits}`, range: `${ipv4(BASE + 1)}-${ipv4(BASE + size)}`, size };
}

export function nodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `node-${i}`);
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function eachBounded<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function createNodes(rest: KubeRest, names: readonly string[]): Promise<void> {
  await eachBounded(names, 8, async (name) => {
    await rest.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  });
}

/** The one pool every pod draws from: a cluster default, so no annotation or netconf names it. */
export async function createPool(rest: KubeRest, plan: PoolPlan): Promise<void> {
  await rest.create('/apis/tidepool.dev/v1alpha1/ippools', {
    apiVersion: 'tidepool.dev/v1alpha1',
    kind: 'IPPool',
    metadata: { name: POOL },
    spec: { subnet: plan.subnet, ips: [plan.range], default: true },
  });
}

export interface PlannedPod {
  readonly name: string;
  readonly node: string;
  readonly uid: string;
  /** The sandbox ID the runtime would pass as CNI_CONTAINERID. */
  readonly containerId: string;
}

/** Creates `<prefix>-<i>` bound round-robin to `nodes`, as a scheduler spreading a Deployment would. */
export async function createPods(rest: KubeRest, opts: { prefix: string; count: number; nodes: readonly string[]; concurrency?: number }): Promise<PlannedPod[]> {
  const pods: PlannedPod[] = new Array(opts.count);
  const indexes = Array.from({ length: opts.count }, (_, i) => i);
  await eachBounded(indexes, opts.concurrency ?? 16, async (i) => {
    const name = `${opts.prefix}-${i}`;
    const node = opts.nodes[i % opts.nodes.length]!;
    const created = await rest.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${NAMESPACE}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NAMESPACE, labels: { app: opts.prefix } },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'pause' }] },
    });
    const uid = created.metadata.uid;
    pods[i] = { name, node, uid, containerId: `sandbox-${name}-${uid.slice(0, 8)}` };
  });
  return pods;
}

/** Removes the pods at once (grace 0), as a force delete or kubelet's final delete does. */
export async function forceDeletePods(rest: KubeRest, pods: readonly PlannedPod[], concurrency = 16): Promise<void> {
  await eachBounded(pods, concurrency, async (p) => {
    await rest.delete(`/api/v1/namespaces/${NAMESPACE}/pods/${p.name}`, { gracePeriodSeconds: 0 });
  });
}

export interface AddOutcome {
  /** Pod name → addresses of the successful ADD. */
  readonly addresses: Map<string, string[]>;
  /** ADDs that never succeeded: exhaustion at once, anything else after the retries. */
  readonly failures: Array<{ pod: string; code: string; message: string }>;
  /** Error code → failed attempts that were retried. */
  readonly retried: Record<string, number>;
  /** Socket request to response, in ms, of every successful ADD. */
  readonly latenciesMs: number[];
  readonly wallMs: number;
}

export interface DriveOptions {
  /** Node name → that node's agent socket. */
  readonly sockets: ReadonlyMap<string, string>;
  readonly pods: readonly PlannedPod[];
  /** In-flight calls per node, like kubelet's parallel pod starts. */
  readonly concurrency: number;
  readonly maxRetries?: number;
  readonly backoffMs?: number;
  readonly onSettled?: (settled: number) => void;
}

function socketOf(sockets: ReadonlyMap<string, string>, node: string): string {
  const socket = sockets.get(node);
  if (!socket) throw new Error(`no agent for node ${node}`);
  return socket;
}

function byNode(pods: readonly PlannedPod[]): Map<string, PlannedPod[]> {
  const out = new Map<string, PlannedPod[]>();
  for (const p of pods) {
    const list = out.get(p.node) ?? [];
    list.push(p);
    out.set(p.node, list);
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * CNI ADD for every pod through its node's agent, each node working through
 * its own pods with `concurrency` in flight. Like kubelet, a failed ADD is
 * retried after a short backoff, except exhaustion, which the caller treats
 * as a failure: with as many IPs as pods it must never happen.
 */
export async function driveAdds(opts: DriveOptions): Promise<AddOutcome> {
  const maxRetries = opts.maxRetries ?? 8;
  const backoffMs = opts.backoffMs ?? 25;
  const addresses = new Map<string, string[]>();
  const failures: AddOutcome['failures'] = [];
  const retried: Record<string, number> = {};
  const latenciesMs: number[] = [];
  let settled = 0;
  const started = performance.now();
  await Promise.all(
    [...byNode(opts.pods)].map(([node, pods]) => {
      const socket = socketOf(opts.sockets, node);
      return eachBounded(pods, opts.concurrency, async (pod) => {
        const body = { containerId: pod.containerId, ifname: 'eth0', netns: '', network: 'underlay', pod: { namespace: NAMESPACE, name: pod.name, uid: pod.uid } };
        for (let attempt = 0; ; attempt++) {
          const t0 = performance.now();
          let code: string;
          let message: string;
          try {
            const res = await callSocket(socket, 'POST', '/v1/allocate', body);
            if (res.status === 200) {
              latenciesMs.push(performance.now() - t0);
              addresses.set(pod.name, (res.body as { ips: Array<{ address: string }> }).ips.map((i) => i.address));
              break;
            }
            const err = (res.body as { error?: { code?: string; message?: string } } | undefined)?.error;
            code = err?.code ?? `HTTP_${res.status}`;
            message = err?.message ?? JSON.stringify(res.body);
          } catch (err) {
            code = 'SOCKET_ERROR';
            message = (err as Error).message;
          }
          if (code === 'POOL_EXHAUSTED' || attempt >= maxRetries) {
            failures.push({ pod: pod.name, code, message });
            break;
          }
          retried[code] = (retried[code] ?? 0) + 1;
          await sleep(backoffMs * (attempt + 1));
        }
        opts.onSettled?.(++settled);
      });
    }),
  );
  return { addresses, failures, retried, latenciesMs, wallMs: performance.now() - started };
}

export interface DelOutcome {
  readonly released: number;
  /** DELs that freed nothing or failed: with the pod gone, each must free its IP. */
  readonly problems: Array<{ pod: string; problem: string }>;
  readonly wallMs: number;
}

/** CNI DEL of every pod's sandbox through its node's agent. */
export async function driveDels(opts: Omit<DriveOptions, 'maxRetries' | 'backoffMs'>): Promise<DelOutcome> {
  let released = 0;
  let settled = 0;
  const problems: DelOutcome['problems'] = [];
  const started = performance.now();
  await Promise.all(
    [...byNode(opts.pods)].map(([node, pods]) => {
      const socket = socketOf(opts.sockets, node);
      return eachBounded(pods, opts.concurrency, async (pod) => {
        try {
          const res = await callSocket(socket, 'POST', '/v1/release', { containerId: pod.containerId, ifname: 'eth0' });
          const n = res.status === 200 ? ((res.body as { released?: unknown[] }).released?.length ?? 0) : 0;
          released += n;
          if (n !== 1) problems.push({ pod: pod.name, problem: res.status === 200 ? `released ${n} IPs` : `HTTP ${res.status}: ${JSON.stringify(res.body)}` });
        } catch (err) {
          problems.push({ pod: pod.name, problem: (err as Error).message });
        }
        opts.onSettled?.(++settled);
      });
    }),
  );
  return { released, problems, wallMs: performance.now() - started };
}

export interface AllocationObject {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { pool: string; ip: string; owner?: { podUid?: string; podName?: string; node?: string; containerId?: string } };
}

export async function listAllocations(rest: KubeRest): Promise<AllocationObject[]> {
  return (await rest.list<AllocationObject>(IPALLOCATIONS, { labelSelector: `tidepool.dev/pool=${POOL}` })).items;
}

function ipValue(ip: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  return m ? ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0 : undefined;
}

/**
 * Everything that must hold after a phase of ADDs, as readable problems
 * (empty when all is well): every pod has exactly one IP of the pool, no two
 * pods share one, and the API server holds exactly one allocated
 * IPAllocation per pod, owned by that pod (UID) on its node.
 */
export function checkPhase(opts: { pods: readonly PlannedPod[]; outcome: AddOutcome; objects: readonly AllocationObject[]; pool: PoolPlan }): string[] {
  const problems: string[] = [];
  const cap = (list: string[], what: string) => {
    if (list.length > 0) problems.push(`${list.length} ${what}: ${list.slice(0, 5).join('; ')}${list.length > 5 ? '; ...' : ''}`);
  };
  const first = BASE + 1;
  const last = BASE + opts.pool.size;
  const ipOf = new Map<string, string>();
  const wrongCount: string[] = [];
  const outside: string[] = [];
  for (const pod of opts.pods) {
    const got = opts.outcome.addresses.get(pod.name);
    if (!got) continue;
    if (got.length !== 1) wrongCount.push(`${pod.name} got ${JSON.stringify(got)}`);
    const ip = got[0]?.split('/')[0] ?? '';
    const v = ipValue(ip);
    if (v === undefined || v < first || v > last) outside.push(`${pod.name} got ${ip}`);
    ipOf.set(pod.name, ip);
  }
  cap(
    opts.pods.filter((p) => !opts.outcome.addresses.has(p.name)).map((p) => p.name),
    'pods got no IP',
  );
  cap(wrongCount, 'pods did not get exactly one IP');
  cap(outside, 'pods got an IP outside the pool');
  const holders = new Map<string, string[]>();
  for (const [pod, ip] of ipOf) holders.set(ip, [...(holders.get(ip) ?? []), pod]);
  cap(
    [...holders].filter(([, pods]) => pods.length > 1).map(([ip, pods]) => `${ip} → ${pods.join(', ')}`),
    'IPs handed to more than one pod',
  );
  const allocated = opts.objects.filter((o) => o.metadata.labels?.['tidepool.dev/state'] === 'allocated');
  if (allocated.length !== opts.pods.length) problems.push(`the API server holds ${allocated.length} allocated IPAllocations, expected ${opts.pods.length}`);
  const podByUid = new Map(opts.pods.map((p) => [p.uid, p]));
  const misowned: string[] = [];
  for (const o of allocated) {
    const owner = o.spec.owner;
    const pod = owner?.podUid ? podByUid.get(owner.podUid) : undefined;
    if (!pod) misowned.push(`${o.metadata.name} owned by ${JSON.stringify(owner)}, not a pod of this phase`);
    else if (owner?.node !== pod.node) misowned.push(`${o.metadata.name} records node ${owner?.node}, ${pod.name} runs on ${pod.node}`);
    else if (ipOf.get(pod.name) !== o.spec.ip) misowned.push(`${o.metadata.name} owned by ${pod.name}, which was answered ${ipOf.get(pod.name)}`);
  }
  cap(misowned, 'allocated IPAllocations with the wrong owner');
  return problems;
}

/** 409s on IPAllocations: Conflict (a stale update) plus AlreadyExists (a create that lost). */
export function allocationConflicts(stats: ServerStats): { conflict: number; alreadyExists: number; total: number } {
  const conflict = stats.conflicts['ipallocations'] ?? 0;
  const alreadyExists = stats.alreadyExists['ipallocations'] ?? 0;
  return { conflict, alreadyExists, total: conflict + alreadyExists };
}

/** Linear interpolation between closest ranks; `sorted` ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

// ---- the fake API server as a child process --------------------------------

/**
 * A fake API server in its own process: its CPU is not the driver's, as a
 * real API server's is not. It has authentication and the chart's RBAC;
 * `kubeconfigs` are the administrator's (the driver) and each component's.
 */
export interface FakeApiServerProcess {
  readonly url: string;
  readonly proc: ChildProcess;
  readonly kubeconfigs: ChartKubeconfigs;
  stats(): Promise<ServerStats>;
  resetStats(): Promise<void>;
  /** RBAC's refusals of the agent's and controllers' requests so far (see TestCluster.close). */
  denials(): Promise<string[]>;
  /** SIGTERM, then SIGKILL if it has not exited within a second. */
  stop(): Promise<void>;
}

type ChildReply = { type: 'listening'; url: string; kubeconfigs: ChartKubeconfigs } | { type: 'stats'; id: number; stats: ServerStats } | { type: 'reset'; id: number } | { type: 'denials'; id: number; denials: string[] };
type ChildRequest = { type: 'stats' | 'reset' | 'denials'; id: number };

const CHILD_FLAG = '--serve-fake-apiserver';
const THIS_FILE = fileURLToPath(import.meta.url);

/** Starts it; the kubeconfigs are written into `dir`. */
export async function startFakeApiServerProcess(opts: { dir: string; execArgv?: readonly string[] }): Promise<FakeApiServerProcess> {
  const proc = fork(THIS_FILE, [CHILD_FLAG, opts.dir], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  // Its stderr goes on to ours, as before, and is kept for the error if it never listens.
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => {
    process.stderr.write(c);
    stderr = (stderr + c.toString()).slice(-8000);
  });
  let nextId = 0;
  const waiting = new Map<number, (reply: ChildReply) => void>();
  let listening: (ChildReply & { type: 'listening' }) | undefined;
  proc.on('message', (m: ChildReply) => {
    if (m.type === 'listening') listening = m;
    else waiting.get(m.id)?.(m);
  });
  const { url, kubeconfigs } = await waitUntilReady('fake API server', proc, () => stderr, () => listening).catch(async (err: unknown) => {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  });
  const ask = (type: ChildRequest['type']) =>
    new Promise<ChildReply>((resolveReply, reject) => {
      const id = nextId++;
      waiting.set(id, (reply) => {
        waiting.delete(id);
        resolveReply(reply);
      });
      proc.send({ type, id } satisfies ChildRequest, (err) => err && reject(err));
    });
  return {
    url,
    proc,
    kubeconfigs,
    async denials() {
      const reply = await ask('denials');
      if (reply.type !== 'denials') throw new Error(`unexpected reply ${reply.type}`);
      return reply.denials;
    },
    async stats() {
      const reply = await ask('stats');
      if (reply.type !== 'stats') throw new Error(`unexpected reply ${reply.type}`);
      return reply.stats;
    },
    async resetStats() {
      await ask('reset');
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 1000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function serveFakeApiServer(dir: string): Promise<void> {
  const { createFakeApiServer } = await import('../apiserver/server.ts');
  const { chartDenials, installChartRbac } = await import('./chart-rbac.ts');
  const server = await createFakeApiServer({ port: 0, authentication: true });
  const { identities, kubeconfigs } = await installChartRbac(server, dir);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent died without stopping us: nobody is left to.
  process.on('disconnect', stop);
  process.on('message', (m: ChildRequest) => {
    if (m.type === 'stats') process.send!({ type: 'stats', id: m.id, stats: server.stats() } satisfies ChildReply);
    else if (m.type === 'denials') process.send!({ type: 'denials', id: m.id, denials: chartDenials(server, identities) } satisfies ChildReply);
    else if (m.type === 'reset') {
      server.resetStats();
      process.send!({ type: 'reset', id: m.id } satisfies ChildReply);
    }
  });
  process.send!({ type: 'listening', url: server.url, kubeconfigs } satisfies ChildReply);
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_FILE && process.argv[2] === CHILD_FLAG) {
  await serveFakeApiServer(process.argv[3] ?? '');
}
