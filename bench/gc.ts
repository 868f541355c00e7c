// Garbage collection in Kubernetes mode, two figures:
//  1. Reclaim speed: a real controller process (leader on its own) against the
//     fake API server in its own process; N pods bound to nodes, each holding
//     an allocated IPAllocation as an agent writes it; then every pod is
//     force-deleted at once with no agent (no CNI DEL), so only the
//     controller's garbage collector can free the IPs. Measures how long until
//     all are released, per-IP latency, and where the requests and CPU go.
//  2. Scan cost: one full scan of the collector's decision over its caches at
//     10k, 100k and 1M records, each size in a child process
//     (bench/gc-scan-child.ts) that fills the real caches in memory.
// Run: npm run bench:gc -- [--pods N] [--sizes a,b,c] [--workers N] [--skip-reclaim] [--skip-scan] [--json FILE]
import { children, cleanupSync, stopOnSignals, tempDirs } from './cleanup.ts';
import { eachFlag, parseBenchFlags, parseCount, UsageError } from './flags.ts';
import { copyCliBundle } from './cli-bundle.ts';
import { readProcTimes } from './proc.ts';
import { createProgress } from '../src/util/progress.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../src/k8s/rest.ts';
import { cleanEnv, CLI, ROOT } from '../test/helpers/agent-process.ts';
import { waitUntilReady } from '../test/helpers/readiness.ts';
import { createNodes, createPods, eachBounded, MAX_POOL_IPS, NAMESPACE, nodeNames, percentile, planPool, startFakeApiServerProcess, type FakeApiServerProcess, type PlannedPod } from '../test/helpers/contention.ts';
import type { ServerStats } from '../test/apiserver/server.ts';
import type { ScanChildResult, ScanRun } from './gc-scan-child.ts';

const USAGE = `usage: npm run bench:gc -- [options]
  --pods N          pods (and IPAllocations) reclaimed at once     default 1000
  --sizes LIST      records per scan-cost run, comma-separated     default 10000,100000,1000000
  --workers N       controller --gc-workers                        default 16
  --skip-reclaim    skip part 1 (reclaim speed)
  --skip-scan       skip part 2 (scan cost)
  --cpu-prof DIR    write the controller's CPU profile to DIR/controller.cpuprofile
  --json FILE       write every figure and per-IP sample to FILE`;

const POOL = 'gc-bench-v4';
const NODES = 10;
const IPALLOCATIONS = '/apis/tidepool.dev/v1alpha1/ipallocations';
const CONTROLLER_NAMESPACE = 'kube-system';
const SCAN_CHILD = join(ROOT, 'bench/gc-scan-child.ts');
const SCAN_RUNS = 3;
// What one record costs the scan child (pod + IPAllocation + indexes), measured at 1M: about 6 KB; 8 leaves headroom.
const SCAN_KB_PER_RECORD = 8;
const GOAL_CPU_100K = 1;
const GOAL_GROWTH = [0.7, 1.4] as const; // x the size ratio: 7-14 for a tenfold step
// Stop waiting when no IP was released for this long.
const STALL_MS = 60_000;

/** Published defaults of other IPAMs (../shared/design/anchors.md); not measured here. */
const PEERS: ReadonlyArray<readonly [string, string, string, string]> = [
  ['Spiderpool', '5 s tick (Terminating: deletionTimestamp + grace again)', 'every 600 s', '-'],
  ['Calico', '-', 'every 7.5 min', 'a leak is freed only after 15 min'],
  ['Kube-OVN', 'pod events', 'port sweep every 360 s', '-'],
  ['whereabouts', 'per-node informer on pod delete', 'daily cron', '-'],
];

interface Options {
  readonly pods: number;
  readonly sizes: readonly number[];
  readonly workers: number;
  readonly skipReclaim: boolean;
  readonly skipScan: boolean;
  readonly jsonFile: string | undefined;
  readonly cpuProf: string | undefined;
}


/** Largest scan size this machine's memory allows, with room for the rest of the system. */
function maxScanRecords(): number {
  return Math.floor((totalmem() * 0.8) / (SCAN_KB_PER_RECORD * 1024));
}

export function parseArgs(argv: readonly string[]): Options {
  let pods = 1000;
  let sizes: number[] = [10_000, 100_000, 1_000_000];
  let workers = 16;
  let skipReclaim = false;
  let skipScan = false;
  let jsonFile: string | undefined;
  let cpuProf: string | undefined;
  eachFlag(argv, (f) => {
    switch (f.name) {
      case '--pods':
        pods = parseCount('--pods', f.value(), 1, Math.min(50_000, MAX_POOL_IPS), 'each pod and its IPAllocation are objects in the fake API server, written one by one during setup');
        return true;
      case '--sizes': {
        const raw = f.text('a comma-separated list of record counts, e.g. 10000,100000,1000000');
        const max = maxScanRecords();
        sizes = raw.split(',').map((part, k) => parseCount(`--sizes (item ${k + 1})`, part.trim(), 1, max, `this machine has ${(totalmem() / 2 ** 30).toFixed(1)} GiB; one record takes about ${SCAN_KB_PER_RECORD} KB in the scan child`));
        if (new Set(sizes).size !== sizes.length) throw new UsageError(`--sizes "${raw}" lists a size twice`);
        sizes.sort((a, b) => a - b);
        return true;
      }
      case '--workers':
        workers = parseCount('--workers', f.value(), 1, 256, 'the controller accepts --gc-workers from 1 to 256');
        return true;
      case '--skip-reclaim':
        f.noValue();
        skipReclaim = true;
        return true;
      case '--skip-scan':
        f.noValue();
        skipScan = true;
        return true;
      case '--json':
        jsonFile = f.text('a file name');
        return true;
      case '--cpu-prof':
        cpuProf = resolve(f.text('a directory'));
        return true;
      default:
        return false;
    }
  });
  if (skipReclaim && skipScan) throw new UsageError('--skip-reclaim and --skip-scan together leave nothing to measure');
  if (cpuProf && skipReclaim) throw new UsageError('--cpu-prof profiles the controller of part 1, which --skip-reclaim skips');
  return { pods, sizes, workers, skipReclaim, skipScan, jsonFile, cpuProf };
}

// ---- processes and cleanup --------------------------------------------------


async function stopGracefully(proc: ChildProcess, graceMs = 5000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Sources the scan child loads through tsx: other work may edit them while the bench runs, so their hashes are recorded. */
const SCAN_SOURCES = ['src/controller/gc.ts', 'src/ipam/gc-rules.ts', 'src/controller/cache.ts', 'src/k8s/informer.ts', 'src/api/crd-schemas.ts'];

/**
 * A private copy of the CLI bundle (other work in the tree rebuilds dist/),
 * next to a link to the project's node_modules so its external imports resolve.
 */
function snapshotCli(dir: string): { cli: string; sha256: string } {
  const copy = copyCliBundle(dirname(CLI), dir);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return copy;
}

/** CPU seconds a process has used so far (user + system), from /proc; undefined where there is no /proc. */
function processCpuSeconds(pid: number | undefined): number | undefined {
  return readProcTimes(pid)?.own;
}

// ---- output -----------------------------------------------------------------


const f = (n: number | undefined, d = 1) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '-');

// ---- Prometheus text --------------------------------------------------------

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

const sumOf = (samples: readonly Sample[], name: string) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);

export interface HistogramSummary {
  readonly count: number;
  readonly sumSeconds: number;
  readonly meanMs: number;
  /** Estimated like PromQL's histogram_quantile: linear within the bucket. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Upper bound of the bucket holding the quantile: all the histogram can say for sure. */
  readonly p50BucketMs: number;
  readonly p99BucketMs: number;
  readonly buckets: Array<{ le: number; count: number }>;
  readonly byReason: Record<string, number>;
}

function summarizeHistogram(samples: readonly Sample[], name: string, reasonsFrom: string): HistogramSummary | undefined {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  if (byLe.size === 0) return undefined;
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  const count = sumOf(samples, `${name}_count`);
  const sumSeconds = sumOf(samples, `${name}_sum`);
  const quantile = (q: number): number => {
    if (count === 0) return NaN;
    const rank = q * count;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (b.le === Infinity) return prevLe * 1000;
        return (prevLe + (b.le - prevLe) * ((rank - prevCount) / Math.max(1, b.count - prevCount))) * 1000;
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return NaN;
  };
  const bucketOf = (q: number): number => (buckets.find((b) => b.count >= q * count)?.le ?? NaN) * 1000;
  const byReason: Record<string, number> = {};
  for (const s of samples) if (s.name === reasonsFrom && s.value > 0) byReason[s.labels['reason'] ?? '?'] = s.value;
  return { count, sumSeconds, meanMs: count > 0 ? (sumSeconds / count) * 1000 : NaN, p50Ms: quantile(0.5), p99Ms: quantile(0.99), p50BucketMs: bucketOf(0.5), p99BucketMs: bucketOf(0.99), buckets, byReason };
}

// ---- part 1: reclaim speed --------------------------------------------------

interface ControllerProcess {
  readonly proc: ChildProcess;
  readonly metricsAddress: string;
  /** Log lines by message, and the last lines for error reports. */
  readonly counts: Map<string, number>;
  readonly tail: string[];
  /** `records` of each 'garbage collection scan' line. */
  readonly scans: Array<{ mode: string; records: number }>;
}

async function startControllerProcess(cli: string, kubeconfig: string, workers: number, cpuProf: string | undefined): Promise<ControllerProcess> {
  const args = ['controller', '--namespace', CONTROLLER_NAMESPACE, '--kubeconfig', kubeconfig, '--webhook-listen', 'off', '--metrics-listen', '127.0.0.1:0', '--gc-workers', String(workers)];
  // The profile is written when the controller exits after SIGTERM (stopGracefully).
  const profArgs = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf, '--cpu-prof-name', 'controller.cpuprofile'] : [];
  const proc = spawn(process.execPath, [...profArgs, cli, ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  const counts = new Map<string, number>();
  const tail: string[] = [];
  const scans: Array<{ mode: string; records: number }> = [];
  let metricsAddress: string | undefined;
  let buffered = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      let entry: { msg?: string; metrics?: string; mode?: string; records?: number };
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      const msg = String(entry.msg ?? '');
      counts.set(msg, (counts.get(msg) ?? 0) + 1);
      if (msg === 'tidepool controller started') metricsAddress = entry.metrics;
      if (msg === 'garbage collection scan') scans.push({ mode: String(entry.mode), records: Number(entry.records) });
    }
  });
  const address = await waitUntilReady('controller', proc, () => tail.join('\n'), () => metricsAddress);
  return { proc, metricsAddress: address, counts, tail, scans };
}

async function fetchText(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the controller is ready (caches synced) and leads, then up to
 * 10 s more for its collector's takeover scan over all `records` (so the
 * deletes meet a collector that has started); returns whether that scan was seen.
 */
async function waitForController(c: ControllerProcess, records: number): Promise<boolean> {
  let state = 'not asked yet';
  const leads = async (): Promise<true | undefined> => {
    const ready = await fetchText(`http://${c.metricsAddress}/readyz`);
    const metrics = ready?.status === 200 ? await fetchText(`http://${c.metricsAddress}/metrics`) : undefined;
    const leader = metrics ? parseMetrics(metrics.text).find((s) => s.name === 'tidepool_controller_leader')?.value : undefined;
    state = `/readyz ${ready?.status ?? 'unreachable'}, tidepool_controller_leader ${leader ?? 'unknown'}`;
    return (ready?.status === 200 && leader === 1) || undefined;
  };
  await waitUntilReady('controller (ready and leading)', c.proc, () => `${state}\n${c.tail.join('\n')}`, leads, { everyMs: 50 });
  // The scan is a nicety, not a start-up condition: without it the deletes meet a collector a moment younger.
  const scanned = () => c.scans.some((s) => s.mode === 'takeover' && s.records === records);
  const leading = Date.now();
  while (!scanned() && Date.now() - leading <= 10_000) await delay(50);
  return scanned();
}

function ipv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

interface AllocationObject {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: { pool: string; ip: string; owner?: Record<string, unknown>; releasedAt?: string; reusableAt?: string };
}

/** What an agent writes for one pod (src/store/kubernetes.ts objectFor/toOwner), field for field. */
function allocationFor(pod: PlannedPod, ip: string, allocatedAt: number): unknown {
  return {
    apiVersion: 'tidepool.dev/v1alpha1',
    kind: 'IPAllocation',
    metadata: { name: `${POOL}.${ip}`, labels: { 'tidepool.dev/pool': POOL, 'tidepool.dev/node': pod.node, 'tidepool.dev/state': 'allocated' } },
    spec: {
      pool: POOL,
      ip,
      owner: {
        node: pod.node,
        containerId: pod.containerId,
        ifname: 'eth0',
        netns: `/var/run/netns/cni-${pod.uid}`,
        allocatedAt: new Date(allocatedAt).toISOString(),
        network: 'underlay',
        podNamespace: NAMESPACE,
        podName: pod.name,
        podUid: pod.uid,
      },
    },
  };
}

interface ReclaimResult {
  readonly pods: number;
  readonly workers: number;
  readonly nodes: number;
  readonly setupSeconds: number;
  readonly controllerReadySeconds: number;
  /** First DELETE sent → last IPAllocation seen released. */
  readonly allFreeSeconds: number;
  /** First DELETE sent → last DELETE answered. */
  readonly deleteSeconds: number;
  readonly reclaimsPerSecond: number;
  /** Pod DELETED watch event → IPAllocation released watch event, both seen by this process. */
  readonly latencyMs: { p50: number; p99: number; max: number; min: number };
  /** DELETE answered → IPAllocation released watch event (can be negative when the answer is read late). */
  readonly latencyFromAnswerMs: { p50: number; p99: number };
  /** The controller's releasedAt (its clock) - the pod's deletion as this process saw it. */
  readonly latencyFromReleasedAtMs: { p50: number; p99: number };
  readonly histogram: HistogramSummary | undefined;
  readonly reclaimFailures: number;
  readonly apiRequests: number;
  readonly requestsPerReclaim: number;
  readonly requests: ServerStats['requests'];
  readonly responses: ServerStats['responses'];
  readonly cpuSeconds: { controller: number | undefined; fakeApiServer: number | undefined; bench: number };
  readonly controllerLog: Record<string, number>;
  readonly problems: string[];
  /** sha256 (16 hex) of the controller build that ran. */
  readonly cliSha256: string;
  readonly takeoverScanSeen: boolean;
  readonly samples: Array<{ pod: string; ip: string; deletedMs: number; answeredMs: number; releasedMs: number; releasedAt: string | undefined }>;
}

async function runReclaim(opts: Options, dir: string): Promise<ReclaimResult> {
  let fake: FakeApiServerProcess | undefined;
  let controller: ControllerProcess | undefined;
  let rest: KubeRest | undefined;
  let watchRest: KubeRest | undefined;
  const stopWatches = new AbortController();
  try {
    process.stderr.write('part 1: starting the fake API server...\n');
    const setupStarted = performance.now();
    const cli = snapshotCli(dir);
    fake = await startFakeApiServerProcess({ dir: join(dir, 'kubeconfigs') });
    children.add(fake.proc);
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigs.admin);
    rest = await createKubeRest(kc);
    // Watches get their own connection pool, so a burst of deletes never waits behind them or they behind it.
    watchRest = await createKubeRest(kc);

    const nodes = nodeNames(NODES);
    await createNodes(rest, nodes);
    const ts = new Date().toISOString();
    for (const node of nodes) {
      await rest.patch(`/api/v1/nodes/${node}/status`, { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: ts, lastTransitionTime: ts }] } });
    }
    const plan = planPool(opts.pods);
    await rest.create('/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: POOL }, spec: { subnet: plan.subnet, ips: [plan.range] } });
    const base = Number(plan.subnet.split('/')[0]!.split('.').reduce((a, o) => a * 256 + Number(o), 0));
    const bar = createProgress('pods + IPs', opts.pods);
    const pods = await createPods(rest, { prefix: 'gc', count: opts.pods, nodes, concurrency: 16 });
    const ipOf = new Map(pods.map((p, i) => [p.name, ipv4(base + 1 + i)]));
    let made = 0;
    const allocatedAt = Date.now();
    await eachBounded(pods, 16, async (p) => {
      const ip = ipOf.get(p.name)!;
      // Running with its IP, as kubelet reports once the sandbox is up: what the collector keeps.
      await rest!.patch(`/api/v1/namespaces/${NAMESPACE}/pods/${p.name}/status`, {
        status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: ts, containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'pause', imageID: '', state: { running: { startedAt: ts } } }] },
      });
      await rest!.create(IPALLOCATIONS, allocationFor(p, ip, allocatedAt));
      bar.update(++made);
    });
    bar.done();
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    process.stderr.write(`part 1: starting the controller (--gc-workers ${opts.workers}) and waiting until it leads and has scanned...\n`);
    const controllerStarted = performance.now();
    controller = await startControllerProcess(cli.cli, fake.kubeconfigs.controller, opts.workers, opts.cpuProf);
    const takeoverScan = await waitForController(controller, opts.pods);
    const controllerReadySeconds = (performance.now() - controllerStarted) / 1000;

    // Watch both kinds from one resourceVersion, so the bench sees a pod's deletion and its IP's release the same way.
    const byPod = new Map(pods.map((p) => [p.name, p]));
    const byAllocation = new Map(pods.map((p) => [`${POOL}.${ipOf.get(p.name)}`, p.name]));
    const deletedAt = new Map<string, number>();
    const answeredAt = new Map<string, number>();
    const releasedAt = new Map<string, { ms: number; at: string | undefined }>();
    let onRelease: (() => void) | undefined;
    const start = await rest.list<AllocationObject>(IPALLOCATIONS);
    const allocated = start.items.filter((o) => o.metadata.labels?.['tidepool.dev/state'] === 'allocated' && byAllocation.has(o.metadata.name)).length;
    if (allocated !== opts.pods) throw new Error(`before the deletes the API server holds ${allocated} allocated IPAllocations of this run, expected ${opts.pods}`);
    const watchErrors: string[] = [];
    const follow = <T extends { metadata: { resourceVersion?: string } }>(path: string, from: string, onEvent: (type: string, obj: T) => void) => {
      void (async () => {
        let rv = from;
        while (!stopWatches.signal.aborted) {
          try {
            await watchRest!.watch<T>(path, { resourceVersion: rv, timeoutSeconds: 600 }, (e) => {
              if (e.object.metadata.resourceVersion) rv = e.object.metadata.resourceVersion;
              onEvent(e.type, e.object);
            }, stopWatches.signal);
          } catch (err) {
            if (stopWatches.signal.aborted) return;
            watchErrors.push(`${path}: ${(err as Error).message}`);
            await delay(100);
          }
        }
      })();
    };
    const rv = start.metadata.resourceVersion ?? '';
    follow<{ metadata: { name?: string; namespace?: string; resourceVersion?: string } }>(`/api/v1/namespaces/${NAMESPACE}/pods`, rv, (type, obj) => {
      if (type === 'DELETED' && obj.metadata.name && byPod.has(obj.metadata.name) && !deletedAt.has(obj.metadata.name)) deletedAt.set(obj.metadata.name, performance.now());
    });
    follow<AllocationObject>(IPALLOCATIONS, rv, (_type, obj) => {
      const pod = byAllocation.get(obj.metadata.name);
      if (pod && obj.metadata.labels?.['tidepool.dev/state'] === 'released' && !releasedAt.has(pod)) {
        releasedAt.set(pod, { ms: performance.now(), at: obj.spec.releasedAt });
        onRelease?.();
      }
    });
    // Let both watches connect before anything they must see happens.
    await delay(200);

    await fake.resetStats();
    const cpu0 = { controller: processCpuSeconds(controller.proc.pid), fake: processCpuSeconds(fake.proc.pid), bench: process.cpuUsage() };
    const metricsBefore = parseMetrics((await fetchText(`http://${controller.metricsAddress}/metrics`))?.text ?? '');
    const failuresBefore = sumOf(metricsBefore, 'tidepool_gc_reclaim_failures_total');
    process.stderr.write(`part 1: force-deleting ${opts.pods} pods at once (no CNI DEL) and waiting for the collector...\n`);
    const reclaimBar = createProgress('released', opts.pods);
    const t0 = performance.now();
    // All at once: the client's 64 keep-alive sockets are the only limit, as for a burst from kubectl or a controller.
    const deletes = Promise.all(
      pods.map(async (p) => {
        await rest!.delete(`/api/v1/namespaces/${NAMESPACE}/pods/${p.name}`, { gracePeriodSeconds: 0 });
        answeredAt.set(p.name, performance.now());
      }),
    );
    let lastProgress = performance.now();
    let lastCount = 0;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const check = () => {
        if (settled) return;
        reclaimBar.update(releasedAt.size);
        if (releasedAt.size >= opts.pods) {
          settled = true;
          clearInterval(timer);
          resolve();
        }
      };
      onRelease = check;
      const timer = setInterval(() => {
        if (releasedAt.size !== lastCount) {
          lastCount = releasedAt.size;
          lastProgress = performance.now();
        }
        if (performance.now() - lastProgress > STALL_MS && !settled) {
          settled = true;
          clearInterval(timer);
          reject(
            new Error(
              `no IPAllocation released for ${STALL_MS / 1000} s: ${releasedAt.size}/${opts.pods} released, ${deletedAt.size} pod deletions seen, ${answeredAt.size} DELETEs answered; watch errors: ${watchErrors.join('; ') || 'none'}; controller log tail:\n${controller!.tail.join('\n')}`,
            ),
          );
        }
      }, 500);
      deletes.catch((err: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        reject(new Error(`a pod DELETE failed: ${(err as Error).message}`));
      });
      check();
    });
    await deletes;
    reclaimBar.done();
    const tLast = Math.max(...[...releasedAt.values()].map((r) => r.ms));
    const tDeleted = Math.max(...answeredAt.values());
    const cpuBench = process.cpuUsage(cpu0.bench);
    const cpu1 = { controller: processCpuSeconds(controller.proc.pid), fake: processCpuSeconds(fake.proc.pid) };
    // The controller's Events and status writes trail the releases a little; give them a moment before counting requests.
    await delay(1500);
    const stats = await fake.stats();
    const metricsAfter = parseMetrics((await fetchText(`http://${controller.metricsAddress}/metrics`))?.text ?? '');

    const problems: string[] = [];
    if (!takeoverScan) problems.push(`the controller logged no takeover "garbage collection scan" of ${opts.pods} records within 10 s of leading (scans seen: ${JSON.stringify(controller.scans)}); the deletes were sent anyway`);
    if (watchErrors.length > 0) problems.push(`watch errors: ${watchErrors.join('; ')}`);
    // The chart's RBAC must have let every request of the controller through.
    for (const d of await fake.denials()) problems.push(`refused by the chart's RBAC: ${d}`);
    const missingDeletes = pods.filter((p) => !deletedAt.has(p.name)).map((p) => p.name);
    // A pod deletion the watch missed falls back to the DELETE's answer, so no sample is lost.
    for (const name of missingDeletes) deletedAt.set(name, answeredAt.get(name)!);
    if (missingDeletes.length > 0) problems.push(`${missingDeletes.length} pod DELETED events not seen by the watch (used the DELETE answers instead), e.g. ${missingDeletes.slice(0, 3).join(', ')}`);
    const end = await rest.list<AllocationObject>(IPALLOCATIONS);
    const mine = end.items.filter((o) => byAllocation.has(o.metadata.name));
    const notReleased = mine.filter((o) => o.metadata.labels?.['tidepool.dev/state'] !== 'released' || o.spec.owner !== undefined || !o.spec.releasedAt);
    if (mine.length !== opts.pods || notReleased.length > 0) problems.push(`after the run ${mine.length} IPAllocations of this run exist, ${notReleased.length} not cleanly released (state label, no owner, releasedAt), e.g. ${JSON.stringify(notReleased.slice(0, 2))}`);

    const samples = pods.map((p) => {
      const r = releasedAt.get(p.name)!;
      return { pod: p.name, ip: ipOf.get(p.name)!, deletedMs: deletedAt.get(p.name)! - t0, answeredMs: answeredAt.get(p.name)! - t0, releasedMs: r.ms - t0, releasedAt: r.at };
    });
    const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
    const lat = sorted(samples.map((s) => s.releasedMs - s.deletedMs));
    const latAnswer = sorted(samples.map((s) => s.releasedMs - s.answeredMs));
    // releasedAt is the controller's wall clock; this process's deletion times converted to the same clock.
    const wall0 = performance.timeOrigin + t0;
    const latReleasedAt = sorted(samples.filter((s) => s.releasedAt).map((s) => Date.parse(s.releasedAt!) - (wall0 + s.deletedMs)));
    const allFreeSeconds = (tLast - t0) / 1000;
    const requests = stats.requests;
    return {
      pods: opts.pods,
      workers: opts.workers,
      nodes: NODES,
      setupSeconds,
      controllerReadySeconds,
      allFreeSeconds,
      deleteSeconds: (tDeleted - t0) / 1000,
      reclaimsPerSecond: opts.pods / allFreeSeconds,
      latencyMs: { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1]!, min: lat[0]! },
      latencyFromAnswerMs: { p50: percentile(latAnswer, 50), p99: percentile(latAnswer, 99) },
      latencyFromReleasedAtMs: { p50: percentile(latReleasedAt, 50), p99: percentile(latReleasedAt, 99) },
      histogram: summarizeHistogram(metricsAfter, 'tidepool_gc_reclaim_latency_seconds', 'tidepool_gc_reclaims_total'),
      reclaimFailures: sumOf(metricsAfter, 'tidepool_gc_reclaim_failures_total') - failuresBefore,
      apiRequests: stats.total,
      requestsPerReclaim: (stats.total - (requests.delete?.['pods'] ?? 0)) / opts.pods,
      requests,
      responses: stats.responses,
      cpuSeconds: {
        controller: cpu0.controller !== undefined && cpu1.controller !== undefined ? cpu1.controller - cpu0.controller : undefined,
        fakeApiServer: cpu0.fake !== undefined && cpu1.fake !== undefined ? cpu1.fake - cpu0.fake : undefined,
        bench: (cpuBench.user + cpuBench.system) / 1e6,
      },
      controllerLog: Object.fromEntries(controller.counts),
      problems,
      cliSha256: cli.sha256,
      takeoverScanSeen: takeoverScan,
      samples,
    };
  } finally {
    stopWatches.abort();
    if (controller) await stopGracefully(controller.proc);
    watchRest?.close();
    rest?.close();
    await fake?.stop();
  }
}

function reclaimTable(r: ReclaimResult): string {
  const lines: string[] = [];
  lines.push(`Part 1 - reclaim speed: ${r.pods} pods on ${r.nodes} nodes force-deleted at once (grace 0), no CNI DEL; controller --gc-workers ${r.workers}`);
  lines.push(`  all ${r.pods} IPs free after          ${f(r.allFreeSeconds, 2)} s   (first DELETE sent -> last IPAllocation seen released)`);
  lines.push(`  pod DELETEs took                 ${f(r.deleteSeconds, 2)} s   (first sent -> last answered)`);
  lines.push(`  reclaims/s                       ${f(r.reclaimsPerSecond, 0)}`);
  lines.push(`  per-IP latency  p50 ${f(r.latencyMs.p50)} ms  p99 ${f(r.latencyMs.p99)} ms  max ${f(r.latencyMs.max)} ms   (pod DELETED event -> IPAllocation released event, both watched by this bench)`);
  lines.push(`                  p50 ${f(r.latencyFromReleasedAtMs.p50)} ms  p99 ${f(r.latencyFromReleasedAtMs.p99)} ms   (same deletion -> the controller's spec.releasedAt, before its write)`);
  const h = r.histogram;
  if (h) {
    const reasons = Object.entries(h.byReason).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
    lines.push(`  controller's tidepool_gc_reclaim_latency_seconds: count ${h.count}, mean ${f(h.meanMs)} ms, p50 <= ${f(h.p50BucketMs, 0)} ms, p99 <= ${f(h.p99BucketMs, 0)} ms (bucket bounds); by reason: ${reasons}`);
  } else lines.push('  controller tidepool_gc_reclaim_latency_seconds: not found on /metrics');
  const req = r.requests;
  const parts: string[] = [];
  for (const [verb, byResource] of Object.entries(req)) for (const [res, n] of Object.entries(byResource ?? {})) parts.push(`${verb} ${res} ${n}`);
  lines.push(`  API requests in the phase: ${r.apiRequests} (${f(r.requestsPerReclaim, 2)} per reclaim besides the pod DELETEs): ${parts.sort().join(', ')}`);
  const c = r.cpuSeconds;
  const wall = r.allFreeSeconds;
  lines.push(
    `  CPU in the phase (${f(wall, 2)} s wall, ${cpus().length} cores): controller ${f(c.controller, 2)} s (${f(((c.controller ?? NaN) / r.pods) * 1000, 2)} ms/reclaim, ${f(((c.controller ?? NaN) / wall) * 100, 0)}% of a core), fake API server ${f(c.fakeApiServer, 2)} s (${f(((c.fakeApiServer ?? NaN) / wall) * 100, 0)}%), this bench ${f(c.bench, 2)} s (${f((c.bench / wall) * 100, 0)}%)`,
  );
  lines.push(`  controller build: CLI bundle sha256 ${r.cliSha256} (copied at start)`);
  lines.push(`  reclaim failures (retried): ${r.reclaimFailures}; setup ${f(r.setupSeconds, 1)} s; controller spawn -> ready, leader and takeover scan done: ${f(r.controllerReadySeconds, 1)} s`);
  lines.push('');
  lines.push('Published default GC delays of other IPAMs, for context (their documentation; NOT measured here):');
  lines.push(`  ${'IPAM'.padEnd(12)} ${'event path'.padEnd(56)} ${'scan path'.padEnd(24)} other`);
  for (const [name, ev, scan, other] of PEERS) lines.push(`  ${name.padEnd(12)} ${ev.padEnd(56)} ${scan.padEnd(24)} ${other}`);
  return lines.join('\n');
}

// ---- part 2: scan cost ------------------------------------------------------

interface ScanResult extends ScanChildResult {
  /** Medians of the runs. */
  readonly reportMedian: ScanRun;
  readonly reconcilerMedian: ScanRun;
}

const median = (runs: readonly ScanRun[], key: keyof ScanRun) => percentile([...runs.map((r) => r[key])].sort((a, b) => a - b), 50);
const medianRun = (runs: readonly ScanRun[]): ScanRun => ({
  cpuSeconds: median(runs, 'cpuSeconds'),
  wallSeconds: median(runs, 'wallSeconds'),
  rssMb: median(runs, 'rssMb'),
  gcPauseSeconds: median(runs, 'gcPauseSeconds'),
  gcCount: median(runs, 'gcCount'),
});

async function runScanChild(records: number, heapMb: number): Promise<ScanResult> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', `--max-old-space-size=${heapMb}`, SCAN_CHILD, '--records', String(records), '--runs', String(SCAN_RUNS)], {
    cwd: ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  let out = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (c: string) => (out += c));
  const code = await new Promise<number | string>((resolve) => proc.once('exit', (c, s) => resolve(c ?? s ?? 'unknown')));
  children.delete(proc);
  if (code !== 0) throw new Error(`scan child for ${records} records exited with ${code} (out of memory? it ran with --max-old-space-size=${heapMb})`);
  const last = out.trim().split('\n').pop() ?? '';
  let parsed: ScanChildResult;
  try {
    parsed = JSON.parse(last) as ScanChildResult;
  } catch {
    throw new Error(`scan child for ${records} records printed no result line: ${JSON.stringify(out.slice(-500))}`);
  }
  return { ...parsed, reportMedian: medianRun(parsed.report), reconcilerMedian: medianRun(parsed.reconciler) };
}

interface Growth {
  readonly from: number;
  readonly to: number;
  readonly sizeRatio: number;
  readonly cpuRatio: number;
  readonly reconcilerRatio: number;
  readonly withinGoal: boolean;
}

function growthOf(results: readonly ScanResult[]): Growth[] {
  const out: Growth[] = [];
  for (let k = 1; k < results.length; k++) {
    const a = results[k - 1]!;
    const b = results[k]!;
    const sizeRatio = b.records / a.records;
    const cpuRatio = b.reportMedian.cpuSeconds / a.reportMedian.cpuSeconds;
    out.push({ from: a.records, to: b.records, sizeRatio, cpuRatio, reconcilerRatio: b.reconcilerMedian.cpuSeconds / a.reconcilerMedian.cpuSeconds, withinGoal: cpuRatio >= GOAL_GROWTH[0] * sizeRatio && cpuRatio <= GOAL_GROWTH[1] * sizeRatio });
  }
  return out;
}

function scanTable(results: readonly ScanResult[], growth: readonly Growth[]): string {
  const lines: string[] = [];
  lines.push(`Part 2 - scan cost: one full scan over the controller's caches (as many pods as records, 1 node per 100 pods, 10 StatefulSets); median of ${SCAN_RUNS} runs after a full GC each`);
  lines.push(`  planGcReport(cache, DEFAULT_GC_SETTINGS, now), what the dry run computes (validates every record on every scan):`);
  lines.push(`  ${'records'.padStart(9)} ${'CPU s/scan'.padStart(11)} ${'µs/record'.padStart(10)} ${'wall s'.padStart(8)} ${'GC pause s'.padStart(11)} ${'RSS MB built'.padStart(13)} ${'RSS MB scan'.padStart(12)} ${'build s'.padStart(8)}`);
  for (const r of results) {
    const m = r.reportMedian;
    lines.push(
      `  ${String(r.records).padStart(9)} ${f(m.cpuSeconds, 3).padStart(11)} ${f((m.cpuSeconds / r.records) * 1e6, 2).padStart(10)} ${f(m.wallSeconds, 3).padStart(8)} ${f(m.gcPauseSeconds, 3).padStart(11)} ${f(r.rssAfterBuildMb, 0).padStart(13)} ${f(m.rssMb, 0).padStart(12)} ${f(r.buildSeconds, 1).padStart(8)}`,
    );
  }
  lines.push(`  the GC reconciler's own scan (createGcReconciler; validity remembered per object version):`);
  lines.push(`  ${'records'.padStart(9)} ${'first CPU s'.padStart(11)} ${'later CPU s'.padStart(12)} ${'µs/record'.padStart(10)} ${'later wall s'.padStart(13)} ${'GC pause s'.padStart(11)}`);
  for (const r of results) {
    const m = r.reconcilerMedian;
    lines.push(
      `  ${String(r.records).padStart(9)} ${f(r.reconcilerFirst.cpuSeconds, 3).padStart(11)} ${f(m.cpuSeconds, 3).padStart(12)} ${f((m.cpuSeconds / r.records) * 1e6, 2).padStart(10)} ${f(m.wallSeconds, 3).padStart(13)} ${f(m.gcPauseSeconds, 3).padStart(11)}`,
    );
  }
  for (const g of growth) {
    lines.push(`  growth ${g.to}/${g.from}: planGcReport CPU x${f(g.cpuRatio, 2)} for x${f(g.sizeRatio, 1)} records (linear = ${f(g.sizeRatio, 1)}); reconciler scan x${f(g.reconcilerRatio, 2)}`);
  }
  const at100k = results.find((r) => r.records === 100_000);
  lines.push(
    at100k
      ? `goal: under ${GOAL_CPU_100K} s of CPU per scan at 100k records: ${at100k.reportMedian.cpuSeconds < GOAL_CPU_100K ? 'MET' : 'NOT MET'} (${f(at100k.reportMedian.cpuSeconds, 3)} s)`
      : `goal: under ${GOAL_CPU_100K} s of CPU per scan at 100k records: not evaluated (--sizes has no 100000)`,
  );
  if (growth.length === 0) lines.push('goal: growth close to linear: not evaluated (needs two sizes)');
  for (const g of growth) {
    lines.push(`goal: growth ${g.to}/${g.from} close to linear (x${f(GOAL_GROWTH[0] * g.sizeRatio, 1)}-${f(GOAL_GROWTH[1] * g.sizeRatio, 1)}): ${g.withinGoal ? 'MET' : 'NOT MET'} (x${f(g.cpuRatio, 2)})`);
  }
  return lines.join('\n');
}

// ---- the run ----------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parseBenchFlags('bench:gc', USAGE, () => parseArgs(process.argv.slice(2)));
  if (typeof opts === 'number') return opts;
  if (!opts.skipReclaim && !existsSync(CLI)) {
    console.error(`bench:gc: missing ${CLI}: dist is not built (npm run build; npm run bench:gc builds first)`);
    return 2;
  }
  // Children get cleanEnv() already; this covers anything else spawned from here.
  delete process.env['NODE_EXTRA_CA_CERTS'];
  stopOnSignals('the controller, the fake API server and any scan child');

  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-gc-'));
  tempDirs.add(dir);
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
  let reclaim: ReclaimResult | undefined;
  const scans: ScanResult[] = [];
  try {
    if (!opts.skipReclaim) {
      reclaim = await runReclaim(opts, dir);
      console.log(reclaimTable(reclaim));
      for (const p of reclaim.problems) console.error(`PROBLEM: ${p}`);
    }
    if (!opts.skipScan) {
      if (reclaim) console.log('');
      // One heap limit for every size, so V8 sizes its heap the same way throughout; sized for the largest.
      const heapMb = Math.max(2048, Math.ceil((Math.max(...opts.sizes) * SCAN_KB_PER_RECORD * 1.5) / 1024));
      for (const records of opts.sizes) {
        process.stderr.write(`part 2: scan cost at ${records} records (child process, --max-old-space-size=${heapMb})...\n`);
        scans.push(await runScanChild(records, heapMb));
      }
      console.log(scanTable(scans, growthOf(scans)));
      // Each child hashed what it loaded; sizes that ran different code cannot be compared.
      const first = scans[0]!.sources;
      const changed = SCAN_SOURCES.filter((f) => scans.some((r) => r.sources[f] !== first[f]));
      console.log(`  sources loaded (sha256/16): ${SCAN_SOURCES.map((f) => `${f.replace(/^src\//, '')} ${first[f]}`).join(', ')}`);
      if (changed.length > 0) console.error(`WARNING: ${changed.join(', ')} changed between the sizes' child processes: they ran different code (${scans.map((r) => `${r.records}: ${changed.map((f) => r.sources[f]).join('/')}`).join('; ')})`);
    }
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`);
    if (opts.cpuProf && reclaim) process.stderr.write(`controller CPU profile: ${join(opts.cpuProf, 'controller.cpuprofile')}\n`);
    if (opts.jsonFile) {
      writeFileSync(
        opts.jsonFile,
        JSON.stringify(
          {
            options: opts,
            reclaim,
            peersPublishedDefaults: PEERS.map(([ipam, eventPath, scanPath, other]) => ({ ipam, eventPath, scanPath, other })),
            scan: scans.length > 0 ? { runs: SCAN_RUNS, results: scans, growth: growthOf(scans) } : undefined,
            machine: { cores: cpus().length, model: cpus()[0]?.model, totalmemGiB: totalmem() / 2 ** 30, loadavg: loadavg(), node: process.version },
          },
          null,
          2,
        ),
      );
    }
    return reclaim && reclaim.problems.length > 0 ? 1 : 0;
  } finally {
    cleanupSync();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    cleanupSync();
    console.error(`bench:gc failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
