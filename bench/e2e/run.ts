// One variant of the end-to-end run: a fake API server, one agent per node,
// two controllers, the kubelet/ReplicaSet driver, and the four phases of
// Spiderpool's benchmark (creation, re-creation, recovery, deletion), each
// timed and then checked (untimed) from the driver, the API objects and the
// namespaces' actual addresses.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { createInformer, type Informer } from '../../src/k8s/informer.ts';
import { createKubeRest, type KubeObject, type KubeRest } from '../../src/k8s/rest.ts';
import { LABEL_STATE } from '../../src/store/kubernetes.ts';
import { allocationConflicts, createNodes, percentile, startFakeApiServerProcess, type FakeApiServerProcess } from '../../test/helpers/contention.ts';
import { CNI_BIN } from '../../test/helpers/netns.ts';
import { Driver, POD_NAMESPACE, type DriverCounters, type Duplicate } from './driver.ts';
import type { Shape, Variant } from './options.ts';
import { CpuMeter, type CpuRole } from './cpu.ts';
import { type Build, createMasters, deleteNamespaces, httpGet, kill, type Owned, parseMetrics, run, type Runtime, startRuntime, startTidepool, sumBy, type TidepoolProcess } from './system.ts';

export const PHASES = ['creation', 're-creation', 'recovery', 'deletion'] as const;
export type PhaseName = (typeof PHASES)[number];

export interface RunConfig {
  readonly variant: Variant;
  readonly shape: Shape;
  readonly nodes: number;
  /** IPs per family of a 1:1 pool; the variant's factor multiplies it. */
  readonly ips: number;
  readonly lostDel: number;
  readonly concurrency: number;
  /** See Options in options.ts. */
  readonly controllerQps: { readonly qps: number; readonly burst: number };
  readonly nodeNice: number;
  readonly phaseTimeoutS: number;
  /** Unique per run: every namespace and link name starts with it. */
  readonly prefix: string;
  readonly build: Build;
  readonly cpuProf?: string;
  readonly onProgress?: (label: string, done: number, total: number) => void;
  readonly log?: (line: string) => void;
}

export interface PhaseResult {
  readonly phase: PhaseName;
  readonly wallMs: number;
  readonly ok: boolean;
  /** Pods not Running when the phase ended (timeout), or not gone (deletion). */
  readonly failedPods: number;
  readonly addP50Ms: number;
  readonly addP99Ms: number;
  readonly adds: number;
  readonly delP50Ms: number;
  /** ms from a pod's graceful delete until its IPs were free: p50 and p99, freed by DEL and by GC (lost DELs). */
  readonly freed: { readonly del: { n: number; p50: number; p99: number }; readonly gc: { n: number; p50: number; p99: number } };
  readonly dels: number;
  readonly lostDels: number;
  readonly addFailures: Record<string, number>;
  readonly delFailures: Record<string, number>;
  readonly conflicts: number;
  readonly conflictsPerAllocation: number;
  readonly apiRequests: number;
  /** IPs released in the phase, by who released them (agent DEL, agent netns-gc, controller GC reasons). */
  readonly releasedBy: Record<string, number>;
  /** ADDs that found their pools full and waited for an IP (--exhausted-wait), by outcome: allocated or exhausted. */
  readonly exhaustedWaits: Record<string, number>;
  readonly problems: string[];
  /** Warnings and errors the agents and controllers logged during the phase (distinct messages, with counts). */
  readonly logged: Record<string, number>;
  /** The controllers' GC metrics after the phase: reclaim latency sum/count by reason, failures, candidates. */
  readonly gcMetrics: Record<string, number>;
  /** CPU seconds the machine spent in the phase, by role (bench/e2e/cpu.ts), and in all. */
  readonly cpu: { readonly busy: number; readonly byRole: Record<CpuRole, number> };
  /** Recovery only. */
  readonly recovery?: { allocationsBefore: number; allocationsAfter: number; newAllocations: number; changedIps: number };
}

export interface Sample {
  readonly t: number;
  readonly phase: PhaseName | 'setup';
  readonly running: number;
  readonly allocated: number;
}

export interface VariantResult {
  readonly variant: Variant;
  readonly pods: number;
  readonly poolIps: number;
  readonly phases: PhaseResult[];
  readonly duplicates: Duplicate[];
  readonly timeline: Sample[];
  readonly phaseSpans: Array<{ phase: PhaseName; startT: number; endT: number }>;
  readonly leader: string | undefined;
  readonly profiles: string[];
  readonly problems: string[];
}

interface AllocationObject extends KubeObject {
  spec?: { pool?: string; ip?: string; owner?: { podUid?: string; podName?: string } };
}

const IPALLOCATIONS = '/apis/tidepool.dev/v1alpha1/ipallocations';
const isAllocated = (o: KubeObject) => o.metadata.labels?.[LABEL_STATE] === 'allocated';
const CONTROLLER_NS = 'kube-system';

function ipv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Pools of exactly `size` IPs: 10.96.0.1.. in the smallest subnet at 10.96.0.0, and fd00:e2e::1.. in a /64. */
export function planPools(size: number, dual: boolean): Array<{ name: string; spec: Record<string, unknown> }> {
  const base = (10 << 24) | (96 << 16);
  const hostBits = Math.max(2, Math.ceil(Math.log2(size + 2)));
  const pools = [{ name: 'e2e-v4', spec: { subnet: `${ipv4(base)}/${32 - hostBits}`, ips: [`${ipv4(base + 1)}-${ipv4(base + size)}`], default: true } }];
  if (dual) pools.push({ name: 'e2e-v6', spec: { subnet: 'fd00:e2e::/64', ips: [`fd00:e2e::1-fd00:e2e::${size.toString(16)}`], default: true } });
  return pools;
}

function summarize(xs: number[]): { p50: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

function cap(list: string[], what: string): string[] {
  return list.length === 0 ? [] : [`${list.length} ${what}: ${list.slice(0, 5).join('; ')}${list.length > 5 ? '; ...' : ''}`];
}

export async function runVariant(cfg: RunConfig, owned: Owned): Promise<VariantResult> {
  const log = cfg.log ?? (() => undefined);
  const total = cfg.shape.deployments * cfg.shape.replicas;
  const families = cfg.variant.dual ? 2 : 1;
  const poolIps = cfg.ips * cfg.variant.factor;
  const dir = mkdtempSync(join(tmpdir(), `tidepool-e2e-${cfg.variant.id}-`));
  owned.dirs.add(dir);
  const nodes = Array.from({ length: cfg.nodes }, (_, i) => `node-${i}`);
  const sockets = new Map(nodes.map((n) => [n, join(dir, `${n}.sock`)]));
  const agents = new Map<string, TidepoolProcess>();
  const controllers = new Map<string, TidepoolProcess>();
  const identities = ['ctrl-0', 'ctrl-1'];
  const profiles: string[] = [];
  const problems: string[] = [];
  const phases: PhaseResult[] = [];
  const timeline: Sample[] = [];
  const phaseSpans: VariantResult['phaseSpans'] = [];
  let fake: FakeApiServerProcess | undefined;
  let rest: KubeRest | undefined;
  let allocations: Informer<AllocationObject> | undefined;
  let driver: Driver | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let leader: string | undefined;
  const masterLinks: string[] = [];
  const runtimes = new Map<string, Runtime>();
  const meter = new CpuMeter();

  const startAgent = (node: string, profile?: string) =>
    startTidepool(owned, {
      name: `agent ${node}`,
      cli: cfg.build.cli,
      nodeArgs: profile ? ['--cpu-prof', '--cpu-prof-dir', profile, '--cpu-prof-name', `agent-${node}.cpuprofile`] : [],
      args: ['daemon', '--store', 'kubernetes', '--kubeconfig', fake!.kubeconfigs.agent, '--node', node, '--socket', sockets.get(node)!, '--metrics-listen', '127.0.0.1:0'],
      startedMsg: 'tidepool agent started',
      socket: sockets.get(node),
    }).then((p) => {
      agents.set(node, p);
      meter.track(p.proc.pid, 'agents');
      if (p.proc.pid) setPriority(p.proc.pid, cfg.nodeNice);
      return p;
    });
  const startController = (id: string, profile?: string) =>
    startTidepool(owned, {
      name: `controller ${id}`,
      cli: cfg.build.cli,
      nodeArgs: profile ? ['--cpu-prof', '--cpu-prof-dir', profile, '--cpu-prof-name', `controller-${id}.cpuprofile`] : [],
      args: ['controller', '--namespace', CONTROLLER_NS, '--kubeconfig', fake!.kubeconfigs.controller, '--identity', id, '--webhook-listen', 'off', '--metrics-listen', '127.0.0.1:0'],
      startedMsg: 'tidepool controller started',
    }).then((p) => {
      controllers.set(id, p);
      meter.track(p.proc.pid, 'controllers');
      return p;
    });
  const startAll = async (profileDir?: string) => {
    await Promise.all([...nodes.map((n) => startAgent(n, profileDir && n === nodes[0] ? profileDir : undefined)), ...identities.map((id) => startController(id, profileDir))]);
  };
  const scrape = async (procs: Iterable<TidepoolProcess>) => {
    const texts = await Promise.all([...procs].map((p) => (p.metrics ? httpGet(p.metrics, '/metrics').catch(() => '') : Promise.resolve(''))));
    const merged = new Map<string, number>();
    for (const t of texts) for (const [k, v] of parseMetrics(t)) merged.set(k, (merged.get(k) ?? 0) + v);
    return merged;
  };
  /**
   * Counters read as deltas over a phase: who released IPs (agents' DEL and
   * netns collector, the controllers' GC by reason), and the ADDs that found
   * the pool full and waited for an IP, by outcome.
   */
  const phaseCounts = async (): Promise<{ released: Record<string, number>; waits: Record<string, number> }> => {
    const a = await scrape(agents.values());
    const c = await scrape(controllers.values());
    const released: Record<string, number> = {};
    for (const [reason, n] of Object.entries(sumBy(a, 'tidepool_releases_total', 'reason', 'result="released"'))) released[`agent:${reason}`] = n;
    for (const [reason, n] of Object.entries(sumBy(c, 'tidepool_gc_reclaims_total', 'reason'))) released[`gc:${reason}`] = n;
    return { released, waits: sumBy(a, 'tidepool_exhausted_wait_seconds_count', 'outcome') };
  };
  const waitForLeader = async (): Promise<string> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      for (const [id, p] of controllers) {
        const m = p.metrics ? parseMetrics(await httpGet(p.metrics, '/metrics').catch(() => '')) : new Map<string, number>();
        if (m.get('tidepool_controller_leader') === 1) return id;
      }
      if (Date.now() > deadline) throw new Error('no controller became leader within 60 s');
      await delay(200);
    }
  };
  const allocatedCount = () => {
    let n = 0;
    for (const o of allocations!.list()) if (isAllocated(o)) n++;
    return n;
  };

  try {
    log(`[${cfg.variant.id}] starting the fake API server, ${cfg.nodes} agents and 2 controllers`);
    fake = await startFakeApiServerProcess({ dir: join(dir, 'kubeconfigs') });
    owned.children.add(fake.proc);
    meter.track(fake.proc.pid, 'API server');
    for (const n of nodes) {
      const r = startRuntime(owned, cfg.build.runtime, n);
      runtimes.set(n, r);
      // The plugins it runs inherit this.
      if (r.pid) setPriority(r.pid, cfg.nodeNice);
      meter.track(r.pid, 'runtimes', 'plugins + ip');
    }
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigs.admin);
    rest = await createKubeRest(kc, { timeoutMs: 60_000 });
    await createNodes(rest, nodes);
    for (const p of planPools(poolIps, cfg.variant.dual)) {
      await rest.create('/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: p.name }, spec: p.spec });
    }
    const masters = createMasters(owned, `${cfg.prefix}${cfg.variant.id.replace(/[^a-z0-9]/g, '').slice(0, 3)}`, cfg.nodes);
    masterLinks.push(...masters);
    await startAll();
    leader = await waitForLeader();
    allocations = createInformer<AllocationObject>({
      rest,
      path: IPALLOCATIONS,
      transform: (o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, resourceVersion: o.metadata.resourceVersion, labels: o.metadata.labels }, spec: o.spec }),
    });
    allocations.start();
    await allocations.waitForSync();

    const d = new Driver({
      rest,
      owned,
      prefix: `${cfg.prefix}${cfg.variant.id.replace(/[^a-z0-9]/g, '').slice(0, 3)}`,
      nodes,
      masters: new Map(nodes.map((n, i) => [n, masters[i]!])),
      sockets,
      runtimes,
      cniPath: `${cfg.build.cniDir}:${CNI_BIN}`,
      concurrency: cfg.concurrency,
      controllerQps: cfg.controllerQps,
    });
    driver = d;
    allocations.onChange((type, obj, old) => {
      const wasHeld = old !== undefined && isAllocated(old);
      const held = type !== 'DELETED' && isAllocated(obj);
      const uid = old?.spec?.owner?.podUid;
      if (wasHeld && !held && uid) d.ipFreed(uid);
    });
    const t0 = performance.now();
    let current: Sample['phase'] = 'setup';
    sampler = setInterval(() => {
      meter.sample();
      timeline.push({ t: Math.round(performance.now() - t0), phase: current, running: d.running, allocated: allocatedCount() });
    }, 250);

    const deadline = () => Date.now() + cfg.phaseTimeoutS * 1000;
    const progress = (label: string, value: () => number, of: number) => {
      const timer = setInterval(() => cfg.onProgress?.(label, value(), of), 200);
      return () => {
        clearInterval(timer);
        cfg.onProgress?.(label, value(), of);
      };
    };

    /** Runs one timed phase; `end` gives the phase's end (default: the last pod marked Running). */
    const timed = async (phase: PhaseName, start: () => Promise<void> | void, done: () => boolean, progressValue: () => number, end?: () => number) => {
      await fake!.resetStats();
      d.resetCounters();
      const before = phase === 'recovery' ? { released: {}, waits: {} } : await phaseCounts();
      for (const proc of [...agents.values(), ...controllers.values()]) proc.logs.splice(0);
      current = phase;
      const stopProgress = progress(phase, progressValue, total);
      const cpuStart = meter.mark();
      const startT = performance.now();
      let timedOut: string | undefined;
      try {
        await start();
        await d.waitFor(done, deadline(), () => JSON.stringify({ ...d.countBy(), allocated: allocatedCount() }));
      } catch (err) {
        if (d.error) throw d.error;
        timedOut = (err as Error).message;
      } finally {
        stopProgress();
      }
      const cpu = meter.between(cpuStart, meter.mark());
      const endT = timedOut ? performance.now() : (end?.() ?? d.lastRunningAt);
      phaseSpans.push({ phase, startT: Math.round(startT - t0), endT: Math.round(endT - t0) });
      const counters: DriverCounters = d.resetCounters();
      const stats = await fake!.stats();
      return { startT, endT, timedOut, counters, stats, before, cpu };
    };

    const finishPhase = async (phase: PhaseName, t: Awaited<ReturnType<typeof timed>>, allocationsMade: number, extra: { failedPods: number; problems: string[]; recovery?: PhaseResult['recovery'] }): Promise<PhaseResult> => {
      const after = await phaseCounts();
      const logged: Record<string, number> = {};
      for (const proc of [...agents.values(), ...controllers.values()]) {
        for (const line of proc.logs.splice(0)) {
          try {
            const e = JSON.parse(line) as { level?: string; msg?: string; err?: unknown; why?: unknown };
            // Controllers: every message counted (reclaims, scans, leadership); agents: warnings and errors.
            if (e.level !== 'warn' && e.level !== 'error' && !proc.name.startsWith('controller')) continue;
            const key = `${proc.name.split(' ')[0]} ${e.level}: ${e.msg}${e.err ? ` (${JSON.stringify(e.err).slice(0, 120)})` : ''}`;
            logged[key] = (logged[key] ?? 0) + 1;
          } catch {
            /* not JSON */
          }
        }
      }
      const cm = await scrape(controllers.values());
      const gcMetrics: Record<string, number> = {};
      for (const [k, v] of cm) if (/^tidepool_gc_(reclaim_latency_seconds_(sum|count)|reclaim_failures_total|candidates)/.test(k) && v) gcMetrics[k] = v;
      const delta = (now: Record<string, number>, then: Record<string, number>) =>
        Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (then[k] ?? 0)] as const).filter(([, d]) => d > 0));
      const releasedBy = delta(after.released, t.before.released);
      const exhaustedWaits = delta(after.waits, t.before.waits);
      const add = summarize(t.counters.addMs);
      const del = summarize(t.counters.delMs);
      const conflicts = allocationConflicts(t.stats).total;
      const problemsHere = [...(t.timedOut ? [`phase did not finish within ${cfg.phaseTimeoutS} s: ${t.timedOut}`] : []), ...extra.problems];
      const r: PhaseResult = {
        phase,
        wallMs: t.endT - t.startT,
        ok: problemsHere.length === 0 && extra.failedPods === 0,
        failedPods: extra.failedPods,
        addP50Ms: add.p50,
        addP99Ms: add.p99,
        adds: t.counters.addMs.length,
        delP50Ms: del.p50,
        freed: {
          del: { n: t.counters.freedAfterDelete.del.length, ...summarize(t.counters.freedAfterDelete.del) },
          gc: { n: t.counters.freedAfterDelete.gc.length, ...summarize(t.counters.freedAfterDelete.gc) },
        },
        dels: t.counters.delMs.length,
        lostDels: t.counters.lostDels,
        addFailures: t.counters.addFailures,
        delFailures: t.counters.delFailures,
        conflicts,
        conflictsPerAllocation: allocationsMade > 0 ? conflicts / allocationsMade : 0,
        apiRequests: t.stats.total,
        releasedBy,
        exhaustedWaits,
        problems: problemsHere,
        logged,
        gcMetrics,
        cpu: t.cpu,
        recovery: extra.recovery,
      };
      phases.push(r);
      log(`[${cfg.variant.id}] ${phase}: ${(r.wallMs / 1000).toFixed(2)} s${r.problems.length ? ` — ${r.problems.length} problem(s)` : ''}`);
      return r;
    };

    const allRunning = () => d.running === total && d.countBy().starting === 0;

    // ---- 1. creation
    let t = await timed('creation', () => d.createDeployments(cfg.shape.deployments, cfg.shape.replicas), allRunning, () => d.running);
    await finishPhase('creation', t, total * families, { failedPods: total - d.running, problems: await verify(t.timedOut ? 'skip' : 'running') });
    if (t.timedOut) return done();

    // ---- 2. re-creation (profiled when asked: node-0's agent and both controllers, restarted with --cpu-prof first)
    let profileDir: string | undefined;
    if (cfg.cpuProf) {
      profileDir = join(cfg.cpuProf, cfg.variant.id);
      mkdirSync(profileDir, { recursive: true });
      await Promise.all([kill(agents.get(nodes[0]!)!, 'SIGTERM'), ...identities.map((id) => kill(controllers.get(id)!, 'SIGTERM'))]);
      await Promise.all([startAgent(nodes[0]!, profileDir), ...identities.map((id) => startController(id, profileDir))]);
      leader = await waitForLeader();
    }
    const firstReplacement = d.podSeq;
    const replacementsRunning = () => {
      let n = 0;
      for (const p of d.pods.values()) if (p.seq >= firstReplacement && p.state === 'running') n++;
      return n;
    };
    t = await timed('re-creation', () => void d.deleteAllPods(cfg.lostDel), () => replacementsRunning() === total, replacementsRunning);
    // Untimed: let the old pods finish terminating and the collector take back what lost DELs left (2x: nobody needed those IPs).
    await d.settle();
    await waitUntil(() => allocatedCount() === total * families, 20_000);
    const recreation = await finishPhase('re-creation', t, total * families, { failedPods: total - d.running, problems: await verify(t.timedOut ? 'skip' : 'running') });
    if (profileDir) {
      const wasLeader = leader;
      leader = (await waitForLeader().catch(() => undefined)) ?? wasLeader;
      await Promise.all([kill(agents.get(nodes[0]!)!, 'SIGTERM'), ...identities.map((id) => kill(controllers.get(id)!, 'SIGTERM'))]);
      profiles.push(join(profileDir, `agent-${nodes[0]}.cpuprofile`), join(profileDir, `controller-${wasLeader}.cpuprofile`));
      await Promise.all([startAgent(nodes[0]!), ...identities.map((id) => startController(id))]);
    }
    if (t.timedOut) return done();
    void recreation;

    // ---- 3. recovery: every process killed and started again, every sandbox re-created
    const before = allocations.list().length;
    t = await timed(
      'recovery',
      async () => {
        meter.sample();
        await Promise.all([...agents.values(), ...controllers.values()].map((p) => kill(p, 'SIGKILL')));
        await deleteNamespaces(owned, d.nodesDown());
        await startAll();
        d.restartSandboxes();
      },
      allRunning,
      () => d.running,
    );
    const agentMetrics = await scrape(agents.values());
    const newAllocations = sumBy(agentMetrics, 'tidepool_allocations_total', 'result')['allocated'] ?? 0;
    const after = allocations.list().length;
    const recoveryProblems = [
      ...(after !== before ? [`IPAllocation objects grew from ${before} to ${after}`] : []),
      ...(newAllocations > 0 ? [`agents made ${newAllocations} new allocations instead of giving pods back their IPs`] : []),
      ...cap(
        d.changedOnRecovery.map((c) => `${c.pod} ${c.before.join(',')} → ${c.after.join(',')}`),
        'pods got a different IP back',
      ),
    ];
    await finishPhase('recovery', t, 0, {
      failedPods: total - d.running,
      problems: [...recoveryProblems, ...(await verify(t.timedOut ? 'skip' : 'running'))],
      recovery: { allocationsBefore: before, allocationsAfter: after, newAllocations, changedIps: d.changedOnRecovery.length },
    });
    leader = (await waitForLeader().catch(() => undefined)) ?? leader;
    if (t.timedOut) return done();

    // ---- 4. deletion: until every IP is free
    let freeAt = 0;
    t = await timed(
      'deletion',
      () => d.deleteDeployments(),
      () => {
        const ok = d.pods.size === 0 && allocatedCount() === 0;
        if (ok && freeAt === 0) freeAt = performance.now();
        return ok;
      },
      () => total - Math.ceil(allocatedCount() / families),
      () => freeAt,
    );
    await d.settle();
    await finishPhase('deletion', t, 0, { failedPods: d.pods.size, problems: await verify(t.timedOut ? 'skip' : 'empty') });
    // The chart's RBAC must have let every request of the agents and controllers through.
    problems.push(...cap(await fake.denials(), 'requests of tidepool refused by the chart\'s RBAC'));
    return done();

    // ---- checks -----------------------------------------------------------------

    /**
     * Untimed, after a phase. 'running': every pod Running once in the API with
     * its IPs, no IP on two Running pods (API objects and namespaces' actual
     * addresses), each IP's IPAllocation allocated to that pod's UID.
     * 'empty': no pods, every IPAllocation released.
     */
    async function verify(mode: 'running' | 'empty' | 'skip'): Promise<string[]> {
      if (mode === 'skip') return [];
      const out: string[] = [];
      const podList = (await rest!.list<{ metadata: { name: string; uid: string; deletionTimestamp?: string }; status?: { phase?: string; podIPs?: Array<{ ip: string }> } }>(`/api/v1/namespaces/${POD_NAMESPACE}/pods`)).items;
      const allocs = (await rest!.list<AllocationObject>(IPALLOCATIONS)).items;
      const allocated = allocs.filter(isAllocated);
      if (mode === 'empty') {
        if (podList.length > 0) out.push(`${podList.length} pods still exist after deletion`);
        out.push(...cap(allocated.map((a) => `${a.metadata.name} (${a.spec?.owner?.podName})`), 'IPAllocations still allocated after deletion'));
        return out;
      }
      const running = podList.filter((p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp);
      if (running.length !== total) out.push(`${running.length} pods Running in the API, expected ${total}`);
      const apiHolders = new Map<string, string[]>();
      for (const p of running) for (const { ip } of p.status?.podIPs ?? []) apiHolders.set(ip, [...(apiHolders.get(ip) ?? []), p.metadata.name]);
      for (const [ip, pods] of apiHolders) if (pods.length > 1) d.duplicates.push({ ip, pods, where: 'API pod status of Running pods' });
      const wrongFamilies = running.filter((p) => (p.status?.podIPs ?? []).length !== families).map((p) => p.metadata.name);
      out.push(...cap(wrongFamilies, `Running pods without exactly ${families} IP(s)`));
      const byIp = new Map(allocated.map((a) => [a.spec?.ip ?? '', a]));
      const misowned: string[] = [];
      for (const p of running) {
        for (const { ip } of p.status?.podIPs ?? []) {
          const a = byIp.get(ip);
          if (!a) misowned.push(`${p.metadata.name} ${ip}: no allocated IPAllocation`);
          else if (a.spec?.owner?.podUid !== p.metadata.uid) misowned.push(`${p.metadata.name} ${ip}: IPAllocation owned by ${a.spec?.owner?.podName}`);
        }
      }
      out.push(...cap(misowned, 'Running pods whose IP is not allocated to them'));
      if (allocated.length !== total * families) out.push(`${allocated.length} IPAllocations allocated, expected ${total * families} (leaked or missing)`);
      // The namespaces' actual addresses.
      const inNs = new Map<string, string[]>();
      const mismatch: string[] = [];
      const pods = [...d.pods.values()].filter((p) => p.state === 'running');
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < pods.length) {
            const p = pods[next++]!;
            const json = JSON.parse(await runtimes.get(p.node)!.run('ip', ['-j', '-n', p.netns!, 'addr', 'show', 'dev', 'eth0'])) as Array<{ addr_info?: Array<{ local: string; scope: string }> }>;
            const addrs = (json[0]?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => a.local);
            for (const a of addrs) inNs.set(a, [...(inNs.get(a) ?? []), p.name]);
            if ([...addrs].sort().join() !== [...p.ips].sort().join()) mismatch.push(`${p.name}: namespace has ${addrs.join(',') || 'nothing'}, ADD said ${p.ips.join(',')}`);
          }
        }),
      );
      for (const [ip, holders] of inNs) if (holders.length > 1) d.duplicates.push({ ip, pods: holders, where: 'addresses inside the pods\' network namespaces' });
      out.push(...cap(mismatch, 'namespaces whose eth0 addresses differ from the ADD result'));
      return out;
    }

    function done(): VariantResult {
      return { variant: cfg.variant, pods: total, poolIps, phases, duplicates: d.duplicates, timeline, phaseSpans, leader, profiles, problems };
    }
  } catch (err) {
    problems.push(`run failed: ${(err as Error).message}`);
    log(`[${cfg.variant.id}] failed: ${(err as Error).stack ?? (err as Error).message}`);
    return { variant: cfg.variant, pods: total, poolIps, phases, duplicates: driver?.duplicates ?? [], timeline, phaseSpans, leader, profiles, problems };
  } finally {
    clearInterval(sampler);
    driver?.stop();
    await driver?.settle().catch(() => undefined);
    await allocations?.stop().catch(() => undefined);
    await Promise.all([...agents.values(), ...controllers.values()].map((p) => kill(p, 'SIGTERM').catch(() => undefined)));
    rest?.close();
    await fake?.stop();
    await Promise.all([...runtimes.values()].map((r) => r.stop().catch(() => undefined)));
    const mine = [...owned.namespaces].filter((n) => n.startsWith(cfg.prefix));
    await deleteNamespaces(owned, mine);
    for (const m of masterLinks) {
      await run('ip', ['link', 'del', m]).catch(() => '');
      owned.links.delete(m);
    }
  }
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await delay(100);
  }
  return true;
}
