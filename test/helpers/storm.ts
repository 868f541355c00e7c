// A restart storm for standalone mode: the real agent process is SIGKILLed
// at random and restarted like systemd's Restart=always would, while workers
// modelled on kubelet create and delete pods through Debian's bridge plugin
// with tidepool as IPAM, in real network namespaces. Some DELs are lost on
// purpose (the namespace is deleted without one), and oracles check that no
// IP is ever held twice, no pod gives up, every leaked IP comes back within
// its bound, and the state file is sound at the end.
//
// Used by test/standalone-storm.test.ts (a bounded run) and bench/storm.ts
// (`npm run soak:standalone`, long runs).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { createRng, type Rng } from '../../src/sim/rng.ts';
import { callSocket, CLI, cleanEnv, collectLines, poolYaml, removeDir } from './agent-process.ts';
import { CNI_BIN, cniEnv, execPlugin, type PluginRun } from './netns.ts';

export interface StormOptions {
  /** How long pods are created and the agent killed; the drain and checks come after. */
  readonly durationMs: number;
  /** Concurrent pod creators, each one kubelet working through its pods one at a time. Default 8. */
  readonly workers?: number;
  /** IPv4 addresses in the one pool (1-240). Default 40. */
  readonly poolSize?: number;
  /** Share of running pods whose namespace is deleted without a CNI DEL. Default 0.07. */
  readonly lostDelRatio?: number;
  /** Uptime of each agent incarnation, from answering /healthz to its SIGKILL: uniform in [min, max]. Default [5000, 15000]. */
  readonly killEveryMs?: readonly [number, number];
  /** Pause between the old agent's death and starting the new one (systemd's RestartSec). Default [100, 300]. */
  readonly restartDelayMs?: readonly [number, number];
  /** Passed to the agent as --gc-interval. Default 5000 (the agent's default). */
  readonly gcIntervalMs?: number;
  /** Passed to the agent as --gc-grace. Default 10000 (the agent's default). */
  readonly gcGraceMs?: number;
  /** How long a running pod keeps its IP before it is deleted: uniform in [min, max]. Default [200, 1500]. */
  readonly holdMs?: readonly [number, number];
  /** Seed of every random choice (kill times, hold times, lost DELs). Default: random, and reported. */
  readonly seed?: number;
  /** Sandbox attempts before a pod gives up. Default 6. */
  readonly maxAddAttempts?: number;
  /** Back-off after a failed sandbox: first, doubling up to cap. Default [1000, 10000]. */
  readonly backoffMs?: readonly [number, number];
  /** Added to every reclaim bound for scheduling noise. Default 3000. */
  readonly slackMs?: number;
  /** How often the allocation list is read while the agent is up. Default 200. */
  readonly pollMs?: number;
  /** How long a new agent may take to answer /healthz. Default 60000. */
  readonly readyTimeoutMs?: number;
  /** Extra `tidepool daemon` flags. */
  readonly agentArgs?: readonly string[];
  /** Progress lines (every ~10 s of the storm); default silent. */
  readonly progress?: (line: string) => void;
  /** Ends the storm early; the drain and checks still run. */
  readonly signal?: AbortSignal;
}

export type StormOracle =
  /** a. an IP handed to a namespace while another live namespace holds it, or found twice in live namespaces at the end */
  | 'unique-ip'
  /** a. a running pod's allocation missing from the agent's list (the agent freed an IP still in use) */
  | 'live-ip-kept'
  /** b. a pod failed its ADD maxAddAttempts times */
  | 'gave-up'
  /** c. a leaked allocation still present past its bound */
  | 'reclaim-bound'
  /** c. allocations left once the storm stopped and the bound passed */
  | 'drain'
  /** d. the state file after the agent stopped */
  | 'state-file'
  /** the agent exited without being killed, or stopped badly at the end */
  | 'agent-exit';

export interface StormViolation {
  readonly oracle: StormOracle;
  /** Milliseconds since the storm started. */
  readonly at: number;
  readonly message: string;
}

/** An allocation whose namespace was deleted while the agent may still hold it. */
export interface LeakReport {
  readonly containerId: string;
  readonly ip: string | undefined;
  /** lost-del: deleted without DEL on purpose; del-unconfirmed: DEL warned or failed; failed-add: teardown of a failed sandbox. */
  readonly cause: 'lost-del' | 'del-unconfirmed' | 'failed-add';
  /** When the namespace was deleted, ms since the storm started. */
  readonly goneAt: number;
  /** Upper bound of the reclaim latency: the first read that no longer listed it, less goneAt; undefined if never reclaimed. */
  readonly latencyMs: number | undefined;
  /** The bound at the time it was reclaimed (or at the end). */
  readonly boundMs: number;
}

export interface IncarnationLog {
  readonly n: number;
  readonly startedAt: number;
  readonly readyAt: number | undefined;
  /** 'SIGKILL (storm)', 'exit 0 (stopped)', or what happened by itself. */
  readonly end: string | undefined;
  /** The last lines of its stderr (capped). */
  readonly lines: readonly string[];
}

export interface StormStats {
  podsStarted: number;
  podsRan: number;
  addAttempts: number;
  addFailures: number;
  retries: number;
  gaveUp: number;
  abandonedAtStop: number;
  dels: number;
  delFailures: number;
  delWarnings: number;
  lostDels: number;
  kills: number;
  unexpectedExits: number;
  polls: number;
  pollErrors: number;
  peakAllocations: number;
}

export interface StormResult {
  readonly seed: number;
  readonly options: ResolvedOptions;
  readonly stats: StormStats;
  /** ADD failures by CNI code and message (socket paths and container IDs replaced). */
  readonly addFailuresByReason: ReadonlyMap<string, number>;
  readonly delFailuresByReason: ReadonlyMap<string, number>;
  readonly violations: readonly StormViolation[];
  readonly leaks: readonly LeakReport[];
  /** [kill or exit, next /healthz answer], ms since the storm started. */
  readonly downWindows: ReadonlyArray<{ readonly from: number; readonly to: number }>;
  readonly agentLogs: readonly IncarnationLog[];
  /** Storm, drain and checks, wall clock. */
  readonly elapsedMs: number;
  /** Allocations listed at the end of the drain. */
  readonly leftAtEnd: readonly string[];
  of(oracle: StormOracle): StormViolation[];
  /** A printable report: counts, latencies, down time, violations (first 20 of each oracle). */
  summary(): string;
}

type ResolvedOptions = Required<Omit<StormOptions, 'progress' | 'signal' | 'seed'>>;

const POOL = 'storm-v4';
const NETWORK = 'tidepool-storm';
const LOG_LINES_PER_AGENT = 300;
const AGENT_LOGS_KEPT = 12;
const DEL_TRIES = 5;
let runCounter = 0;

/** The longest a correct agent may take to free a leaked IP, not counting its own down time; see the README, "Agent restarts". */
export function reclaimAllowanceMs(o: { gcGraceMs: number; gcIntervalMs: number; slackMs: number }): number {
  // Seen gone at the first collection after the deletion (at most one
  // interval later), freed when the grace counted from that sighting ends:
  // the agent runs a collection at that moment rather than at its next tick,
  // whatever phase its ticks have after a restart.
  return o.gcGraceMs + o.gcIntervalMs + o.slackMs;
}

export async function runStandaloneStorm(options: StormOptions): Promise<StormResult> {
  const o: ResolvedOptions = {
    durationMs: options.durationMs,
    workers: options.workers ?? 8,
    poolSize: options.poolSize ?? 40,
    lostDelRatio: options.lostDelRatio ?? 0.07,
    killEveryMs: options.killEveryMs ?? [5000, 15000],
    restartDelayMs: options.restartDelayMs ?? [100, 300],
    gcIntervalMs: options.gcIntervalMs ?? 5000,
    gcGraceMs: options.gcGraceMs ?? 10000,
    holdMs: options.holdMs ?? [200, 1500],
    maxAddAttempts: options.maxAddAttempts ?? 6,
    backoffMs: options.backoffMs ?? [1000, 10000],
    slackMs: options.slackMs ?? 3000,
    pollMs: options.pollMs ?? 200,
    readyTimeoutMs: options.readyTimeoutMs ?? 60000,
    agentArgs: options.agentArgs ?? [],
  };
  if (!(o.poolSize >= 1 && o.poolSize <= 240)) throw new RangeError(`poolSize ${o.poolSize}: must be 1-240`);
  const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  const rng = createRng(seed);
  const progress = options.progress ?? (() => {});

  // Per-process names, so parallel test files and worktrees never collide.
  const tag = `${(process.pid % 10000).toString(36)}${(runCounter++ % 36).toString(36)}`;
  const bridge = `tpst${tag}`;
  const nsPrefix = `tpst-${tag}-`;
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-storm-'));
  const socket = join(dir, 'agent.sock');
  const state = join(dir, 'state.db');
  const poolsFile = join(dir, 'pools.yaml');
  writeFileSync(poolsFile, poolYaml(POOL, { subnet: '10.79.0.0/24', ips: [`10.79.0.10-10.79.0.${10 + o.poolSize - 1}`], gateway: '10.79.0.1' }));
  const netconf = { cniVersion: '1.0.0', name: NETWORK, type: 'bridge', bridge, ipam: { type: 'tidepool', socket, ipv4Pools: [POOL] } };

  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const stats: StormStats = {
    podsStarted: 0, podsRan: 0, addAttempts: 0, addFailures: 0, retries: 0, gaveUp: 0, abandonedAtStop: 0,
    dels: 0, delFailures: 0, delWarnings: 0, lostDels: 0, kills: 0, unexpectedExits: 0, polls: 0, pollErrors: 0, peakAllocations: 0,
  };
  const addFailuresByReason = new Map<string, number>();
  const delFailuresByReason = new Map<string, number>();
  const violations: StormViolation[] = [];
  const violate = (oracle: StormOracle, message: string) => violations.push({ oracle, at: now(), message });
  const normalise = (text: string) =>
    text.split(socket).join('<socket>').replace(/storm-[0-9a-z]+(-\d+)+/g, '<container>').replace(/waited \d+(\.\d+)? s/g, 'waited N s').replace(/\s+/g, ' ').trim();
  const count = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);

  // Storm state shared by the parts.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const liveNamespaces = new Set<string>();
  const holders = new Map<string, Set<Sandbox>>();
  const running = new Set<Sandbox>();
  const gone = new Map<string, Gone>();
  const unresolved = new Set<Gone>();
  const downWindows: Array<{ from: number; to: number | undefined }> = [];

  const downOverlap = (from: number, to: number) => {
    let total = 0;
    for (const w of downWindows) total += Math.max(0, Math.min(to, w.to ?? to) - Math.max(from, w.from));
    return total;
  };
  const allowance = reclaimAllowanceMs(o);
  const boundAt = (g: Gone, t: number) => allowance + downOverlap(g.at, t);

  const supervisor = createSupervisor({
    o, rng: rng.fork('supervisor'), socket, state, poolsFile, now, stop: stop.signal, downWindows, stats,
    unexpected: (message) => violate('agent-exit', message),
  });

  // ---- the poller: oracle c while the storm runs, and a2 (live pods keep their IPs) ----
  let polling = true;
  let lastList: AllocationRow[] = [];
  async function pollOnce(): Promise<AllocationRow[] | undefined> {
    if (!supervisor.up()) return undefined;
    const s = now();
    let list: AllocationRow[];
    try {
      list = await getAllocations(socket, 5000);
    } catch {
      stats.pollErrors++;
      return undefined;
    }
    const e = now();
    stats.polls++;
    lastList = list;
    stats.peakAllocations = Math.max(stats.peakAllocations, list.length);
    const present = new Map(list.map((r) => [r.containerId, r]));
    for (const r of list) {
      const g = gone.get(r.containerId);
      // Only a read that started after the namespace was deleted says anything about the leak.
      if (!g || s <= g.at) continue;
      g.seen = true;
      g.ip ??= r.ip;
      const bound = boundAt(g, s);
      if (s - g.at > bound && !g.overdue) {
        g.overdue = true;
        violate(
          'reclaim-bound',
          `${r.ip} of ${r.containerId} (${g.cause}) still allocated ${fmtS(s - g.at)} after its namespace was deleted at t+${fmtS(g.at)}; ` +
            `bound ${fmtS(bound)} (${fmtS(allowance)} + ${fmtS(bound - allowance)} agent down time)`,
        );
      }
    }
    for (const g of unresolved) {
      if (s <= g.at || present.has(g.containerId)) continue;
      unresolved.delete(g);
      // Never seen after the deletion and not a lost DEL: the DEL had in fact released it, or the ADD never committed.
      if (g.cause !== 'lost-del' && !g.seen) gone.delete(g.containerId);
      else g.reclaimedAt = e;
    }
    for (const sb of running) {
      // Running since before the read started and not being deleted now: the agent must list it.
      if (sb.runningSince! >= s || sb.state !== 'running') continue;
      const r = present.get(sb.id);
      if (!r || r.ip !== sb.ip) {
        if (sb.lostReported) continue;
        sb.lostReported = true;
        violate('live-ip-kept', `${sb.ip} of running pod ${sb.id} (netns ${sb.ns}) is ${r ? `listed as ${r.ip}` : 'missing'} in the agent's allocations`);
      }
    }
    return list;
  }
  const poller = (async () => {
    while (polling) {
      await pollOnce();
      await delay(o.pollMs);
    }
  })();

  // ---- namespaces ----
  async function addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
    liveNamespaces.add(name);
  }
  function releaseHold(sb: Sandbox): void {
    const set = sb.ip ? holders.get(sb.ip) : undefined;
    set?.delete(sb);
    if (set?.size === 0) holders.delete(sb.ip!);
  }
  async function deleteNs(sb: Sandbox, cause: Gone['cause'] | undefined): Promise<void> {
    sb.state = 'gone';
    running.delete(sb);
    // A failure here fails the storm: a namespace the oracles think gone would look like a leak.
    await run('ip', ['netns', 'del', sb.ns]);
    liveNamespaces.delete(sb.ns);
    const at = now();
    releaseHold(sb);
    if (cause) {
      const g: Gone = { containerId: sb.id, ip: sb.ip, cause, at, seen: false, overdue: false, reclaimedAt: undefined };
      gone.set(sb.id, g);
      unresolved.add(g);
    }
  }

  // ---- CNI ----
  const plugin = (command: string, sb: Sandbox): Promise<PluginRun> =>
    execPlugin(`${CNI_BIN}/bridge`, cniEnv(command, sb.id, sb.ns), netconf).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message, json: undefined }));
  const reason = (r: PluginRun) =>
    r.json && typeof r.json.code === 'number' ? `code ${r.json.code}: ${normalise(String(r.json.msg ?? ''))}` : `exit ${r.code}: ${normalise((r.stdout + r.stderr).slice(0, 300))}`;

  /** One DEL; 'released' only when the agent answered, so the IP is surely free. */
  async function del(sb: Sandbox): Promise<'released' | 'warned' | 'failed'> {
    stats.dels++;
    const r = await plugin('DEL', sb);
    if (r.code !== 0) {
      stats.delFailures++;
      count(delFailuresByReason, reason(r));
      return 'failed';
    }
    if (r.stderr.includes('not released now')) {
      stats.delWarnings++;
      return 'warned';
    }
    return 'released';
  }

  // ---- the end gate: once stopping, every worker parks before deleting its pod, so live namespaces can be read at one moment ----
  let parked = 0;
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const endSnapshot: Array<{ sb: Sandbox; addrs: string[] }> = [];
  async function park(): Promise<void> {
    if (++parked === o.workers) {
      for (const sb of running) {
        const r = await run('ip', ['-n', sb.ns, '-4', '-o', 'addr', 'show']).catch(() => ({ stdout: '' }));
        endSnapshot.push({ sb, addrs: [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!).filter((a) => a !== '127.0.0.1') });
      }
      openGate();
    }
    await gate;
  }

  // ---- workers: kubelet, one pod at a time ----
  async function worker(w: number): Promise<void> {
    const wr = rng.fork(`worker-${w}`);
    let held: Sandbox | undefined;
    try {
      for (let pods = 0; !stop.signal.aborted; pods++) {
        const pod = `${tag}-${w}-${pods}`;
        stats.podsStarted++;
        let backoff = o.backoffMs[0];
        const failures: string[] = [];
        for (let attempt = 1; ; attempt++) {
          const sb: Sandbox = { id: `storm-${pod}-${attempt}`, ns: `${nsPrefix}${w}-${pods}-${attempt}`, ip: undefined, state: 'adding', runningSince: undefined, lostReported: false };
          stats.addAttempts++;
          if (attempt > 1) stats.retries++;
          await addNs(sb.ns);
          const add = await plugin('ADD', sb);
          const address: unknown = add.code === 0 ? add.json?.ips?.[0]?.address : undefined;
          if (typeof address === 'string') {
            sb.ip = address.split('/')[0]!;
            const others = [...(holders.get(sb.ip) ?? [])];
            if (others.length > 0) {
              violate('unique-ip', `${sb.ip} handed to ${sb.id} (netns ${sb.ns}) while ${others.map((x) => `${x.id} (netns ${x.ns})`).join(', ')} still held it`);
            }
            holders.set(sb.ip, new Set([...others, sb]));
            sb.state = 'running';
            sb.runningSince = now();
            running.add(sb);
            stats.podsRan++;
            held = sb;
            break;
          }
          stats.addFailures++;
          const why = add.code === 0 ? `exit 0 without an IP in the result: ${add.stdout.slice(0, 400)} ${add.stderr.slice(0, 400)}` : reason(add);
          count(addFailuresByReason, why);
          failures.push(why);
          // Like kubelet after a failed RunPodSandbox: CNI DEL (best effort), then the sandbox and its namespace go.
          const d = await del(sb);
          await deleteNs(sb, d === 'released' ? undefined : 'failed-add');
          if (attempt >= o.maxAddAttempts) {
            stats.gaveUp++;
            violate('gave-up', `pod ${pod} gave up after ${attempt} failed sandboxes: ${failures.join(' | ')}`);
            break;
          }
          if (!stop.signal.aborted) await delay(backoff, undefined, { signal: stop.signal }).catch(() => undefined);
          backoff = Math.min(backoff * 2, o.backoffMs[1]);
          if (stop.signal.aborted) {
            stats.abandonedAtStop++;
            break;
          }
        }
        if (!held) continue;
        await delay(wr.between(o.holdMs[0], o.holdMs[1]));
        const lose = wr.chance(o.lostDelRatio);
        // Once stopping, running pods are deleted normally, after the end snapshot.
        if (stop.signal.aborted) break;
        const sb = held;
        held = undefined;
        if (lose) {
          stats.lostDels++;
          await deleteNs(sb, 'lost-del');
        } else {
          await deletePod(sb);
        }
      }
    } finally {
      await park();
      if (held) await deletePod(held);
    }
  }

  /** Kubelet's StopPodSandbox: DEL until the agent has answered (a few tries), then the namespace goes. */
  async function deletePod(sb: Sandbox): Promise<void> {
    // The runtime asked for the IP back: from here on another pod may get it.
    sb.state = 'deleting';
    releaseHold(sb);
    let outcome: 'released' | 'warned' | 'failed' = 'failed';
    let wait = 500;
    for (let i = 0; i < DEL_TRIES; i++) {
      outcome = await del(sb);
      if (outcome === 'released') break;
      if (outcome === 'warned') break; // exit 0: kubelet moves on
      await delay(wait);
      wait = Math.min(wait * 2, 4000);
    }
    await deleteNs(sb, outcome === 'released' ? undefined : 'del-unconfirmed');
  }

  let stormEndedAt = 0;
  let drainStartedAt = 0;
  let leftAtEnd: string[] = [];
  let failure: unknown;
  let workers: Array<Promise<void>> = [];
  let supervising: Promise<void> | undefined;
  const fail = (err: unknown) => {
    failure ??= err;
    stop.abort();
  };
  let stormTimer: NodeJS.Timeout | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  try {
    // Left by an earlier run that had this process id and died before its cleanup.
    const stale = await run('ip', ['netns', 'list']);
    for (const m of stale.stdout.matchAll(/^(\S+)/gm)) if (m[1]!.startsWith(nsPrefix)) await run('ip', ['netns', 'del', m[1]!]);
    await removeBridge(bridge);
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await run('ip', ['link', 'set', bridge, 'up']);
    await supervisor.start();
    stormTimer = setTimeout(() => stop.abort(), o.durationMs);
    progressTimer = setInterval(() => {
      progress(
        `t+${fmtS(now())} pods ${stats.podsStarted} running ${running.size} allocations ${lastList.length} leaks ${[...gone.values()].filter((g) => g.seen || g.cause === 'lost-del').length} ` +
          `unreclaimed ${unresolved.size} kills ${stats.kills} add failures ${stats.addFailures} gave up ${stats.gaveUp} violations ${violations.length}`,
      );
    }, 10_000);
    // A failing part ends the storm at once; the error is rethrown after cleanup.
    supervising = supervisor.run();
    supervising.catch(fail);
    workers = Array.from({ length: o.workers }, (_, w) => worker(w));
    for (const w of workers) w.catch(fail);
    if (!stop.signal.aborted) await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    clearTimeout(stormTimer);
    stormEndedAt = now();
    progress(`t+${fmtS(now())} storm over: no more kills or new pods; deleting the running pods`);
    // The supervisor finishes a restart in progress, so the agent is up while the last pods are deleted.
    await supervising;
    await Promise.all(workers);
    if (failure !== undefined) throw failure;

    // The end snapshot: no IP in two live namespaces, and each is the one its ADD returned.
    const byIp = new Map<string, string[]>();
    for (const { sb, addrs } of endSnapshot) {
      if (!addrs.includes(sb.ip!)) violate('unique-ip', `running pod ${sb.id}: netns ${sb.ns} has ${addrs.join(', ') || 'no IPv4 address'}, not ${sb.ip} from its ADD`);
      for (const a of addrs) byIp.set(a, [...(byIp.get(a) ?? []), sb.ns]);
    }
    for (const [a, nss] of byIp) if (nss.length > 1) violate('unique-ip', `${a} is configured in ${nss.length} live namespaces at the end: ${nss.join(', ')}`);

    // Drain: every namespace is gone and the agent stays up; a correct agent frees every IP within one allowance.
    // The drain reads the list itself from here on.
    polling = false;
    await poller;
    drainStartedAt = now();
    const deadline = drainStartedAt + allowance;
    progress(`t+${fmtS(now())} drain: waiting up to ${fmtS(allowance)} for the allocation list to empty`);
    for (;;) {
      const list = await pollOnce();
      if (list && list.length === 0) break;
      if (now() > deadline) {
        leftAtEnd = (list ?? lastList).map((r) => `${r.ip} ${r.containerId}`);
        violate('drain', `${leftAtEnd.length} allocations left ${fmtS(now() - drainStartedAt)} after the storm's pods were all deleted: ${leftAtEnd.join(', ')}`);
        break;
      }
      await delay(o.pollMs);
    }
  } catch (err) {
    fail(err);
  } finally {
    clearTimeout(stormTimer);
    clearInterval(progressTimer);
    polling = false;
    stop.abort();
    options.signal?.removeEventListener('abort', onOuterAbort);
    await Promise.allSettled([poller, ...(supervising ? [supervising] : []), ...workers]);
    const stopped = await supervisor.shutdown();
    if (failure === undefined && stopped !== 'exit 0 (stopped)') violate('agent-exit', `the agent did not stop cleanly on SIGTERM: ${stopped}`);
    if (failure === undefined) checkStateFile(state, (m) => violate('state-file', m));
    for (const ns of [...liveNamespaces]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    await removeBridge(bridge);
    removeDir(dir);
  }
  if (failure !== undefined) throw failure;

  const elapsedMs = now();
  const leaks: LeakReport[] = [...gone.values()]
    .filter((g) => g.seen || g.cause === 'lost-del')
    .map((g) => ({
      containerId: g.containerId,
      ip: g.ip,
      cause: g.cause,
      goneAt: g.at,
      latencyMs: g.reclaimedAt === undefined ? undefined : g.reclaimedAt - g.at,
      boundMs: boundAt(g, g.reclaimedAt ?? elapsedMs),
    }))
    .sort((a, b) => a.goneAt - b.goneAt);
  for (const l of leaks) {
    if (l.latencyMs === undefined && !violations.some((v) => v.oracle === 'reclaim-bound' && v.message.includes(l.containerId))) {
      violate('reclaim-bound', `${l.ip} of ${l.containerId} (${l.cause}) was never reclaimed; its namespace was deleted at t+${fmtS(l.goneAt)}`);
    }
  }
  const windows = downWindows.map((w) => ({ from: w.from, to: w.to ?? elapsedMs }));
  const result: StormResult = {
    seed,
    options: o,
    stats,
    addFailuresByReason,
    delFailuresByReason,
    violations,
    leaks,
    downWindows: windows,
    agentLogs: supervisor.logs(),
    elapsedMs,
    leftAtEnd,
    of: (oracle) => violations.filter((v) => v.oracle === oracle),
    summary: () => formatSummary(result, { stormEndedAt, drainStartedAt }),
  };
  return result;
}

interface Sandbox {
  readonly id: string;
  readonly ns: string;
  ip: string | undefined;
  state: 'adding' | 'running' | 'deleting' | 'gone';
  runningSince: number | undefined;
  lostReported: boolean;
}

interface Gone {
  readonly containerId: string;
  ip: string | undefined;
  readonly cause: LeakReport['cause'];
  readonly at: number;
  /** Listed by a read that started after the namespace was deleted. */
  seen: boolean;
  overdue: boolean;
  reclaimedAt: number | undefined;
}

interface AllocationRow {
  readonly ip: string;
  readonly containerId: string;
}

// ---- the supervisor: Restart=always ----

interface Incarnation {
  readonly n: number;
  readonly proc: ChildProcess;
  readonly startedAt: number;
  readyAt: number | undefined;
  end: string | undefined;
  endedAt: number | undefined;
  killed: boolean;
  readonly lines: string[];
  readonly exited: Promise<void>;
}

function createSupervisor(deps: {
  o: ResolvedOptions;
  rng: Rng;
  socket: string;
  state: string;
  poolsFile: string;
  now: () => number;
  stop: AbortSignal;
  downWindows: Array<{ from: number; to: number | undefined }>;
  stats: StormStats;
  unexpected: (message: string) => void;
}) {
  const { o, rng, now, stats } = deps;
  const incarnations: Incarnation[] = [];
  let current: Incarnation | undefined;
  let isUp = false;
  const killOnExit = () => {
    for (const i of incarnations) if (i.end === undefined) i.proc.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  function spawnAgent(): Incarnation {
    const proc = spawn(
      process.execPath,
      [
        CLI, 'daemon', '--pools', deps.poolsFile, '--state', deps.state, '--socket', deps.socket, '--metrics-listen', 'off', '--node', 'storm-node',
        '--gc-interval', `${o.gcIntervalMs}ms`, '--gc-grace', `${o.gcGraceMs}ms`, '--log-level', 'info', ...o.agentArgs,
      ],
      // Its own process group: a Ctrl-C meant for a soak run must not reach the agent; killOnExit covers a harness that dies.
      { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    const inc: Incarnation = {
      n: incarnations.length + 1,
      proc,
      startedAt: now(),
      readyAt: undefined,
      end: undefined,
      endedAt: undefined,
      killed: false,
      lines: [],
      exited: new Promise((resolve) =>
        proc.once('exit', (code, signal) => {
          inc.endedAt = now();
          inc.end = signal ? `${signal}${inc.killed ? ' (storm)' : ''}` : `exit ${code}`;
          resolve();
        }),
      ),
    };
    collectLines(proc.stderr!, inc.lines, LOG_LINES_PER_AGENT);
    incarnations.push(inc);
    if (incarnations.length > AGENT_LOGS_KEPT) incarnations.splice(0, 1);
    return inc;
  }

  /** Resolves once this incarnation logged its start and answered /healthz; rejects with its log if it dies or takes too long. */
  async function waitReady(inc: Incarnation): Promise<void> {
    const started = new Promise<void>((resolve) => {
      const check = (chunk: Buffer) => {
        if (chunk.toString().includes('"msg":"tidepool agent started"') || inc.lines.some((l) => l.includes('"msg":"tidepool agent started"'))) {
          inc.proc.stderr!.off('data', check);
          resolve();
        }
      };
      inc.proc.stderr!.on('data', check);
    });
    const timeout = new AbortController();
    const outcome = await Promise.race([
      started.then(() => 'started' as const),
      inc.exited.then(() => 'exited' as const),
      delay(o.readyTimeoutMs, undefined, { signal: timeout.signal }).then(() => 'timeout' as const, () => 'timeout' as const),
    ]);
    timeout.abort();
    if (outcome === 'exited') throw new AgentDied(inc);
    if (outcome === 'timeout') {
      throw new Error(`agent #${inc.n} did not answer within ${fmtS(o.readyTimeoutMs)} of starting; its log:\n${inc.lines.join('\n')}`);
    }
    const health = await callSocket(deps.socket, 'GET', '/healthz').catch((err: Error) => ({ status: 0, body: err.message }));
    if (health.status !== 200) throw new Error(`agent #${inc.n} logged its start but /healthz answered ${health.status} ${JSON.stringify(health.body)}; its log:\n${inc.lines.join('\n')}`);
    inc.readyAt = now();
  }

  /** Starts agents until one is ready (systemd keeps restarting one that dies at start-up; after 5 in a row the storm fails). */
  async function startUntilReady(): Promise<void> {
    for (let tries = 1; ; tries++) {
      const inc = spawnAgent();
      try {
        await waitReady(inc);
        current = inc;
        isUp = true;
        return;
      } catch (err) {
        if (!(err instanceof AgentDied) || tries >= 5) {
          inc.proc.kill('SIGKILL');
          throw err instanceof AgentDied ? new Error(`${err.message} (${tries} start-ups in a row)`) : err;
        }
        stats.unexpectedExits++;
        deps.unexpected(err.message);
        await delay(rng.between(o.restartDelayMs[0], o.restartDelayMs[1]));
      }
    }
  }

  return {
    up: () => isUp,
    logs: (): IncarnationLog[] => incarnations.map((i) => ({ n: i.n, startedAt: i.startedAt, readyAt: i.readyAt, end: i.end, lines: [...i.lines] })),
    start: startUntilReady,
    /** Kills and restarts until the storm stops; a restart in progress is finished, so the agent is up afterwards. */
    async run(): Promise<void> {
      while (!deps.stop.aborted) {
        const inc = current!;
        const uptime = rng.between(o.killEveryMs[0], o.killEveryMs[1]);
        // The uptime timer is cut short by the end of the storm; if the agent dies first, the timer runs out unused.
        const what = await Promise.race([
          delay(uptime, undefined, { signal: deps.stop }).then(() => 'kill' as const, () => 'stop' as const),
          inc.exited.then(() => 'exited' as const),
        ]);
        if (what === 'stop' || (what === 'kill' && deps.stop.aborted)) break;
        let from: number;
        isUp = false;
        if (what === 'kill') {
          from = now();
          inc.killed = true;
          inc.proc.kill('SIGKILL');
          await inc.exited;
          stats.kills++;
        } else {
          from = inc.endedAt ?? now();
          stats.unexpectedExits++;
          deps.unexpected(`agent #${inc.n} ended by itself (${inc.end}) after ${fmtS(from - (inc.readyAt ?? inc.startedAt))} up; last lines:\n${inc.lines.slice(-15).join('\n')}`);
        }
        const window = { from, to: undefined as number | undefined };
        deps.downWindows.push(window);
        await delay(rng.between(o.restartDelayMs[0], o.restartDelayMs[1]));
        await startUntilReady();
        window.to = current!.readyAt;
      }
    },
    /** SIGTERM, as `systemctl stop` would; SIGKILL after 30 s. Returns how it ended. */
    async shutdown(): Promise<string> {
      isUp = false;
      process.off('exit', killOnExit);
      const inc = current;
      if (!inc) return 'never started';
      if (inc.end === undefined) {
        inc.proc.kill('SIGTERM');
        const timer = new AbortController();
        const done = await Promise.race([inc.exited.then(() => true), delay(30_000, undefined, { signal: timer.signal }).then(() => false, () => false)]);
        timer.abort();
        if (!done) {
          inc.proc.kill('SIGKILL');
          await inc.exited;
          return `did not exit within 30 s of SIGTERM (killed)`;
        }
        return inc.end === 'exit 0' ? 'exit 0 (stopped)' : `${inc.end} on SIGTERM`;
      }
      return `${inc.end} before the end`;
    },
  };
}

class AgentDied extends Error {
  constructor(inc: Incarnation) {
    super(`agent #${inc.n} ended during start-up (${inc.end}); its log:\n${inc.lines.join('\n')}`);
  }
}

// ---- checks and plumbing ----

/** Oracle d: the state file is sound and holds no IP twice. */
function checkStateFile(path: string, fail: (message: string) => void): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') fail(`PRAGMA integrity_check: ${String(integrity)}`);
    const dupes = db.prepare('SELECT ip, COUNT(*) AS n FROM allocations GROUP BY ip HAVING COUNT(*) > 1').all() as Array<{ ip: string; n: number }>;
    for (const d of dupes) fail(`${d.ip} has ${d.n} rows in the allocations table`);
  } catch (err) {
    fail(`reading ${path}: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}

function getAllocations(socket: string, timeoutMs: number): Promise<AllocationRow[]> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'GET', path: '/v1/allocations', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          const body = JSON.parse(Buffer.concat(chunks).toString()) as Array<{ ip: string; containerId: string }>;
          resolve(body.map((r) => ({ ip: r.ip, containerId: r.containerId })));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function run(cmd: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** The bridge, and any host-side veth still attached (their namespaces are gone, so they are on their way out too). */
async function removeBridge(bridge: string): Promise<void> {
  const attached = await run('ip', ['-o', 'link', 'show', 'master', bridge]).catch(() => ({ stdout: '' }));
  for (const m of attached.stdout.matchAll(/^\d+: ([^:@]+)[@:]/gm)) await run('ip', ['link', 'del', m[1]!]).catch(() => undefined);
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
}

function fmtS(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function formatSummary(r: StormResult, marks: { stormEndedAt: number; drainStartedAt: number }): string {
  const o = r.options;
  const s = r.stats;
  const latencies = r.leaks.flatMap((l) => (l.latencyMs === undefined ? [] : [l.latencyMs])).sort((a, b) => a - b);
  const lat = (p: number) => {
    const v = percentile(latencies, p);
    return v === undefined ? '-' : fmtS(v);
  };
  const down = r.downWindows.map((w) => w.to - w.from).sort((a, b) => a - b);
  const downTotal = down.reduce((a, b) => a + b, 0);
  const causes = new Map<string, number>();
  for (const l of r.leaks) causes.set(l.cause, (causes.get(l.cause) ?? 0) + 1);
  const lines = [
    `standalone restart storm: seed ${r.seed}, ${o.workers} workers, pool of ${o.poolSize} IPv4, lost DEL ${o.lostDelRatio}, kill every ${fmtS(o.killEveryMs[0])}-${fmtS(o.killEveryMs[1])}, ` +
      `gc interval ${fmtS(o.gcIntervalMs)} grace ${fmtS(o.gcGraceMs)}`,
    `  time: storm ${fmtS(marks.stormEndedAt)}, drain from t+${fmtS(marks.drainStartedAt)}, total ${fmtS(r.elapsedMs)}`,
    `  pods: ${s.podsStarted} started, ${s.podsRan} ran, ${s.gaveUp} gave up, ${s.abandonedAtStop} abandoned at the stop; ADD attempts ${s.addAttempts}, failed ${s.addFailures}, retries ${s.retries}`,
  ];
  for (const [k, n] of [...r.addFailuresByReason].sort((a, b) => b[1] - a[1])) lines.push(`    ADD failed ${n}x: ${k}`);
  lines.push(`  DEL: ${s.dels} calls, ${s.delWarnings} with the agent unreachable (exit 0, warning), ${s.delFailures} failed; ${s.lostDels} lost on purpose`);
  for (const [k, n] of [...r.delFailuresByReason].sort((a, b) => b[1] - a[1])) lines.push(`    DEL failed ${n}x: ${k}`);
  lines.push(
    `  agent: ${s.kills} kills, ${s.unexpectedExits} unexpected exits, down ${fmtS(downTotal)} in total (per restart p50 ${down.length ? fmtS(percentile(down, 50)!) : '-'}, max ${down.length ? fmtS(down[down.length - 1]!) : '-'})`,
    `  leaks: ${r.leaks.length} (${[...causes].map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}); reclaimed ${latencies.length}; latency p50 ${lat(50)} p99 ${lat(99)} max ${lat(100)}; ` +
      `allowance ${fmtS(reclaimAllowanceMs(o))} + overlapping down time`,
    `  allocation reads: ${s.polls} (${s.pollErrors} failed), peak ${s.peakAllocations} allocated of ${o.poolSize}; left at the end: ${r.leftAtEnd.length}`,
  );
  const oracles: StormOracle[] = ['unique-ip', 'live-ip-kept', 'gave-up', 'reclaim-bound', 'drain', 'state-file', 'agent-exit'];
  lines.push(`  violations: ${r.violations.length === 0 ? 'none' : oracles.map((k) => `${k} ${r.of(k).length}`).join(', ')}`);
  for (const k of oracles) {
    const vs = r.of(k);
    for (const v of vs.slice(0, 20)) lines.push(`    [${k}] t+${fmtS(v.at)} ${v.message}`);
    if (vs.length > 20) lines.push(`    [${k}] ... ${vs.length - 20} more`);
  }
  return lines.join('\n');
}
