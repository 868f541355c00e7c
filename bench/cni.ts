// ADD/DEL latency of tidepool against Debian's host-local, through the same
// macvlan network config in real network namespaces, plus each IPAM plugin
// invoked alone. The two IPAMs alternate within one run, and swap which goes
// first every round, so machine noise and drift hit both alike. Each
// tidepool iteration also runs macvlan ADD and DEL with IP conflict detection
// on (nothing answers: the common case) and with gateway detection on (a
// namespace behind the master answers for the gateway), so the cost of
// probing is read against the plain ADD of the same run.
// Run: npm run bench:cni -- [--iterations N] [--warmup N] [--json FILE]
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises';
import { CLI, PLUGIN_DIR, poolYaml, removeDir, startAgent, type AgentProcess } from '../test/helpers/agent-process.ts';
import { CNI_BIN, cniEnv, execPlugin, ip, ipQuiet, type PluginRun } from '../test/helpers/netns.ts';
import { eachFlag, parseBenchFlags, UsageError } from './flags.ts';

const USAGE = 'usage: npm run bench:cni -- [--iterations N] [--warmup N] [--json FILE]';
const DEFAULTS = { iterations: 200, warmup: 20 };
const GOAL_RATIO = 1.5;

const IMPLS = ['host-local', 'tidepool'] as const;
type Impl = (typeof IMPLS)[number];
const OPS = ['macvlanAdd', 'macvlanDel', 'ipamAdd', 'ipamDel'] as const;
// tidepool only: macvlan ADD (and its DEL) with a detection switched on.
const PROBE_OPS = ['conflictAdd', 'conflictDel', 'gatewayAdd', 'gatewayDel'] as const;
type Op = (typeof OPS)[number] | (typeof PROBE_OPS)[number];
const OP_LABEL: Record<Op, string> = {
  macvlanAdd: 'macvlan ADD',
  macvlanDel: 'macvlan DEL',
  ipamAdd: 'IPAM ADD',
  ipamDel: 'IPAM DEL',
  conflictAdd: 'macvlan ADD, IP conflict detection',
  conflictDel: 'macvlan DEL, after conflict detection',
  gatewayAdd: 'macvlan ADD, gateway detection',
  gatewayDel: 'macvlan DEL, after gateway detection',
};
// Which agent route each tidepool invocation ends up calling, once.
const OP_ROUTE: Record<Op, AgentRoute> = {
  macvlanAdd: '/v1/allocate',
  macvlanDel: '/v1/release',
  ipamAdd: '/v1/allocate',
  ipamDel: '/v1/release',
  conflictAdd: '/v1/allocate',
  conflictDel: '/v1/release',
  gatewayAdd: '/v1/allocate',
  gatewayDel: '/v1/release',
};
/** Added p99 of a detection over the plain ADD that the goal allows (Spiderpool's default probe waits about 100 ms). */
const PROBE_GOAL_MS = 100;
type AgentRoute = '/v1/allocate' | '/v1/release';


interface Options {
  readonly iterations: number;
  readonly warmup: number;
  readonly jsonFile: string | undefined;
}

function parseCount(flag: string, raw: string | undefined, min: number): number {
  if (raw === undefined || raw === '' || raw.startsWith('--')) throw new UsageError(`${flag} needs a value (an integer >= ${min})`);
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`);
  if (n > 100_000) throw new UsageError(`${flag} ${raw} is more than 100000; each iteration creates and deletes network namespaces, so that would run for hours`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options {
  let iterations = DEFAULTS.iterations;
  let warmup = DEFAULTS.warmup;
  let jsonFile: string | undefined;
  eachFlag(argv, (f) => {
    switch (f.name) {
      case '--iterations':
        iterations = parseCount('--iterations', f.value(), 1);
        return true;
      case '--warmup':
        warmup = parseCount('--warmup', f.value(), 0);
        return true;
      case '--json':
        jsonFile = f.text('a file name');
        return true;
      default:
        return false;
    }
  });
  return { iterations, warmup, jsonFile };
}

/** Every reason the bench cannot run here, so one attempt reports them all. */
function environmentProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('must run as root: it creates network namespaces and a veth pair');
  for (const p of ['macvlan', 'host-local']) {
    if (!existsSync(`${CNI_BIN}/${p}`)) problems.push(`missing ${CNI_BIN}/${p} (apt-get install containernetworking-plugins, or scripts/setup.sh)`);
  }
  for (const f of [CLI, join(PLUGIN_DIR, 'tidepool'), join(PLUGIN_DIR, 'build-info.json')]) {
    if (!existsSync(f)) problems.push(`missing ${f}: dist is not built (npm run build; npm run bench:cni builds first)`);
  }
  try {
    ip('-V');
  } catch {
    problems.push('the ip command (iproute2) is not available');
  }
  return problems;
}

function pluginRuntime(dir: string): string {
  try {
    const info = JSON.parse(readFileSync(join(dir, 'build-info.json'), 'utf8')) as { runtime?: unknown };
    return typeof info.runtime === 'string' ? info.runtime : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Copies the built plugin into `dir` and checks that the copy answers VERSION.
 * Other work in the same tree rebuilds dist/ (npm test builds first), and a
 * rebuild in the middle of a run would make the plugin vanish for a moment or
 * change under the measurement; a private copy measures one build throughout.
 */
async function snapshotPlugin(dir: string): Promise<string> {
  let lastError = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const before = readFileSync(join(PLUGIN_DIR, 'build-info.json'), 'utf8');
      copyFileSync(join(PLUGIN_DIR, 'tidepool'), join(dir, 'tidepool'));
      chmodSync(join(dir, 'tidepool'), 0o755);
      // The same build-info before and after the copy: no build finished in between.
      if (readFileSync(join(PLUGIN_DIR, 'build-info.json'), 'utf8') !== before) throw new Error('dist/cni changed during the copy');
      writeFileSync(join(dir, 'build-info.json'), before);
      const env: NodeJS.ProcessEnv = { ...process.env, CNI_COMMAND: 'VERSION' };
      delete env['NODE_EXTRA_CA_CERTS'];
      const res = spawnSync(join(dir, 'tidepool'), [], { input: '{"cniVersion":"1.0.0"}', env, encoding: 'utf8', timeout: 10_000 });
      if (res.status === 0 && res.stdout.includes('supportedVersions')) return pluginRuntime(dir);
      throw new Error(`VERSION answered exit ${String(res.status)}: ${res.stdout}${res.stderr}`);
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await delay(1_000);
  }
  throw new Error(`could not take a working copy of ${join(PLUGIN_DIR, 'tidepool')} (is a build running?): ${lastError}`);
}

/** Linear interpolation between closest ranks; `sorted` ascending, non-empty. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] ?? a;
  return a + (b - a) * (pos - lo);
}

interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly p10: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  if (s.length === 0) return { n: 0, median: Number.NaN, p99: Number.NaN, p10: Number.NaN, p90: Number.NaN, min: Number.NaN, max: Number.NaN, mean: Number.NaN };
  return {
    n: s.length,
    median: r(quantile(s, 0.5)),
    p99: r(quantile(s, 0.99)),
    p10: r(quantile(s, 0.1)),
    p90: r(quantile(s, 0.9)),
    min: r(s[0] ?? Number.NaN),
    max: r(s[s.length - 1] ?? Number.NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

/** Progress on stderr: redrawn in place on a terminal, a line per 10% otherwise (CI logs). */
function progress(total: number): { step(): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  const width = 30;
  let n = 0;
  let lastDecile = -1;
  const draw = (end: string) => {
    const filled = Math.round((n / total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total}${end}`);
  };
  return {
    step() {
      n++;
      if (tty) draw('');
      else {
        const decile = Math.floor((n / total) * 10);
        if (decile !== lastDecile) {
          lastDecile = decile;
          draw('\n');
        }
      }
    },
    done() {
      if (tty) draw('\n');
    },
  };
}

/** What must be undone however the run ends; everything here is removable synchronously. */
const owned = {
  namespaces: new Set<string>(),
  links: new Set<string>(),
  dirs: new Set<string>(),
  agent: undefined as AgentProcess | undefined,
};

function cleanupSync(): void {
  for (const ns of owned.namespaces) ipQuiet('netns', 'del', ns);
  owned.namespaces.clear();
  // Deleting one end of a veth removes its peer too.
  for (const link of owned.links) ipQuiet('link', 'del', link);
  owned.links.clear();
  const agent = owned.agent;
  if (agent && agent.proc.exitCode === null && agent.proc.signalCode === null) agent.proc.kill('SIGKILL');
  if (agent) removeDir(agent.dir);
  owned.agent = undefined;
  for (const d of owned.dirs) removeDir(d);
  owned.dirs.clear();
}

let agentStarting = false;
let deferredSignal: NodeJS.Signals | undefined;

function onSignal(signal: NodeJS.Signals): void {
  // The agent's process is only handed over once it answers; stopping before
  // that would orphan it, so the signal waits for startAgent to settle.
  if (agentStarting) {
    deferredSignal = signal;
    return;
  }
  process.stderr.write(`\n${signal}: cleaning up namespaces, veth and agent\n`);
  cleanupSync();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/**
 * Agent request lines in arrival order. The plugin can exit, and the bench
 * see it, before the agent's log line has been read from its stderr, so each
 * invocation waits (untimed) for the line of the route it called.
 */
class AgentShare {
  private cursor = 0;
  constructor(private readonly agent: AgentProcess) {}

  async next(route: AgentRoute): Promise<number> {
    const deadline = performance.now() + 5_000;
    for (;;) {
      while (this.cursor < this.agent.logs.length) {
        const line = this.agent.logs[this.cursor++] ?? '';
        let entry: { msg?: unknown; path?: unknown; status?: unknown; durationMs?: unknown };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        if (entry.msg !== 'request' || (entry.path !== '/v1/allocate' && entry.path !== '/v1/release')) continue;
        if (entry.path !== route) throw new Error(`expected an agent request line for ${route}, got ${entry.path}: ${line}`);
        if (entry.status !== 200) throw new Error(`agent answered ${route} with status ${String(entry.status)}: ${line}`);
        if (typeof entry.durationMs !== 'number') throw new Error(`agent request line without durationMs: ${line}`);
        return entry.durationMs;
      }
      if (this.agent.proc.exitCode !== null || this.agent.proc.signalCode !== null) throw new Error('the agent exited during the run');
      if (performance.now() > deadline) throw new Error(`no agent request line for ${route} within 5 s; is --log-level debug in effect? Last agent lines:\n${this.agent.logs.slice(-5).join('\n')}`);
      await (this.agent.logs.length > this.cursor ? nextTurn() : delay(1));
    }
  }
}

type Samples = Record<Op, Record<Impl, number[]>>;

async function main(): Promise<number> {
  const opts = parseBenchFlags('bench:cni', USAGE, () => parseArgs(process.argv.slice(2)));
  if (typeof opts === 'number') return opts;
  const problems = environmentProblems();
  if (problems.length > 0) {
    console.error(`bench:cni cannot run here:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // A stream error nobody listens for (e.g. EPIPE on a plugin's stdin) would
  // otherwise end the process past every finally, leaving namespaces behind.
  process.once('uncaughtException', (err) => {
    cleanupSync();
    console.error(`\nbench:cni failed: ${err.message}`);
    process.exit(1);
  });

  // Tagged with the pid so a second run, or the netns tests, never collide with ours.
  const tag = (process.pid % 100_000).toString();
  const master = `tpbench${tag}`;
  const nsName = (round: number, impl: Impl) => `tpbench-${tag}-${round}-${impl === 'tidepool' ? 'tp' : 'hl'}`;

  const ALL_OPS: readonly Op[] = [...OPS, ...PROBE_OPS];
  const samples = Object.fromEntries(ALL_OPS.map((op) => [op, { 'host-local': [] as number[], tidepool: [] as number[] }])) as Samples;
  const perOp = () => Object.fromEntries(ALL_OPS.map((op) => [op, [] as number[]])) as Record<Op, number[]>;
  const agentMs: Record<AgentRoute, Record<Op, number[]>> = { '/v1/allocate': perOp(), '/v1/release': perOp() };
  const spawnFloor: number[] = [];

  try {
    const hostLocalDir = mkdtempSync(join(tmpdir(), 'tidepool-bench-hl-'));
    owned.dirs.add(hostLocalDir);
    const pluginDir = mkdtempSync(join(tmpdir(), 'tidepool-bench-cni-'));
    owned.dirs.add(pluginDir);
    const runtime = await snapshotPlugin(pluginDir);
    const cniPath = `${pluginDir}:${CNI_BIN}`;
    agentStarting = true;
    let agent: AgentProcess;
    try {
      agent = await startAgent({ pools: poolYaml('bench', { subnet: '10.124.0.0/16', gateway: '10.124.0.1' }), args: ['--log-level', 'debug'] });
      owned.agent = agent;
    } finally {
      agentStarting = false;
      if (deferredSignal) onSignal(deferredSignal);
    }
    const share = new AgentShare(agent);

    ip('link', 'add', master, 'type', 'veth', 'peer', 'name', `${master}p`);
    owned.links.add(master);
    ip('link', 'set', master, 'up');
    // The LAN behind the master: one namespace that answers for both gateways, and nothing else.
    const lan = `tpbench-${tag}-lan`;
    ip('netns', 'add', lan);
    owned.namespaces.add(lan);
    ip('link', 'set', `${master}p`, 'netns', lan);
    ip('-n', lan, 'link', 'set', `${master}p`, 'up');
    ip('-n', lan, 'addr', 'add', '10.124.0.1/16', 'dev', `${master}p`);
    ip('-n', lan, 'addr', 'add', '10.123.0.1/16', 'dev', `${master}p`);

    // Identical apart from `ipam`; the subnets are disjoint so neither run can touch the other's addresses.
    const base = { cniVersion: '1.0.0', name: 'tidepool-bench', type: 'macvlan', master, mode: 'bridge' };
    // Both give the pod a default route through their gateway; the plain tidepool rows probe nothing, as host-local does not.
    const tidepoolIpam = { type: 'tidepool', socket: agent.socket, ipv4Pools: ['bench'] };
    const netconf: Record<Impl, Record<string, unknown>> = {
      tidepool: { ...base, ipam: { ...tidepoolIpam, ipConflictDetection: false } },
      'host-local': { ...base, ipam: { type: 'host-local', ranges: [[{ subnet: '10.123.0.0/16', gateway: '10.123.0.1' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: hostLocalDir } },
    };
    // Default settings otherwise: conflict detection is on by default, with the node's default timeout.
    const conflictConf = { ...base, ipam: tidepoolIpam };
    const gatewayConf = { ...base, ipam: { ...tidepoolIpam, ipConflictDetection: false, gatewayDetection: true } };
    const ipamBinary: Record<Impl, string> = { tidepool: join(pluginDir, 'tidepool'), 'host-local': `${CNI_BIN}/host-local` };

    const timed = async (binary: string, env: Record<string, string>, conf: unknown): Promise<{ ms: number; run: PluginRun }> => {
      const t0 = performance.now();
      const run = await execPlugin(binary, env, conf);
      return { ms: performance.now() - t0, run };
    };
    const expectOk = (what: string, run: PluginRun) => {
      if (run.code !== 0) throw new Error(`${what} failed with exit ${String(run.code)}: ${run.stdout.trim()} ${run.stderr.trim()}`);
    };

    const rounds = opts.warmup + opts.iterations;
    const bar = progress(rounds * 2);
    for (let round = 0; round < rounds; round++) {
      const measured = round >= opts.warmup;
      const order: readonly Impl[] = round % 2 === 0 ? ['tidepool', 'host-local'] : ['host-local', 'tidepool'];
      for (const impl of order) {
        const ns = nsName(round, impl);
        ip('netns', 'add', ns);
        owned.namespaces.add(ns);
        const id = `tpbench-${tag}-${round}-${impl}`;
        const steps: Array<[Op, string, string, unknown]> = [
          ['macvlanAdd', `${CNI_BIN}/macvlan`, 'ADD', netconf[impl]],
          ['macvlanDel', `${CNI_BIN}/macvlan`, 'DEL', netconf[impl]],
          ['ipamAdd', ipamBinary[impl], 'ADD', netconf[impl]],
          ['ipamDel', ipamBinary[impl], 'DEL', netconf[impl]],
        ];
        if (impl === 'tidepool') {
          steps.push(
            ['conflictAdd', `${CNI_BIN}/macvlan`, 'ADD', conflictConf],
            ['conflictDel', `${CNI_BIN}/macvlan`, 'DEL', conflictConf],
            ['gatewayAdd', `${CNI_BIN}/macvlan`, 'ADD', gatewayConf],
            ['gatewayDel', `${CNI_BIN}/macvlan`, 'DEL', gatewayConf],
          );
        }
        for (const [op, binary, command, conf] of steps) {
          const { ms, run } = await timed(binary, { ...cniEnv(command, id, ns), CNI_PATH: cniPath }, conf);
          expectOk(`${impl} ${OP_LABEL[op]} (round ${round})`, run);
          let agentDuration: number | undefined;
          if (impl === 'tidepool') agentDuration = await share.next(OP_ROUTE[op]);
          if (measured) {
            samples[op][impl].push(ms);
            if (agentDuration !== undefined) agentMs[OP_ROUTE[op]][op].push(agentDuration);
          }
        }
        ip('netns', 'del', ns);
        owned.namespaces.delete(ns);
        bar.step();
      }
      // The cost of any spawn from this process, for reading the IPAM rows (cat, not
      // true: the helper writes stdin, and true's early exit would break the pipe).
      const t0 = performance.now();
      expectOk('/bin/cat', await execPlugin('/bin/cat', {}, ''));
      if (measured) spawnFloor.push(performance.now() - t0);
    }
    bar.done();

    const left = await agent.call('GET', '/v1/allocations');
    const leftCount = Array.isArray(left.body) ? left.body.length : -1;
    if (leftCount !== 0) console.error(`warning: ${leftCount} tidepool allocation(s) left after the run; a DEL did not release`);

    report(opts, samples, agentMs, spawnFloor, runtime);
  } finally {
    const agent = owned.agent;
    for (const ns of owned.namespaces) ipQuiet('netns', 'del', ns);
    owned.namespaces.clear();
    if (agent) {
      owned.agent = undefined;
      await agent.cleanup();
    }
    cleanupSync();
  }
  return 0;
}

function report(opts: Options, samples: Samples, agentMs: Record<AgentRoute, Record<Op, number[]>>, spawnFloor: number[], runtime: string): void {
  const s = Object.fromEntries(OPS.map((op) => [op, { 'host-local': summarize(samples[op]['host-local']), tidepool: summarize(samples[op].tidepool) }])) as Record<Op, Record<Impl, Summary>>;
  const allocate = summarize([...agentMs['/v1/allocate'].macvlanAdd, ...agentMs['/v1/allocate'].ipamAdd]);
  const releaseShare = summarize([...agentMs['/v1/release'].macvlanDel, ...agentMs['/v1/release'].ipamDel]);
  const floor = summarize(spawnFloor);
  const ratio = (op: Op) => s[op].tidepool.median / s[op]['host-local'].median;
  const f = (x: number) => x.toFixed(2).padStart(7);

  const lines = [
    `tidepool vs host-local, macvlan on a veth master, real namespaces (N=${opts.iterations} each, interleaved; ${opts.warmup} warm-up discarded)`,
    '                         median     p99    (ms)',
  ];
  for (const op of OPS) {
    for (const impl of IMPLS) {
      const row = `${OP_LABEL[op].padEnd(12)} ${impl.padEnd(10)} ${f(s[op][impl].median)} ${f(s[op][impl].p99)}`;
      lines.push(impl === 'tidepool' ? `${row}      ratio ${ratio(op).toFixed(2)} (median)` : row);
    }
  }
  lines.push(
    `agent share  /v1/allocate median ${allocate.median.toFixed(2)} p99 ${allocate.p99.toFixed(2)}   /v1/release median ${releaseShare.median.toFixed(2)} p99 ${releaseShare.p99.toFixed(2)}   (n=${allocate.n}/${releaseShare.n}, via macvlan and direct)`,
    `spawn floor  /bin/cat from this process: median ${floor.median.toFixed(2)} p99 ${floor.p99.toFixed(2)}`,
    `plugin runtime: ${runtime} (from dist/cni/build-info.json)`,
  );
  const met = ratio('macvlanAdd') <= GOAL_RATIO;
  lines.push(`goal: tidepool macvlan ADD within ${GOAL_RATIO}x of host-local: ${met ? 'MET' : 'NOT MET'} (${ratio('macvlanAdd').toFixed(2)}x)`);
  // The probing rows, read against the plain tidepool ADD of the same rounds.
  const probe = Object.fromEntries(PROBE_OPS.map((op) => [op, summarize(samples[op].tidepool)])) as Record<(typeof PROBE_OPS)[number], Summary>;
  const plain = s.macvlanAdd.tidepool;
  lines.push(`with probing (tidepool, default ${'50 ms'} probe timeout; the plain ADD above probes nothing)`);
  for (const op of PROBE_OPS) lines.push(`${OP_LABEL[op].padEnd(38)} ${f(probe[op].median)} ${f(probe[op].p99)}`);
  const added = { conflict: probe.conflictAdd.p99 - plain.p99, gateway: probe.gatewayAdd.p99 - plain.p99 };
  const probeMet = added.conflict <= PROBE_GOAL_MS && added.gateway <= PROBE_GOAL_MS;
  lines.push(
    `goal: each detection adds at most ${PROBE_GOAL_MS} ms at p99 over the plain ADD: ${probeMet ? 'MET' : 'NOT MET'} ` +
      `(conflict +${added.conflict.toFixed(1)} ms, gateway +${added.gateway.toFixed(1)} ms; medians +${(probe.conflictAdd.median - plain.median).toFixed(1)} / +${(probe.gatewayAdd.median - plain.median).toFixed(1)} ms)`,
  );
  console.log(lines.join('\n'));

  if (opts.jsonFile) {
    const out = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version },
      config: { iterations: opts.iterations, warmup: opts.warmup, pluginRuntime: runtime, cniVersion: '1.0.0', goalRatio: GOAL_RATIO },
      unit: 'ms',
      summary: {
        ...s,
        agentShare: { allocate, release: releaseShare },
        spawnFloor: floor,
        ratioMedian: Object.fromEntries(OPS.map((op) => [op, Math.round(ratio(op) * 1000) / 1000])),
        goalMet: met,
        probing: { ...probe, addedP99Ms: added, goalMs: PROBE_GOAL_MS, goalMet: probeMet },
      },
      samples: { ...samples, agentShare: agentMs, spawnFloor },
    };
    writeFileSync(opts.jsonFile, JSON.stringify(out, null, 2) + '\n');
    console.error(`raw numbers written to ${opts.jsonFile}`);
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  cleanupSync();
  console.error(`\nbench:cni failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
