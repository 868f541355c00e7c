// One size of `npm run bench:gc`'s scan-cost part, in a process of its own so
// each size starts from an empty heap and its RSS is its own. It fills the
// controller's real watch caches (createControllerCache over a client whose
// list is empty and whose watch never sends anything) through observe(), with
// objects parsed from JSON text as a watch delivers them, then times full
// scans over them:
//   - planGcReport(cache, DEFAULT_GC_SETTINGS, now), the function asked for;
//   - the GC reconciler's own scan (createGcReconciler's takeover scan, then
//     scanNow()), which validates each record version once and remembers it.
// Prints one JSON line on stdout; progress on stderr.
// Run by bench/gc.ts: node --import tsx --expose-gc bench/gc-scan-child.ts --records N [--runs 3]
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createControllerCache, type AllocationObject, type ControllerCache } from '../src/controller/cache.ts';
import type { Clock } from '../src/controller/clock.ts';
import { createGcReconciler, DEFAULT_GC_SETTINGS, planGcReport, type GcMetrics } from '../src/controller/gc.ts';
import { KubeApiError, type KubeList, type KubeRest } from '../src/k8s/rest.ts';
import { createLogger } from '../src/util/logger.ts';

export interface ScanRun {
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly rssMb: number;
  /** Main-thread pauses for garbage collection during the scan (perf_hooks 'gc' entries). */
  readonly gcPauseSeconds: number;
  readonly gcCount: number;
}

export interface ScanChildResult {
  readonly records: number;
  readonly pods: number;
  readonly nodes: number;
  readonly pools: number;
  readonly statefulSets: number;
  readonly buildSeconds: number;
  /** After building the caches and a full GC. */
  readonly rssAfterBuildMb: number;
  readonly heapAfterBuildMb: number;
  /** planGcReport warm-up runs, not counted. */
  readonly warmup: ScanRun[];
  /** planGcReport, one entry per run. */
  readonly report: ScanRun[];
  /** The reconciler's first (takeover) scan: every record is validated here. */
  readonly reconcilerFirst: ScanRun;
  /** The reconciler's later scans (scanNow): validation is remembered per object version. */
  readonly reconciler: ScanRun[];
  /** What the reconciler reported through GcMetrics.scan for its scans. */
  readonly reconcilerReported: Array<{ records: number; seconds: number }>;
  /** Verdict counts of the last planGcReport. */
  readonly verdicts: Record<string, number>;
  readonly rssPeakMb: number;
  /** sha256 (16 hex) of the sources this process loaded, read as it starts: other work may edit src/ meanwhile. */
  readonly sources: Record<string, string>;
}

const SOURCES = ['src/controller/gc.ts', 'src/ipam/gc-rules.ts', 'src/controller/cache.ts', 'src/k8s/informer.ts', 'src/api/crd-schemas.ts'];
// Read at module evaluation, right after the imports above were loaded.
const loadedSources = Object.fromEntries(SOURCES.map((f) => [f, createHash('sha256').update(readFileSync(new URL(`../${f}`, import.meta.url))).digest('hex').slice(0, 16)]));

const MB = 1024 * 1024;
const POOL_SIZE = 65_000; // IPs per pool: one /16 each, pools 10.<k>.0.0/16.
const PODS_PER_NODE = 100;
const STATEFULSETS = 10;
// One pod in this many belongs to a StatefulSet (its IPAllocation carries the stable identity).
const STS_EVERY = 100;

function fail(message: string): never {
  process.stderr.write(`gc-scan-child: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { records: number; runs: number; warmup: number } {
  let records: number | undefined;
  let runs = 3;
  let warmup = 1;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const int = (min: number, max: number): number => {
      if (value === undefined || !/^\d+$/.test(value)) fail(`${flag} needs an integer from ${min} to ${max}`);
      const n = Number(value);
      if (n < min || n > max) fail(`${flag} must be from ${min} to ${max}, got ${value}`);
      i++;
      return n;
    };
    if (flag === '--records') records = int(1, 10_000_000);
    else if (flag === '--runs') runs = int(1, 100);
    else if (flag === '--warmup') warmup = int(0, 100);
    else fail(`unknown argument ${flag}`);
  }
  if (records === undefined) fail('--records N is required');
  return { records, runs, warmup };
}

/** A client with nothing behind it: the caches list nothing, watch forever, and GETs find nothing. */
function emptyRest(): KubeRest {
  const none = (): Promise<never> => Promise.reject(new KubeApiError(404, 'NotFound', 'not served by the scan bench'));
  return {
    get: none,
    list: <T>() => Promise.resolve({ metadata: { resourceVersion: '1' }, items: [] } as KubeList<T>),
    create: none,
    replace: none,
    patch: none,
    delete: none,
    watch: (_path, _query, _onEvent, signal) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
    close() {},
  };
}

const clock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    }),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const uid = (kind: number, i: number) => `${hex(kind, 8)}-${hex((i >>> 16) & 0xffff, 4)}-4${hex(i & 0xfff, 3)}-8${hex((i >>> 12) & 0xfff, 3)}-${hex(i, 12)}`;
const ipOf = (i: number) => `10.${Math.floor(i / POOL_SIZE)}.${((i % POOL_SIZE) + 1) >> 8}.${((i % POOL_SIZE) + 1) & 255}`;
const poolOf = (i: number) => `pool-${Math.floor(i / POOL_SIZE)}`;

/**
 * Text as a watch event carries it, so objects get JSON.parse's layout and a
 * string of their own for every value, as in a real informer. Shapes follow a
 * Deployment's pod as the API server serves it (without managedFields).
 */
function podJson(i: number, node: string, ts: string, sts: number | undefined): string {
  const ns = `team-${sts === undefined ? i % 50 : sts % 50}`;
  const app = sts === undefined ? `web-${i % 500}` : `db-${sts}`;
  const name = sts === undefined ? `${app}-6b7f9c${hex(i % 256, 2)}d-${hex(i, 5)}` : `${app}-${Math.floor(i / STS_EVERY / STATEFULSETS)}`;
  const owner = sts === undefined ? `{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"${app}-6b7f9c${hex(i % 256, 2)}d","uid":"${uid(3, i % 500)}","controller":true,"blockOwnerDeletion":true}` : `{"apiVersion":"apps/v1","kind":"StatefulSet","name":"${app}","uid":"${uid(4, sts)}","controller":true,"blockOwnerDeletion":true}`;
  const ip = ipOf(i);
  return `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"${name}","generateName":"${app}-","namespace":"${ns}","uid":"${uid(1, i)}","resourceVersion":"${1000 + i}","creationTimestamp":"${ts}","labels":{"app":"${app}","pod-template-hash":"6b7f9c${hex(i % 256, 2)}d"},"annotations":{"kubectl.kubernetes.io/restartedAt":"${ts}"},"ownerReferences":[${owner}]},"spec":{"volumes":[{"name":"kube-api-access-${hex(i % 4096, 5)}","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],"containers":[{"name":"app","image":"registry.example.com/${app}:1.4.2","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"volumeMounts":[{"name":"kube-api-access-${hex(i % 4096, 5)}","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":"${node}","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Running","conditions":[{"type":"PodReadyToStartContainers","status":"True","lastProbeTime":null,"lastTransitionTime":"${ts}"},{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"${ts}"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"${ts}"},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"${ts}"},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"${ts}"}],"hostIP":"192.168.${(i / PODS_PER_NODE) >> 8 & 255}.${(i / PODS_PER_NODE) & 255}","hostIPs":[{"ip":"192.168.${(i / PODS_PER_NODE) >> 8 & 255}.${(i / PODS_PER_NODE) & 255}"}],"podIP":"${ip}","podIPs":[{"ip":"${ip}"}],"startTime":"${ts}","containerStatuses":[{"name":"app","state":{"running":{"startedAt":"${ts}"}},"lastState":{},"ready":true,"restartCount":0,"image":"registry.example.com/${app}:1.4.2","imageID":"registry.example.com/${app}@sha256:${hex(i % 500, 8).repeat(8)}","containerID":"containerd://${hex(i, 16).repeat(4)}","started":true}],"qosClass":"Burstable"}}`;
}

/** An IPAllocation exactly as an agent writes it (src/store/kubernetes.ts), plus what the API server adds. */
function allocationJson(i: number, pod: { namespace: string; name: string; uid: string }, node: string, ts: string, allocatedAt: string, sts: number | undefined): string {
  const pool = poolOf(i);
  const ip = ipOf(i);
  const stable = sts === undefined ? '' : `,"statefulSet":{"namespace":"${pod.namespace}","name":"db-${sts}","ordinal":${Math.floor(i / STS_EVERY / STATEFULSETS)}}`;
  return `{"apiVersion":"tidepool.dev/v1alpha1","kind":"IPAllocation","metadata":{"name":"${pool}.${ip}","uid":"${uid(2, i)}","resourceVersion":"${2_000_000_000 + i}","generation":1,"creationTimestamp":"${ts}","labels":{"tidepool.dev/pool":"${pool}","tidepool.dev/node":"${node}","tidepool.dev/state":"allocated"}},"spec":{"pool":"${pool}","ip":"${ip}","owner":{"node":"${node}","containerId":"${hex(i, 16).repeat(4)}","ifname":"eth0","netns":"/var/run/netns/cni-${uid(5, i)}","allocatedAt":"${allocatedAt}","network":"underlay","podNamespace":"${pod.namespace}","podName":"${pod.name}","podUid":"${pod.uid}"${stable}}}}`;
}

function nodeJson(name: string, ts: string, k: number): string {
  return `{"kind":"Node","apiVersion":"v1","metadata":{"name":"${name}","uid":"${uid(6, k)}","resourceVersion":"${100 + k}","creationTimestamp":"${ts}","labels":{"kubernetes.io/hostname":"${name}","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","topology.kubernetes.io/zone":"zone-${k % 3}"}},"spec":{"podCIDR":"10.244.${k & 255}.0/24"},"status":{"capacity":{"cpu":"32","memory":"131072Mi","pods":"110"},"allocatable":{"cpu":"31500m","memory":"129024Mi","pods":"110"},"conditions":[{"type":"MemoryPressure","status":"False","lastHeartbeatTime":"${ts}","lastTransitionTime":"${ts}","reason":"KubeletHasSufficientMemory"},{"type":"DiskPressure","status":"False","lastHeartbeatTime":"${ts}","lastTransitionTime":"${ts}","reason":"KubeletHasNoDiskPressure"},{"type":"PIDPressure","status":"False","lastHeartbeatTime":"${ts}","lastTransitionTime":"${ts}","reason":"KubeletHasSufficientPID"},{"type":"Ready","status":"True","lastHeartbeatTime":"${ts}","lastTransitionTime":"${ts}","reason":"KubeletReady"}],"addresses":[{"type":"InternalIP","address":"192.168.${k >> 8 & 255}.${k & 255}"},{"type":"Hostname","address":"${name}"}],"nodeInfo":{"kubeletVersion":"v1.31.0","containerRuntimeVersion":"containerd://1.7.20","osImage":"Debian GNU/Linux 12","kernelVersion":"6.1.0","architecture":"amd64","operatingSystem":"linux"}}}`;
}

function buildCache(cache: ControllerCache, records: number): { pods: number; nodes: number; pools: number; statefulSets: number } {
  const ts = '2026-11-28T10:00:00Z';
  const allocatedAt = '2026-11-28T10:00:01.234Z';
  const nodes = Math.max(1, Math.ceil(records / PODS_PER_NODE));
  const pools = Math.ceil(records / POOL_SIZE);
  for (let k = 0; k < nodes; k++) cache.nodes.observe(JSON.parse(nodeJson(`node-${k}`, ts, k)));
  for (let k = 0; k < pools; k++) {
    cache.pools.observe(
      JSON.parse(`{"apiVersion":"tidepool.dev/v1alpha1","kind":"IPPool","metadata":{"name":"pool-${k}","uid":"${uid(7, k)}","resourceVersion":"${10 + k}","generation":1},"spec":{"subnet":"10.${k}.0.0/16","ips":["10.${k}.0.1-10.${k}.253.232"]},"status":{}}`),
    );
  }
  for (let s = 0; s < STATEFULSETS; s++) {
    const replicas = Math.ceil(records / STS_EVERY / STATEFULSETS);
    cache.statefulSets.observe(
      JSON.parse(`{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":"db-${s}","namespace":"team-${s % 50}","uid":"${uid(4, s)}","resourceVersion":"${50 + s}","generation":1},"spec":{"replicas":${replicas},"serviceName":"db-${s}","selector":{"matchLabels":{"app":"db-${s}"}}},"status":{"replicas":${replicas},"readyReplicas":${replicas}}}`),
    );
  }
  const step = Math.max(1, Math.floor(records / 20));
  for (let i = 0; i < records; i++) {
    const node = `node-${Math.floor(i / PODS_PER_NODE)}`;
    // Every STS_EVERY-th pod is a StatefulSet replica; its namespace must be the StatefulSet's.
    const sts = i % STS_EVERY === STS_EVERY - 1 ? Math.floor(i / STS_EVERY) % STATEFULSETS : undefined;
    const pod = JSON.parse(podJson(i, node, ts, sts));
    cache.pods.observe(pod);
    const alloc: AllocationObject = JSON.parse(allocationJson(i, { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid }, node, ts, allocatedAt, sts));
    cache.allocations.observe(alloc);
    // Redrawn in place on a terminal only; a log file gets the one line below.
    if (process.stderr.isTTY && i % step === step - 1) process.stderr.write(`\r  building ${records} records: ${Math.round(((i + 1) / records) * 100)}%   `);
  }
  process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}  built ${records} records\n`);
  return { pods: cache.pods.list().length, nodes, pools, statefulSets: STATEFULSETS };
}

const gc = (globalThis as { gc?: () => void }).gc;

// GC pauses, to tell how much of a scan is the collector's own work on a large heap.
const gcEntries: PerformanceEntry[] = [];
new PerformanceObserver((list) => gcEntries.push(...list.getEntries())).observe({ entryTypes: ['gc'] });

/** GC pauses that started within [t0, t1]; entries arrive asynchronously (after a timer tick, not an immediate), so let them in first. */
async function gcPauses(t0: number, t1: number): Promise<{ seconds: number; count: number }> {
  await new Promise<void>((r) => setTimeout(r, 50));
  const inside = gcEntries.filter((e) => e.startTime >= t0 && e.startTime <= t1);
  gcEntries.length = 0;
  return { seconds: inside.reduce((a, e) => a + e.duration, 0) / 1000, count: inside.length };
}

async function measure(fn: () => void): Promise<ScanRun> {
  gc?.();
  await gcPauses(0, -1); // drops the entries of the forced collection
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const rssMb = process.memoryUsage().rss / MB;
  const pauses = await gcPauses(t0, t1);
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: (t1 - t0) / 1000, rssMb, gcPauseSeconds: pauses.seconds, gcCount: pauses.count };
}

async function main(): Promise<void> {
  const { records, runs, warmup } = parseArgs(process.argv.slice(2));
  if (!gc) fail('run with --expose-gc: each scan starts from a collected heap, so runs are comparable');
  const rest = emptyRest();
  const log = createLogger({ level: 'error', write: () => {} });
  const cache = createControllerCache({ rest, clock, log });
  cache.start();
  await cache.waitForSync();

  const t0 = performance.now();
  const shape = buildCache(cache, records);
  const buildSeconds = (performance.now() - t0) / 1000;
  if (cache.allocations.list().length !== records) fail(`built ${cache.allocations.list().length} IPAllocations, expected ${records}`);
  gc();
  const afterBuild = process.memoryUsage();
  let peak = afterBuild.rss;

  // Discarded: the first scan also pays for compiling the scan's code, which a running controller has long done.
  const warmups: ScanRun[] = [];
  for (let r = 0; r < warmup; r++) warmups.push(await measure(() => void planGcReport(cache, DEFAULT_GC_SETTINGS, clock.now())));
  if (warmups.length > 0) process.stderr.write(`  planGcReport warm-up: ${warmups.map((w) => w.cpuSeconds.toFixed(3)).join(', ')} s CPU (not counted)\n`);
  const report: ScanRun[] = [];
  let verdicts: Record<string, number> = {};
  for (let r = 0; r < runs; r++) {
    let entries: ReturnType<typeof planGcReport> = [];
    const run = await measure(() => {
      entries = planGcReport(cache, DEFAULT_GC_SETTINGS, clock.now());
    });
    report.push(run);
    peak = Math.max(peak, run.rssMb * MB);
    // Checked outside the timing: a scan that skipped records would look fast for the wrong reason.
    if (entries.length !== records) fail(`planGcReport returned ${entries.length} entries for ${records} records (some failed validation?)`);
    verdicts = {};
    for (const e of entries) verdicts[e.verdict.action] = (verdicts[e.verdict.action] ?? 0) + 1;
    process.stderr.write(`  planGcReport run ${r + 1}/${runs}: ${run.cpuSeconds.toFixed(3)} s CPU\n`);
  }

  const reported: Array<{ records: number; seconds: number }> = [];
  const metrics: GcMetrics = { reclaimed() {}, failed() {}, candidates() {}, invalidRecord() {}, scan: (n, seconds) => reported.push({ records: n, seconds }) };
  const reconciler = createGcReconciler({ rest, cache, store: { release: async () => false }, clock, log, metrics, settings: DEFAULT_GC_SETTINGS, event: () => {} });
  const stop = new AbortController();
  // run() awaits the (already resolved) sync promise, then runs its takeover scan synchronously:
  // one turn of the event loop covers exactly that scan.
  gc();
  await gcPauses(0, -1);
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const running = reconciler.run(stop.signal);
  await new Promise<void>((r) => setImmediate(r));
  const w1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const rssMb = process.memoryUsage().rss / MB;
  const pauses = await gcPauses(w0, w1);
  const first: ScanRun = { cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: (w1 - w0) / 1000, rssMb, gcPauseSeconds: pauses.seconds, gcCount: pauses.count };
  if (reported.length !== 1 || reported[0]!.records !== records) fail(`the reconciler's takeover scan reported ${JSON.stringify(reported)}, expected one scan of ${records} records`);
  process.stderr.write(`  reconciler takeover scan: ${first.cpuSeconds.toFixed(3)} s CPU\n`);
  const reconciler2: ScanRun[] = [];
  for (let r = 0; r < runs; r++) {
    const run = await measure(() => reconciler.scanNow());
    reconciler2.push(run);
    peak = Math.max(peak, run.rssMb * MB);
    process.stderr.write(`  reconciler scan run ${r + 1}/${runs}: ${run.cpuSeconds.toFixed(3)} s CPU\n`);
  }
  stop.abort();
  await running;
  await cache.stop();

  const result: ScanChildResult = {
    records,
    ...shape,
    buildSeconds,
    rssAfterBuildMb: afterBuild.rss / MB,
    heapAfterBuildMb: afterBuild.heapUsed / MB,
    warmup: warmups,
    report,
    reconcilerFirst: first,
    reconciler: reconciler2,
    reconcilerReported: reported,
    verdicts,
    rssPeakMb: peak / MB,
    sources: loadedSources,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`gc-scan-child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
