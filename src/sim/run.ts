import { createHash } from 'node:crypto';
import type { GcReconcilerDeps } from '../controller/gc.ts';
import type { ReclaimReason } from '../ipam/gc-rules.ts';
import { planPool } from '../ipam/pool.ts';
import type { KubeObject } from '../k8s/rest.ts';
import { createSimApiServer, type ApiStats } from './api-server.ts';
import { createChecker, type Violation } from './invariants.ts';
import type { Plant } from './plant.ts';
import { createRng } from './rng.ts';
import { createScheduler } from './scheduler.ts';
import type { Scenario } from './scenario.ts';
import { KUBEVIRT_KINDS, type VmStats } from './virtual-machines.ts';
import { createWorld } from './world.ts';

/** Where every simulation starts: a fixed instant, so traces read the same on every machine. */
export const SIM_EPOCH = Date.UTC(2026, 0, 1);

export interface PoolSample {
  readonly at: number;
  readonly pool: string;
  readonly allocated: number;
  readonly free: number;
  readonly leaked: number;
}

/** ADDs that failed with one code and one message. */
export interface FailedAdds {
  readonly code: string;
  readonly message: string;
  readonly count: number;
}

export interface ReclaimSample {
  readonly at: number;
  readonly reason: ReclaimReason;
  readonly latencyMs: number;
}

export interface SimResult {
  readonly seed: number;
  readonly scenario: string;
  /** The planted bug's name, if one was planted. */
  readonly plant: string | undefined;
  readonly violations: readonly Violation[];
  /** The trace lines that matter for the first violation (or the last lines when there is none). */
  readonly trace: readonly string[];
  readonly virtualMs: number;
  readonly steps: number;
  readonly realMs: number;
  readonly allocations: number;
  readonly delReleases: number;
  /** Failed ADDs by code and message, most frequent first. */
  readonly failedAdds: readonly FailedAdds[];
  readonly reclaims: readonly ReclaimSample[];
  readonly peakLeaked: number;
  readonly longestLeakMs: number;
  readonly samples: readonly PoolSample[];
  readonly api: ApiStats;
  readonly leakBoundMs: number;
  /** SHA-256 of the whole trace: equal digests mean the runs took the same steps. */
  readonly digest: string;
  /** Launcher pods, live migrations and restarts of the scenario's VMs; absent when it has none. */
  readonly vms?: VmStats;
}

export interface SimOptions {
  readonly scenario: Scenario;
  readonly seed: number;
  /** A known bug to plant (test/sim/plants.ts). */
  readonly plant?: Plant;
  /** Stop at the first violation (the default); a report run goes on to the end. */
  readonly stopOnViolation?: boolean;
  /** Called now and then with the share of virtual time done. */
  readonly onProgress?: (done: number) => void;
  /** Trace lines kept in memory (a ring). */
  readonly traceLimit?: number;
}

const fmtTime = (ms: number) => `${(ms / 1000).toFixed(3).padStart(9)}s`;

/**
 * Runs one seeded simulation of `scenario` to its end (or its first
 * violation): the real agent, controller and store code against the
 * simulated API server, kubelets and faults, all in virtual time. The same
 * scenario, seed and plant give the same result, step for step.
 */
export async function runSimulation(opts: SimOptions): Promise<SimResult> {
  const started = performance.now();
  const { scenario, seed } = opts;
  const stopOnViolation = opts.stopOnViolation ?? true;
  const plant = opts.plant;
  const sched = createScheduler(SIM_EPOCH);
  const rng = createRng(seed);
  // KubeVirt's kinds only with VMs: without them the controller finds no VirtualMachines served, as in a cluster without KubeVirt.
  const hasVms = scenario.workloads.some((w) => w.kind === 'VirtualMachine');
  const api = createSimApiServer({ sched, rng, ...(hasVms ? { kinds: KUBEVIRT_KINDS } : {}) });
  const traceLimit = opts.traceLimit ?? 4_000;
  const ring: string[] = [];
  const digest = createHash('sha256');
  const trace = (line: string) => {
    const stamped = `${fmtTime(sched.now - SIM_EPOCH)}  ${line}`;
    digest.update(stamped + '\n');
    ring.push(stamped);
    if (ring.length > traceLimit) ring.splice(0, ring.length - traceLimit);
  };
  const violations: Violation[] = [];
  const failedAdds = new Map<string, { code: string; message: string; count: number }>();
  const reclaims: ReclaimSample[] = [];
  let allocations = 0;
  let delReleases = 0;
  let checker: ReturnType<typeof createChecker> | undefined;
  let fatal: unknown;
  const note = (found: Violation[]) => {
    for (const v of found) {
      violations.push(v);
      trace(`VIOLATION ${v.invariant}: ${v.message}`);
    }
  };
  const observeGc = (deps: GcReconcilerDeps): GcReconcilerDeps => {
    const planted = plant?.gc ? plant.gc(deps) : deps;
    const metrics = planted.metrics;
    return {
      ...planted,
      metrics: metrics && {
        ...metrics,
        reclaimed(reason, seconds) {
          metrics.reclaimed(reason, seconds);
          reclaims.push({ at: sched.now - SIM_EPOCH, reason, latencyMs: seconds * 1000 });
          trace(`garbage collector reclaimed an IP: ${reason} after ${Math.round(seconds * 1000)} ms`);
        },
      },
    };
  };
  const world = createWorld({
    scenario,
    api,
    sched,
    rng,
    agentStore: plant?.agentStore,
    agentPolicy: plant?.agentPolicy,
    adjustGc: observeGc,
    observer: {
      trace,
      addDone(sb, ips, startedAt) {
        allocations += ips.length;
        if (checker) note(checker.handout(sb, ips, startedAt));
      },
      addFailed(code, message) {
        const key = `${code}\u0000${message}`;
        const seen = failedAdds.get(key);
        if (seen) seen.count++;
        else failedAdds.set(key, { code, message, count: 1 });
      },
      delDone(released) {
        delReleases += released;
      },
      fatal(err) {
        fatal ??= err;
      },
    },
  });
  checker = createChecker({ scenario, api, world, now: () => sched.now });

  // Record writes of IPAllocations: the trace shows who got and who lost each IP.
  api.store.watch(api.kind('ipallocations'), { fields: [] }, {
    write(line) {
      const e = JSON.parse(line) as { type: string; object: KubeObject & { spec?: { pool?: string; ip?: string; owner?: { podNamespace?: string; podName?: string; podUid?: string; containerId?: string } } } };
      const s = e.object.spec;
      const o = s?.owner;
      trace(`record ${s?.pool}/${s?.ip} ${e.type === 'DELETED' ? 'deleted' : o ? `held by ${o.podNamespace}/${o.podName} uid ${(o.podUid ?? '').slice(0, 8)} cid ${(o.containerId ?? '').slice(0, 8)}` : 'free'}`);
    },
  }, { bookmarks: false });

  await world.start();
  world.runScript();
  const samples: PoolSample[] = [];
  const sample = () => {
    const leaked = checker!.leakedByPool();
    const held = new Map<string, number>();
    for (const a of api.objects('ipallocations') as Iterable<KubeObject & { spec?: { pool?: string; owner?: unknown } }>) if (a.spec?.owner) held.set(a.spec.pool ?? '', (held.get(a.spec.pool ?? '') ?? 0) + 1);
    for (const p of api.objects('ippools')) {
      const name = p.metadata.name ?? '';
      let size = 0;
      try {
        size = Number(planPool(p).total);
      } catch {
        size = 0;
      }
      const allocated = held.get(name) ?? 0;
      samples.push({ at: sched.now - SIM_EPOCH, pool: name, allocated, free: Math.max(0, size - allocated), leaked: leaked.get(name) ?? 0 });
    }
  };
  let nextSample = sched.now;
  const chaosEnd = SIM_EPOCH + scenario.durationMs;
  const end = chaosEnd + scenario.settleMs;
  let healed = false;
  let lastRv = -1;
  let progressAt = 0;
  for (;;) {
    const until = Math.min(healed ? end : chaosEnd, nextSample);
    if (!(await sched.step(until))) {
      sched.advanceTo(until);
      if (until === nextSample) {
        sample();
        nextSample += scenario.sampleEveryMs;
      }
      if (!healed && sched.now >= chaosEnd) {
        healed = true;
        world.heal();
      } else if (healed && sched.now >= end) break;
      continue;
    }
    // Checking costs a pass over the records: only when something was written.
    const rv = api.store.resourceVersion;
    if (rv !== lastRv || sched.steps % 16 === 0) {
      lastRv = rv;
      note(checker.afterStep());
    }
    if (fatal !== undefined) throw fatal;
    if (stopOnViolation && violations.length > 0) break;
    if (opts.onProgress && sched.steps - progressAt >= 2_000) {
      progressAt = sched.steps;
      opts.onProgress((sched.now - SIM_EPOCH) / (end - SIM_EPOCH));
    }
  }
  if (!(stopOnViolation && violations.length > 0)) note(checker.final());
  opts.onProgress?.(1);
  // Everything still scheduled belongs to this run only; dropping the scheduler ends it.
  return {
    seed,
    scenario: scenario.name,
    plant: plant?.name,
    violations,
    trace: planTraceExcerpt(ring, violations[0]),
    virtualMs: sched.now - SIM_EPOCH,
    steps: sched.steps,
    realMs: performance.now() - started,
    allocations,
    delReleases,
    failedAdds: [...failedAdds.values()].sort((a, b) => b.count - a.count || (a.code < b.code ? -1 : a.code > b.code ? 1 : a.message < b.message ? -1 : 1)),
    reclaims,
    peakLeaked: checker.peakLeaked,
    longestLeakMs: checker.longestLeakMs,
    samples,
    api: { ...api.stats },
    leakBoundMs: checker.bound,
    digest: digest.digest('hex'),
    ...(world.vmStats ? { vms: { ...world.vmStats } } : {}),
  };
}

/** The lines about the violation's IPs and pods (the last 60), then the last 20 lines overall. */
export function planTraceExcerpt(ring: readonly string[], v: Violation | undefined): string[] {
  if (!v) return ring.slice(-40);
  const subjects = v.subjects.flatMap((s) => [s, s.includes('/') ? s.slice(s.indexOf('/') + 1) : s]).filter((s) => s.length > 3);
  const related = ring.filter((l) => subjects.some((s) => l.includes(s)) || /killed|controller|dropped|down|deleted \(/.test(l));
  return [...related.slice(-60), '…', ...ring.slice(-20)];
}
