import { parse as parseYaml } from 'yaml';
import { TIDEPOOL_API_VERSION } from '../api/crd-schemas.ts';
import { TidepoolError } from '../ipam/errors.ts';
import { planPools } from '../ipam/pool.ts';
import { describeValue, isRecord } from '../ipam/values.ts';
import { parseDuration } from '../util/duration.ts';
import type { Rng } from './rng.ts';

/** `VirtualMachine`: one KubeVirt VM (a VirtualMachine, its VirtualMachineInstance and virt-launcher pods). */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'Job' | 'Pod' | 'VirtualMachine';

/** Events per minute of virtual time for each kind of churn. */
export interface Churn {
  readonly scale: number;
  readonly restart: number;
  readonly evict: number;
  readonly delete: number;
  /** VirtualMachines only: live migrations to another node. */
  readonly migrate: number;
}

export interface WorkloadSpec {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly namespace: string;
  readonly replicas: number;
  /** Scaling draws replica counts from this range. */
  readonly replicasRange: readonly [number, number];
  /** 1 = eth0 only; 2 adds net1 (multi-NIC, through the `ipam.tidepool.dev/ippools` annotation). */
  readonly interfaces: number;
  /** Pools per family for eth0 (and net1); default: the cluster's default pools. */
  readonly pools: { readonly ipv4?: readonly string[]; readonly ipv6?: readonly string[] } | undefined;
  readonly churn: Churn;
  /** Jobs: how long a pod runs before it finishes. */
  readonly runMs: readonly [number, number];
  /** Jobs: share of pods that fail instead of succeeding. */
  readonly failRate: number;
  /** VirtualMachines: share of live migrations that fail (the target goes, the source runs on). */
  readonly migrationFailRate: number;
  /** VirtualMachines: how long a migration's target runs beside its source before the migration ends. */
  readonly migrationMs: readonly [number, number];
}

export interface PoolSpec {
  readonly name: string;
  readonly subnet: string;
  readonly ips?: readonly string[];
  readonly excludeIPs?: readonly string[];
  readonly gateway?: string;
  readonly default?: boolean;
}

/** Fault rates: `…PerMin` are events per minute of virtual time, the rest are shares of calls or events. */
export interface FaultSpec {
  readonly agentKillPerMin: number;
  readonly agentKillDuringCall: number;
  readonly delLost: number;
  readonly delLate: number;
  readonly controllerKillPerMin: number;
  readonly watchDelay: number;
  readonly watchDelayMaxMs: number;
  readonly watchDropPerMin: number;
  readonly apiError: number;
  readonly apiTimeout: number;
  readonly apiConflict: number;
  /** Share of API answers held back by up to `apiSlowMaxMs`. */
  readonly apiSlow: number;
  readonly apiSlowMaxMs: number;
  readonly nodeNotReadyPerMin: number;
  readonly nodeDeletePerMin: number;
  readonly poolEditPerMin: number;
  readonly sandboxRestartPerMin: number;
  readonly namespaceDeletePerMin: number;
}

export interface GcSpec {
  readonly scanIntervalMs: number;
  readonly orphanConfirmMs: number;
  readonly reclaimCooldownMs: number;
  readonly terminatingDelayMs: number;
  readonly finishedDelayMs: number;
}

/** A timed step of a scripted scenario; `workload` is a name or `*` for all. */
export type ScriptStep =
  /** Scales every matching workload but VirtualMachines, which have no replicas. */
  | { readonly atMs: number; readonly action: 'scale'; readonly workload: string; readonly replicas: number }
  | { readonly atMs: number; readonly action: 'delete-pods'; readonly workload: string }
  | { readonly atMs: number; readonly action: 'delete-workloads'; readonly workload: string };

/** Everything one simulation run needs besides its seed. */
export interface Scenario {
  readonly name: string;
  readonly durationMs: number;
  /** Virtual time after `durationMs` with churn and faults off, before the final checks. */
  readonly settleMs: number;
  readonly nodes: number;
  readonly controllers: number;
  readonly pools: readonly PoolSpec[];
  readonly workloads: readonly WorkloadSpec[];
  readonly faults: FaultSpec;
  readonly gc: GcSpec;
  readonly script: readonly ScriptStep[];
  /** How often the report samples pool usage. */
  readonly sampleEveryMs: number;
}

export const NO_CHURN: Churn = { scale: 0, restart: 0, evict: 0, delete: 0, migrate: 0 };

export const NO_FAULT_RATES: FaultSpec = {
  agentKillPerMin: 0,
  agentKillDuringCall: 0,
  delLost: 0,
  delLate: 0,
  controllerKillPerMin: 0,
  watchDelay: 0,
  watchDelayMaxMs: 0,
  watchDropPerMin: 0,
  apiError: 0,
  apiTimeout: 0,
  apiConflict: 0,
  apiSlow: 0,
  apiSlowMaxMs: 0,
  nodeNotReadyPerMin: 0,
  nodeDeletePerMin: 0,
  poolEditPerMin: 0,
  sandboxRestartPerMin: 0,
  namespaceDeletePerMin: 0,
};

export const DEFAULT_GC_SPEC: GcSpec = { scanIntervalMs: 60_000, orphanConfirmMs: 60_000, reclaimCooldownMs: 3_000, terminatingDelayMs: 0, finishedDelayMs: 0 };

/** The IPPool object a scenario's pool becomes. */
export function toPoolObject(p: PoolSpec): { apiVersion: string; kind: 'IPPool'; metadata: { name: string }; spec: Record<string, unknown> } {
  const spec: Record<string, unknown> = { subnet: p.subnet };
  if (p.ips) spec['ips'] = [...p.ips];
  if (p.excludeIPs) spec['excludeIPs'] = [...p.excludeIPs];
  if (p.gateway) spec['gateway'] = p.gateway;
  if (p.default) spec['default'] = true;
  return { apiVersion: TIDEPOOL_API_VERSION, kind: 'IPPool', metadata: { name: p.name }, spec };
}

// ---- parsing ------------------------------------------------------------------

function invalid(where: string, message: string): TidepoolError {
  return new TidepoolError('INVALID_CONFIG', `${where}: ${message}`, { field: where });
}

type Obj = Record<string, unknown>;

function only(obj: Obj, where: string, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) throw invalid(where ? `${where}.${k}` : k, `unknown field (known: ${keys.join(', ')})`);
}

function int(v: unknown, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(where, `must be an integer from ${min} to ${max}, got ${describeValue(v)}`);
  return v;
}

function share(v: unknown, where: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalid(where, `must be a share from 0 to 1, got ${describeValue(v)}`);
  return v;
}

/** `2/m`, `30/h`, `0.5/s`, or a plain number (per minute). */
function perMin(v: unknown, where: string): number {
  if (typeof v === 'number' && v >= 0 && Number.isFinite(v)) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\/(s|m|h)$/.exec(v.trim()) : null;
  if (!m) throw invalid(where, `must be a rate like 2/m, 30/h or 0.5/s (or a number per minute), got ${describeValue(v)}`);
  return Number(m[1]) * { s: 60, m: 1, h: 1 / 60 }[m[2] as 's' | 'm' | 'h'];
}

function duration(v: unknown, where: string): number {
  if (typeof v === 'number' && v >= 0) return v * 1000;
  if (typeof v !== 'string') throw invalid(where, `must be a duration like 30s or 5m, got ${describeValue(v)}`);
  return parseDuration(v, where);
}

function durationRange(v: unknown, where: string): [number, number] {
  if (typeof v === 'string' && v.includes('-')) {
    const [a, b] = v.split('-');
    const lo = duration(a, where);
    const hi = duration(b, where);
    if (hi < lo) throw invalid(where, `the range ${v} ends before it starts`);
    return [lo, hi];
  }
  const d = duration(v, where);
  return [d, d];
}

function name(v: unknown, where: string): string {
  if (typeof v !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) || v.length > 40)
    throw invalid(where, `must be a lowercase DNS label of at most 40 characters, got ${describeValue(v)}`);
  return v;
}

function strings(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(where, `must be a list of strings, got ${describeValue(v)}`);
  return v as string[];
}

const WORKLOAD_KINDS: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'Job', 'Pod', 'VirtualMachine'];

function parseWorkload(v: unknown, where: string, poolNames: ReadonlySet<string>): WorkloadSpec {
  if (!isRecord(v)) throw invalid(where, `must be a mapping, got ${describeValue(v)}`);
  only(v, where, ['kind', 'name', 'namespace', 'replicas', 'replicasRange', 'interfaces', 'pools', 'churn', 'runFor', 'failRate', 'migrationFailRate', 'migrationTime']);
  const kind = v['kind'];
  if (!WORKLOAD_KINDS.includes(kind as WorkloadKind)) throw invalid(`${where}.kind`, `must be one of ${WORKLOAD_KINDS.join(', ')}, got ${describeValue(kind)}`);
  const vm = kind === 'VirtualMachine';
  // One VM per workload: `count` makes many; a VM has no replicas to scale.
  for (const field of ['replicas', 'replicasRange'] as const) if (vm && v[field] !== undefined) throw invalid(`${where}.${field}`, 'does not apply to a VirtualMachine (one VM per workload; use count for more)');
  for (const field of ['migrationFailRate', 'migrationTime'] as const) if (!vm && v[field] !== undefined) throw invalid(`${where}.${field}`, 'applies to VirtualMachines only');
  const replicas = int(v['replicas'] ?? 1, `${where}.replicas`, 0, 5000);
  let range: [number, number] = [replicas, replicas];
  if (v['replicasRange'] !== undefined) {
    const r = v['replicasRange'];
    if (!Array.isArray(r) || r.length !== 2) throw invalid(`${where}.replicasRange`, `must be [min, max], got ${describeValue(r)}`);
    range = [int(r[0], `${where}.replicasRange[0]`, 0, 5000), int(r[1], `${where}.replicasRange[1]`, 0, 5000)];
    if (range[1] < range[0]) throw invalid(`${where}.replicasRange`, `max ${range[1]} is below min ${range[0]}`);
  }
  let pools: WorkloadSpec['pools'];
  if (v['pools'] !== undefined) {
    const p = v['pools'];
    if (!isRecord(p)) throw invalid(`${where}.pools`, `must be a mapping with ipv4 and/or ipv6 lists, got ${describeValue(p)}`);
    only(p, `${where}.pools`, ['ipv4', 'ipv6']);
    const out: { ipv4?: string[]; ipv6?: string[] } = {};
    for (const fam of ['ipv4', 'ipv6'] as const) {
      if (p[fam] === undefined) continue;
      const list = strings(p[fam], `${where}.pools.${fam}`);
      for (const [i, n] of list.entries()) if (!poolNames.has(n)) throw invalid(`${where}.pools.${fam}[${i}]`, `pool "${n}" is not defined under pools`);
      out[fam] = list;
    }
    pools = out;
  }
  const c = v['churn'] ?? {};
  if (!isRecord(c)) throw invalid(`${where}.churn`, `must be a mapping, got ${describeValue(c)}`);
  only(c, `${where}.churn`, ['scale', 'restart', 'evict', 'delete', 'migrate']);
  for (const k of vm ? ['scale', 'evict'] : ['migrate']) {
    if (c[k] !== undefined) throw invalid(`${where}.churn.${k}`, vm ? 'does not apply to a VirtualMachine (its churn: restart, delete, migrate)' : 'applies to VirtualMachines only');
  }
  const churn: Churn = {
    scale: c['scale'] === undefined ? 0 : perMin(c['scale'], `${where}.churn.scale`),
    restart: c['restart'] === undefined ? 0 : perMin(c['restart'], `${where}.churn.restart`),
    evict: c['evict'] === undefined ? 0 : perMin(c['evict'], `${where}.churn.evict`),
    delete: c['delete'] === undefined ? 0 : perMin(c['delete'], `${where}.churn.delete`),
    migrate: c['migrate'] === undefined ? 0 : perMin(c['migrate'], `${where}.churn.migrate`),
  };
  if (kind !== 'Job' && (v['runFor'] !== undefined || v['failRate'] !== undefined)) throw invalid(`${where}.${v['runFor'] !== undefined ? 'runFor' : 'failRate'}`, 'applies to Jobs only');
  return {
    kind: kind as WorkloadKind,
    name: name(v['name'], `${where}.name`),
    namespace: v['namespace'] === undefined ? 'default' : name(v['namespace'], `${where}.namespace`),
    replicas,
    replicasRange: range,
    interfaces: int(v['interfaces'] ?? 1, `${where}.interfaces`, 1, 2),
    pools,
    churn,
    runMs: v['runFor'] === undefined ? [30_000, 120_000] : durationRange(v['runFor'], `${where}.runFor`),
    failRate: v['failRate'] === undefined ? 0.1 : share(v['failRate'], `${where}.failRate`),
    migrationFailRate: v['migrationFailRate'] === undefined ? 0.1 : share(v['migrationFailRate'], `${where}.migrationFailRate`),
    migrationMs: v['migrationTime'] === undefined ? [5_000, 30_000] : durationRange(v['migrationTime'], `${where}.migrationTime`),
  };
}

const FAULT_FIELDS: Record<string, { key: keyof FaultSpec; kind: 'rate' | 'share' | 'duration' }> = {
  agentKill: { key: 'agentKillPerMin', kind: 'rate' },
  agentKillDuringCall: { key: 'agentKillDuringCall', kind: 'share' },
  delLost: { key: 'delLost', kind: 'share' },
  delLate: { key: 'delLate', kind: 'share' },
  controllerKill: { key: 'controllerKillPerMin', kind: 'rate' },
  watchDelay: { key: 'watchDelay', kind: 'share' },
  watchDelayMax: { key: 'watchDelayMaxMs', kind: 'duration' },
  watchDrop: { key: 'watchDropPerMin', kind: 'rate' },
  apiError: { key: 'apiError', kind: 'share' },
  apiTimeout: { key: 'apiTimeout', kind: 'share' },
  apiConflict: { key: 'apiConflict', kind: 'share' },
  apiSlow: { key: 'apiSlow', kind: 'share' },
  apiSlowMax: { key: 'apiSlowMaxMs', kind: 'duration' },
  nodeNotReady: { key: 'nodeNotReadyPerMin', kind: 'rate' },
  nodeDelete: { key: 'nodeDeletePerMin', kind: 'rate' },
  poolEdit: { key: 'poolEditPerMin', kind: 'rate' },
  sandboxRestart: { key: 'sandboxRestartPerMin', kind: 'rate' },
  namespaceDelete: { key: 'namespaceDeletePerMin', kind: 'rate' },
};

const GC_FIELDS: Record<string, keyof GcSpec> = {
  scanInterval: 'scanIntervalMs',
  orphanConfirm: 'orphanConfirmMs',
  reclaimCooldown: 'reclaimCooldownMs',
  terminatingDelay: 'terminatingDelayMs',
  finishedDelay: 'finishedDelayMs',
};

function parseScript(v: unknown, workloads: ReadonlyMap<string, WorkloadKind>): ScriptStep[] {
  if (!Array.isArray(v)) throw invalid('script', `must be a list of steps, got ${describeValue(v)}`);
  return v.map((step, i): ScriptStep => {
    const where = `script[${i}]`;
    if (!isRecord(step)) throw invalid(where, `must be a mapping, got ${describeValue(step)}`);
    only(step, where, ['at', 'scale', 'deletePods', 'deleteWorkloads']);
    const atMs = duration(step['at'], `${where}.at`);
    const target = (w: unknown, field: string): string => {
      if (w !== '*' && !workloads.has(String(w))) throw invalid(`${where}.${field}`, `no workload named ${describeValue(w)} (use a workload name or "*")`);
      return String(w);
    };
    const actions = ['scale', 'deletePods', 'deleteWorkloads'].filter((k) => step[k] !== undefined);
    if (actions.length !== 1) throw invalid(where, 'needs exactly one of scale, deletePods, deleteWorkloads');
    if (step['scale'] !== undefined) {
      const s = step['scale'];
      if (!isRecord(s)) throw invalid(`${where}.scale`, `must be {workload, replicas}, got ${describeValue(s)}`);
      only(s, `${where}.scale`, ['workload', 'replicas']);
      if (workloads.get(String(s['workload'])) === 'VirtualMachine') throw invalid(`${where}.scale.workload`, `${describeValue(s['workload'])} is a VirtualMachine, which has no replicas to scale`);
      return { atMs, action: 'scale', workload: target(s['workload'], 'scale.workload'), replicas: int(s['replicas'], `${where}.scale.replicas`, 0, 5000) };
    }
    if (step['deletePods'] !== undefined) return { atMs, action: 'delete-pods', workload: target(step['deletePods'], 'deletePods') };
    return { atMs, action: 'delete-workloads', workload: target(step['deleteWorkloads'], 'deleteWorkloads') };
  });
}

/** Expands `count` into that many copies named `<name>-<i>`: Spiderpool's test has 100 Deployments. */
function expandCount(list: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const [i, w] of list.entries()) {
    if (!isRecord(w) || w['count'] === undefined) {
      out.push(w);
      continue;
    }
    const count = int(w['count'], `workloads[${i}].count`, 1, 1000);
    const { count: _c, ...rest } = w;
    for (let k = 0; k < count; k++) out.push({ ...rest, name: `${String(rest['name'])}-${k}` });
  }
  return out;
}

/**
 * Parses and checks a scenario document. Every error names the field
 * (`workloads[2].replicas: must be an integer …`); nothing is defaulted
 * silently except what docs/simulate.md lists.
 */
export function parseScenario(text: string, file = 'scenario'): Scenario {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `${file}: not valid YAML: ${(err as Error).message}`, { field: file });
  }
  if (!isRecord(doc)) throw invalid(file, `must be a mapping, got ${describeValue(doc)}`);
  only(doc, '', ['name', 'duration', 'settle', 'nodes', 'controllers', 'pools', 'workloads', 'faults', 'gc', 'script', 'sampleEvery']);
  const rawPools = doc['pools'];
  if (!Array.isArray(rawPools) || rawPools.length === 0) throw invalid('pools', 'must list at least one pool');
  const pools: PoolSpec[] = rawPools.map((p, i) => {
    const where = `pools[${i}]`;
    if (!isRecord(p)) throw invalid(where, `must be a mapping, got ${describeValue(p)}`);
    only(p, where, ['name', 'subnet', 'ips', 'excludeIPs', 'gateway', 'default']);
    const out: { -readonly [K in keyof PoolSpec]: PoolSpec[K] } = { name: name(p['name'], `${where}.name`), subnet: String(p['subnet'] ?? '') };
    if (p['ips'] !== undefined) out.ips = strings(p['ips'], `${where}.ips`);
    if (p['excludeIPs'] !== undefined) out.excludeIPs = strings(p['excludeIPs'], `${where}.excludeIPs`);
    if (p['gateway'] !== undefined) out.gateway = String(p['gateway']);
    if (p['default'] !== undefined) {
      if (typeof p['default'] !== 'boolean') throw invalid(`${where}.default`, `must be true or false, got ${describeValue(p['default'])}`);
      out.default = p['default'];
    }
    return out;
  });
  try {
    planPools(pools.map(toPoolObject));
  } catch (err) {
    throw invalid('pools', (err as Error).message);
  }
  const poolNames = new Set(pools.map((p) => p.name));
  const rawWorkloads = doc['workloads'];
  if (!Array.isArray(rawWorkloads) || rawWorkloads.length === 0) throw invalid('workloads', 'must list at least one workload');
  const workloads = expandCount(rawWorkloads).map((w, i) => parseWorkload(w, `workloads[${i}]`, poolNames));
  const seen = new Set<string>();
  for (const [i, w] of workloads.entries()) {
    const key = `${w.namespace}/${w.name}`;
    if (seen.has(key)) throw invalid(`workloads[${i}].name`, `${key} is defined twice`);
    seen.add(key);
  }
  const faultsIn = doc['faults'] ?? {};
  if (!isRecord(faultsIn)) throw invalid('faults', `must be a mapping, got ${describeValue(faultsIn)}`);
  only(faultsIn, 'faults', Object.keys(FAULT_FIELDS));
  const faults: Record<string, number> = { ...NO_FAULT_RATES };
  for (const [k, v] of Object.entries(faultsIn)) {
    const f = FAULT_FIELDS[k]!;
    faults[f.key] = f.kind === 'rate' ? perMin(v, `faults.${k}`) : f.kind === 'share' ? share(v, `faults.${k}`) : duration(v, `faults.${k}`);
  }
  const gcIn = doc['gc'] ?? {};
  if (!isRecord(gcIn)) throw invalid('gc', `must be a mapping, got ${describeValue(gcIn)}`);
  only(gcIn, 'gc', Object.keys(GC_FIELDS));
  const gc: Record<string, number> = { ...DEFAULT_GC_SPEC };
  for (const [k, v] of Object.entries(gcIn)) gc[GC_FIELDS[k]!] = duration(v, `gc.${k}`);
  const scenario: Scenario = {
    name: doc['name'] === undefined ? file : String(doc['name']),
    durationMs: duration(doc['duration'] ?? '10m', 'duration'),
    settleMs: duration(doc['settle'] ?? '5m', 'settle'),
    nodes: int(doc['nodes'] ?? 3, 'nodes', 1, 200),
    controllers: int(doc['controllers'] ?? 2, 'controllers', 1, 5),
    pools,
    workloads,
    faults: faults as unknown as FaultSpec,
    gc: gc as unknown as GcSpec,
    script: doc['script'] === undefined ? [] : parseScript(doc['script'], new Map(workloads.map((w) => [w.name, w.kind]))),
    sampleEveryMs: duration(doc['sampleEvery'] ?? '10s', 'sampleEvery'),
  };
  if (scenario.durationMs <= 0) throw invalid('duration', 'must be longer than 0s');
  if (scenario.sampleEveryMs < 1000) throw invalid('sampleEvery', 'must be at least 1s');
  return scenario;
}

/**
 * A small random cluster for one seed of the CI sweep: 2–4 nodes, tight pools
 * (about as many IPs as pods, so reclaiming gates allocating), a mix of every
 * workload kind, dual-stack and multi-NIC pods, and every fault enabled at a
 * rate high enough to matter in a few virtual minutes. Half the seeds add one
 * to three KubeVirt VMs that migrate (some migrations failing), restart and
 * are deleted.
 */
export function planRandomScenario(rng: Rng, opts: { long?: boolean } = {}): Scenario {
  const nodes = rng.between(2, 4);
  const dual = rng.chance(0.4);
  const pods = rng.between(8, 16);
  const size = pods + rng.between(0, 4);
  const pools: PoolSpec[] = [
    { name: 'lan4', subnet: '10.20.0.0/24', ips: [`10.20.0.10-10.20.0.${9 + size}`], default: true },
    { name: 'aux4', subnet: '10.30.0.0/24', ips: ['10.30.0.10-10.30.0.17'] },
  ];
  if (dual) pools.push({ name: 'lan6', subnet: 'fd00:20::/64', ips: [`fd00:20::10-fd00:20::${(0x10 + size + 3).toString(16)}`], default: true });
  const pick = (p: number) => (rng.chance(p) ? rng.next() * 2 : 0);
  const workload = (kind: WorkloadKind, nm: string, replicas: number, extra: Partial<WorkloadSpec> = {}): WorkloadSpec => ({
    kind,
    name: nm,
    namespace: rng.pick(['default', 'team-a', 'team-b']),
    replicas,
    replicasRange: [Math.max(0, replicas - 2), replicas + 2],
    interfaces: 1,
    pools: undefined,
    churn: { scale: pick(0.7), restart: pick(0.5), evict: pick(0.5), delete: pick(0.3) * 0.3, migrate: 0 },
    runMs: [20_000, 90_000],
    failRate: 0.2,
    migrationFailRate: 0,
    migrationMs: [0, 0],
    ...extra,
  });
  const share = Math.max(1, Math.floor(pods / 4));
  const workloads: WorkloadSpec[] = [
    workload('Deployment', 'web', share),
    workload('StatefulSet', 'db', Math.max(1, share - 1)),
    workload('Job', 'batch', share),
    workload('Pod', 'solo', 1),
  ];
  if (rng.chance(0.5)) workloads.push(workload('Deployment', 'edge', 2, { interfaces: 2, pools: { ipv4: ['aux4'] } }));
  const on = (p: number, v: number) => (rng.chance(p) ? v * (0.5 + rng.next()) : 0);
  const faults: FaultSpec = {
    agentKillPerMin: on(0.6, 0.3),
    agentKillDuringCall: on(0.5, 0.03),
    delLost: on(0.7, 0.15),
    delLate: on(0.6, 0.1),
    controllerKillPerMin: on(0.6, 0.2),
    watchDelay: on(0.5, 0.1),
    watchDelayMaxMs: 3_000,
    watchDropPerMin: on(0.5, 0.5),
    apiError: on(0.4, 0.01),
    apiTimeout: on(0.3, 0.003),
    apiConflict: on(0.4, 0.01),
    apiSlow: on(0.5, 0.05),
    apiSlowMaxMs: 2_000,
    nodeNotReadyPerMin: on(0.3, 0.1),
    nodeDeletePerMin: on(0.2, 0.05),
    poolEditPerMin: on(0.4, 0.3),
    sandboxRestartPerMin: on(0.5, 0.3),
    namespaceDeletePerMin: on(0.2, 0.05),
  };
  // VMs draw from their own fork, taken after every other draw: the rest of the scenario stays what it was for each seed.
  const vmRng = rng.fork('vms');
  if (vmRng.chance(0.5)) {
    const vms = vmRng.between(1, 3);
    for (let i = 0; i < vms; i++) {
      workloads.push({
        kind: 'VirtualMachine',
        name: `vm-${i}`,
        namespace: vmRng.pick(['default', 'team-a', 'virt']),
        replicas: 1,
        replicasRange: [1, 1],
        interfaces: 1,
        pools: undefined,
        churn: { scale: 0, restart: vmRng.next() * 0.5, evict: 0, delete: vmRng.chance(0.5) ? vmRng.next() * 0.2 : 0, migrate: 0.5 + vmRng.next() * 2 },
        runMs: [0, 0],
        failRate: 0,
        migrationFailRate: 0.1 + vmRng.next() * 0.3,
        migrationMs: [2_000, 30_000],
      });
    }
    // Room for the VMs' IPs: a VM holds its IP across restarts and migrations, so the pods' share of the pool stays theirs.
    pools[0] = { ...pools[0]!, ips: [`10.20.0.10-10.20.0.${9 + size + vms}`] };
    if (dual) pools[2] = { ...pools[2]!, ips: [`fd00:20::10-fd00:20::${(0x10 + size + 3 + vms).toString(16)}`] };
  }
  return {
    name: opts.long ? 'random-long' : 'random',
    durationMs: rng.between(3, 6) * 60_000 * (opts.long ? 5 : 1),
    settleMs: 3 * 60_000,
    nodes,
    controllers: 2,
    pools,
    workloads,
    faults,
    gc: { scanIntervalMs: 30_000, orphanConfirmMs: 30_000, reclaimCooldownMs: 3_000, terminatingDelayMs: 0, finishedDelayMs: 0 },
    script: [],
    sampleEveryMs: 10_000,
  };
}
