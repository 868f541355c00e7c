// Kubernetes mode under contention: N nodes' agents (real processes) allocate
// one pool of as many IPs as pods through a fake API server in its own
// process, driven like kubelets (each node starts its own pods with a bounded
// number of ADDs in flight); then every pod is re-created and the pool is
// drawn again at 1:1 from released IPs. Reports throughput against the fake's
// own conditional-create rate, measured in the same run, and the 409s per
// allocation.
// Run: npm run bench:k8s -- [--nodes N] [--pods N] [--ips N] [--concurrency N] [--json FILE]
import { children, cleanupSync, stopOnSignals, tempDirs } from './cleanup.ts';
import { eachFlag, parseBenchFlags, parseCount, UsageError } from './flags.ts';
import { createProgress } from '../src/util/progress.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../src/k8s/rest.ts';
import { measureConditionalCreates, type CreateRate } from '../test/apiserver/bench-helpers.ts';
import { callSocket, cleanEnv, CLI, startKubeAgent, type AgentProcess } from '../test/helpers/agent-process.ts';
import { waitUntilReady } from '../test/helpers/readiness.ts';
import {
  allocationConflicts,
  checkPhase,
  createNodes,
  createPods,
  createPool,
  driveAdds,
  driveDels,
  forceDeletePods,
  listAllocations,
  MAX_POOL_IPS,
  percentile,
  planPool,
  startFakeApiServerProcess,
  type AddOutcome,
  type FakeApiServerProcess,
  type PlannedPod,
  type PoolPlan,
} from '../test/helpers/contention.ts';

const USAGE = `usage: npm run bench:k8s -- [options]
  --nodes N          agents, one per node                 default 10
  --pods N           pods per phase, round-robin on nodes default 1000
  --ips N            IPs in the one pool (>= pods)        default = pods
  --concurrency N    ADDs in flight per node              default 8
  --node-name T      node name template, %d = index       default node-%d
  --cpu-prof DIR     CPU profiles: DIR/agent-<first node>.cpuprofile, DIR/fake-apiserver/ (main thread = largest)
  --json FILE        write every figure and latency sample to FILE`;
const GOAL_THROUGHPUT = 0.5;
const GOAL_CONFLICTS = 0.1;
const RAW_COUNT = 2000;
const RAW_WARMUP = 2000;

interface Options {
  readonly nodes: number;
  readonly pods: number;
  readonly ips: number;
  readonly concurrency: number;
  readonly nodeName: string;
  readonly cpuProf: string | undefined;
  readonly jsonFile: string | undefined;
}


export function parseArgs(argv: readonly string[]): Options {
  let nodes = 10;
  let pods = 1000;
  let ips: number | undefined;
  let concurrency = 8;
  let nodeName = 'node-%d';
  let cpuProf: string | undefined;
  let jsonFile: string | undefined;
  eachFlag(argv, (f) => {
    switch (f.name) {
      case '--nodes':
        nodes = parseCount('--nodes', f.value(), 1, 64, 'each node is a real agent process; this machine would measure its own overload');
        return true;
      case '--pods':
        pods = parseCount('--pods', f.value(), 1, 100_000, 'every pod is an object in the fake API server and two ADDs and a DEL');
        return true;
      case '--ips':
        ips = parseCount('--ips', f.value(), 1, MAX_POOL_IPS, 'the pool is one subnet at 10.40.0.0/13');
        return true;
      case '--concurrency':
        concurrency = parseCount('--concurrency', f.value(), 1, 256, 'kubelet starts far fewer pods at once');
        return true;
      case '--node-name': {
        const t = f.text('a template such as node-%d');
        if (!t.includes('%d')) throw new UsageError(`--node-name "${t}" must contain %d, the node's index, so the names differ`);
        if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(t.replace('%d', '0'))) throw new UsageError(`--node-name "${t}" does not give a DNS-1123 name (lowercase letters, digits, '-' and '.')`);
        nodeName = t;
        return true;
      }
      case '--cpu-prof':
        cpuProf = resolve(f.text('a directory'));
        return true;
      case '--json':
        jsonFile = f.text('a file name');
        return true;
      default:
        return false;
    }
  });
  const poolSize = ips ?? pods;
  if (poolSize < pods) throw new UsageError(`--ips ${poolSize} is less than --pods ${pods}: a pool smaller than the pods would fail by design (exhaustion), which is not what this bench measures`);
  return { nodes, pods, ips: poolSize, concurrency, nodeName, cpuProf, jsonFile };
}

// ---- processes and cleanup --------------------------------------------------


/**
 * An agent run under --cpu-prof. startKubeAgent cannot pass node flags, and
 * NODE_OPTIONS refuses --cpu-prof, so this one is spawned here with the same
 * daemon flags. The profile is written when it exits after SIGTERM.
 */
async function startProfiledAgent(kubeconfig: string, node: string, profDir: string): Promise<{ socket: string; proc: ChildProcess; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `tidepool-${node}-`));
  const socket = join(dir, 'agent.sock');
  const proc = spawn(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `agent-${node}.cpuprofile`, CLI, 'daemon', '--socket', socket, '--metrics-listen', 'off', '--store', 'kubernetes', '--kubeconfig', kubeconfig, '--node', node, '--gc-interval', '1h'],
    { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const answers = async () => (existsSync(socket) && (await callSocket(socket, 'GET', '/healthz').catch(() => undefined))?.status === 200) || undefined;
  try {
    await waitUntilReady(`profiled agent ${node}`, proc, () => stderr, answers);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return { socket, proc, dir };
}

async function stopGracefully(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// ---- output -----------------------------------------------------------------


interface PhaseResult {
  readonly label: string;
  readonly pods: number;
  readonly wallMs: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly conflict: number;
  readonly alreadyExists: number;
  readonly conflictsPerAllocation: number;
  readonly retried: Record<string, number>;
  readonly failures: number;
  readonly problems: string[];
  readonly apiRequests: number;
  readonly latenciesMs: number[];
}

function summarize(label: string, pods: PlannedPod[], outcome: AddOutcome, conflicts: { conflict: number; alreadyExists: number; total: number }, problems: string[], apiRequests: number): PhaseResult {
  const sorted = [...outcome.latenciesMs].sort((a, b) => a - b);
  return {
    label,
    pods: pods.length,
    wallMs: outcome.wallMs,
    perSecond: pods.length / (outcome.wallMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    conflict: conflicts.conflict,
    alreadyExists: conflicts.alreadyExists,
    conflictsPerAllocation: conflicts.total / pods.length,
    retried: outcome.retried,
    failures: outcome.failures.length,
    problems,
    apiRequests,
    latenciesMs: outcome.latenciesMs,
  };
}

function table(opts: Options, raw: CreateRate, rawNarrow: CreateRate, phases: PhaseResult[]): string {
  const lines: string[] = [];
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  lines.push(`tidepool Kubernetes mode: ${opts.nodes} nodes x ${opts.concurrency} ADDs in flight, ${opts.pods} pods, one pool of ${opts.ips} IPs`);
  lines.push(`fake API server raw conditional creates: ${f(raw.perSecond, 0)}/s at concurrency ${raw.concurrency} (${raw.count} creates), ${f(rawNarrow.perSecond, 0)}/s at concurrency ${rawNarrow.concurrency}`);
  lines.push('');
  lines.push(`${'phase'.padEnd(12)} ${'pods'.padStart(6)} ${'wall s'.padStart(8)} ${'alloc/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'409s'.padStart(6)} ${'409/alloc'.padStart(9)} ${'API req'.padStart(8)} ${'÷ raw'.padStart(6)}  retried`);
  for (const p of phases) {
    const retried = Object.entries(p.retried).map(([c, n]) => `${c}=${n}`).join(' ') || '-';
    lines.push(
      `${p.label.padEnd(12)} ${String(p.pods).padStart(6)} ${f(p.wallMs / 1000, 2).padStart(8)} ${f(p.perSecond).padStart(8)} ${f(p.p50Ms).padStart(8)} ${f(p.p99Ms).padStart(8)} ${String(p.conflict + p.alreadyExists).padStart(6)} ${f(p.conflictsPerAllocation, 3).padStart(9)} ${String(p.apiRequests).padStart(8)} ${f(p.perSecond / raw.perSecond, 3).padStart(6)}  ${retried}`,
    );
  }
  lines.push('');
  lines.push('409s: Conflict + AlreadyExists replies on ipallocations (fake API server stats); API req: all requests it served in the phase');
  for (const p of phases) {
    const ok = p.perSecond >= GOAL_THROUGHPUT * raw.perSecond;
    lines.push(`goal: ${p.label} throughput >= ${GOAL_THROUGHPUT} x raw create rate (${f(GOAL_THROUGHPUT * raw.perSecond, 0)}/s): ${ok ? 'MET' : 'NOT MET'} (${f(p.perSecond / raw.perSecond, 3)} x)`);
  }
  for (const p of phases) {
    const ok = p.conflictsPerAllocation < GOAL_CONFLICTS;
    lines.push(`goal: ${p.label} conflicts per allocation < ${GOAL_CONFLICTS} at 1:1: ${ok ? 'MET' : 'NOT MET'} (${f(p.conflictsPerAllocation, 3)})`);
  }
  return lines.join('\n');
}

// ---- the run ----------------------------------------------------------------

async function phase(label: string, ctx: { rest: KubeRest; fake: FakeApiServerProcess; sockets: Map<string, string>; pool: PoolPlan; opts: Options }, pods: PlannedPod[]): Promise<PhaseResult> {
  await ctx.fake.resetStats();
  const bar = createProgress(label, pods.length, 14);
  const outcome = await driveAdds({ sockets: ctx.sockets, pods, concurrency: ctx.opts.concurrency, onSettled: (n) => bar.update(n) });
  bar.done();
  const stats = await ctx.fake.stats();
  const problems = [...outcome.failures.slice(0, 5).map((f) => `ADD ${f.pod} failed: ${f.code}: ${f.message}`), ...checkPhase({ pods, outcome, objects: await listAllocations(ctx.rest), pool: ctx.pool })];
  return summarize(label, pods, outcome, allocationConflicts(stats), problems, stats.total);
}

async function main(): Promise<number> {
  const opts = parseBenchFlags('bench:k8s', USAGE, () => parseArgs(process.argv.slice(2)));
  if (typeof opts === 'number') return opts;
  if (!existsSync(CLI)) {
    console.error(`bench:k8s: missing ${CLI}: dist is not built (npm run build; npm run bench:k8s builds first)`);
    return 2;
  }
  // Children get cleanEnv() already; this covers anything else spawned from here.
  delete process.env['NODE_EXTRA_CA_CERTS'];
  stopOnSignals('the agents and the fake API server');

  const dir = mkdtempSync(join(tmpdir(), 'tidepool-bench-k8s-'));
  tempDirs.add(dir);
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
  const nodes = Array.from({ length: opts.nodes }, (_, i) => opts.nodeName.replace('%d', String(i)));
  const pool = planPool(opts.ips);
  const agents: AgentProcess[] = [];
  let profiled: { socket: string; proc: ChildProcess; dir: string } | undefined;
  let fake: FakeApiServerProcess | undefined;
  let rest: KubeRest | undefined;
  try {
    process.stderr.write(`starting the fake API server and ${opts.nodes} agents...\n`);
    // Its own directory and node's default names: tsx's loader thread writes a profile too, and a fixed name would let it overwrite the main thread's.
    fake = await startFakeApiServerProcess({ dir: join(dir, 'kubeconfigs'), execArgv: opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(opts.cpuProf, 'fake-apiserver')] : [] });
    children.add(fake.proc);
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigs.admin);
    const kubeconfig = fake.kubeconfigs.agent;
    rest = await createKubeRest(kc);
    await createNodes(rest, nodes);
    await createPool(rest, pool);
    const sockets = new Map<string, string>();
    const starts = nodes.map(async (node, i) => {
      if (i === 0 && opts.cpuProf) {
        profiled = await startProfiledAgent(kubeconfig, node, opts.cpuProf);
        children.add(profiled.proc);
        tempDirs.add(profiled.dir);
        sockets.set(node, profiled.socket);
        return;
      }
      const agent = await startKubeAgent({ kubeconfig, node });
      agents.push(agent);
      children.add(agent.proc);
      tempDirs.add(agent.dir);
      sockets.set(node, agent.socket);
    });
    const started = await Promise.allSettled(starts);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    // Warm the fake's JIT and allocator on the same operation, then measure it with the agents' whole in-flight budget.
    const budget = opts.nodes * opts.concurrency;
    process.stderr.write(`measuring the fake's raw conditional-create rate (concurrency ${budget})...\n`);
    await measureConditionalCreates(fake.url, { concurrency: budget, count: RAW_WARMUP });
    const raw = await measureConditionalCreates(fake.url, { concurrency: budget, count: RAW_COUNT });
    // Each agent serialises its reserves per pool, so the agents together have at most one create per node in flight.
    const rawNarrow = await measureConditionalCreates(fake.url, { concurrency: opts.nodes, count: RAW_COUNT });
    for (const r of [raw, rawNarrow]) if ((r.statuses['201'] ?? 0) !== r.count) throw new Error(`raw create measurement was not clean: ${JSON.stringify(r.statuses)}`);

    const ctx = { rest, fake, sockets, pool, opts };
    const phases: PhaseResult[] = [];
    const firstPods = await createPods(rest, { prefix: 'web', count: opts.pods, nodes });
    phases.push(await phase('creation', ctx, firstPods));

    await forceDeletePods(rest, firstPods);
    const delBar = createProgress('DEL', firstPods.length, 14);
    const del = await driveDels({ sockets, pods: firstPods, concurrency: opts.concurrency, onSettled: (n) => delBar.update(n) });
    delBar.done();
    if (del.problems.length > 0) throw new Error(`${del.problems.length} DELs did not release their IP, e.g. ${JSON.stringify(del.problems.slice(0, 3))}`);
    const secondPods = await createPods(rest, { prefix: 'web-b', count: opts.pods, nodes });
    phases.push(await phase('re-creation', ctx, secondPods));

    console.log(table(opts, raw, rawNarrow, phases));
    console.log(`DEL of ${firstPods.length} pods: ${(del.wallMs / 1000).toFixed(2)} s; machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`);
    const problems = phases.flatMap((p) => p.problems.map((x) => `${p.label}: ${x}`));
    // The chart's RBAC must have let every request of the agents through.
    for (const d of await fake.denials()) problems.push(`refused by the chart's RBAC: ${d}`);
    for (const p of problems) console.error(`CORRECTNESS: ${p}`);
    if (opts.jsonFile) {
      writeFileSync(
        opts.jsonFile,
        JSON.stringify(
          {
            options: opts,
            pool,
            raw,
            rawNarrow,
            del: { wallMs: del.wallMs, released: del.released },
            phases: phases.map((p) => ({ ...p, throughputRatio: p.perSecond / raw.perSecond })),
            machine: { cores: cpus().length, loadavg: loadavg(), node: process.version },
          },
          null,
          2,
        ),
      );
    }
    return problems.length > 0 ? 1 : 0;
  } finally {
    // The profiled agent and the fake must exit cleanly for their profiles to be written.
    if (profiled) await stopGracefully(profiled.proc);
    await Promise.all(agents.map((a) => a.stop('SIGTERM').catch(() => null)));
    rest?.close();
    await fake?.stop();
    cleanupSync();
    if (opts.cpuProf) process.stderr.write(`CPU profiles in ${opts.cpuProf}\n`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    cleanupSync();
    console.error(`bench:k8s failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
