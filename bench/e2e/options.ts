// Flags of `npm run bench:e2e` and the checks that refuse a run before it
// starts: every message names the flag, the value and why.
import { eachFlag, parseCount, UsageError } from '../flags.ts';
export { UsageError } from '../flags.ts';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLI, PLUGIN_DIR, ROOT } from '../../test/helpers/agent-process.ts';
import { CNI_BIN } from '../../test/helpers/netns.ts';

export const VARIANT_IDS = ['v4-1x', 'v4-2x', 'dual-1x', 'dual-2x'] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

export interface Variant {
  readonly id: VariantId;
  readonly dual: boolean;
  /** IPs per pod in each family's pool: 1 (1:1) or 2 (2x). */
  readonly factor: 1 | 2;
}

export function variantOf(id: VariantId): Variant {
  return { id, dual: id.startsWith('dual'), factor: id.endsWith('2x') ? 2 : 1 };
}

export interface Shape {
  readonly deployments: number;
  readonly replicas: number;
}

export interface Options {
  readonly variants: readonly Variant[];
  readonly shape: Shape;
  readonly nodes: number;
  /** Pool size of a 1:1 variant; 2x variants get twice this. Default: the pod count. */
  readonly ips: number;
  readonly lostDel: number;
  readonly concurrency: number;
  /** kube-controller-manager's client limit, for the ReplicaSet controller and the garbage collector; qps 0: unpaced. */
  readonly controllerQps: { readonly qps: number; readonly burst: number };
  /** The nice value of every node process (agents, runtimes and the plugins they run): the control plane keeps its pace. */
  readonly nodeNice: number;
  readonly phaseTimeoutS: number;
  readonly jsonFile: string | undefined;
  readonly reportDir: string | undefined;
  readonly cpuProf: string | undefined;
}

export const DEFAULTS = { nodes: 10, deployments: 100, replicas: 10, lostDel: 0.1, concurrency: 12, controllerQps: 20, controllerBurst: 30, nodeNice: 10, phaseTimeoutS: 900 } as const;
export const MAX_PODS = 20_000;
// The largest IPv4 pool: 10.96.0.0/12 minus network and broadcast.
export const MAX_POOL_IPS = 2 ** 20 - 2;

export const USAGE = `usage: npm run bench:e2e -- [options]
  --variants LIST     comma-separated, of ${VARIANT_IDS.join(', ')}   default v4-1x
  --shape DxR         D Deployments of R replicas: 100x10 or 1x1000   default 100x10
  --pods N            total pods (keeps R of --shape; N must be a multiple of R)
  --nodes N           simulated nodes, each a real agent process      default ${DEFAULTS.nodes}
  --ips N             IPs per family in a 1:1 pool (2x variants get 2N)  default = pods
  --lost-del F        share of re-creation DELs that are lost (0..1)  default ${DEFAULTS.lostDel}
  --concurrency N     sandbox starts, and teardowns, in flight per node   default ${DEFAULTS.concurrency}
  --controller-qps N  pod creates (ReplicaSet controller) and deletes (garbage collector) per second,
                      kube-controller-manager's --kube-api-qps; 0: unpaced   default ${DEFAULTS.controllerQps}
  --controller-burst N  their --kube-api-burst                        default ${DEFAULTS.controllerBurst}
  --node-nice N       nice value (0-19) of agents, runtimes and plugins: node work cannot slow the
                      control plane, which a cluster runs on its own machines   default ${DEFAULTS.nodeNice}
  --phase-timeout S   a phase that has not finished after S seconds fails  default ${DEFAULTS.phaseTimeoutS}
  --json FILE         every figure, sample and timeline as JSON
  --report DIR        markdown and HTML report                        default bench/out/
  --cpu-prof DIR      CPU profiles of node-0's agent and both controllers during re-creation`;


export function parseShape(raw: string | undefined): Shape {
  if (raw === undefined || raw === '' || raw.startsWith('--')) throw new UsageError('--shape needs a value such as 100x10 or 1x1000 (Deployments x replicas)');
  const m = /^(\d+)x(\d+)$/.exec(raw);
  if (!m) throw new UsageError(`--shape must be DxR (Deployments x replicas), such as 100x10 or 1x1000, got "${raw}"`);
  const deployments = Number(m[1]);
  const replicas = Number(m[2]);
  if (deployments < 1 || replicas < 1) throw new UsageError(`--shape ${raw}: Deployments and replicas must both be at least 1`);
  if (deployments * replicas > MAX_PODS) throw new UsageError(`--shape ${raw} is ${deployments * replicas} pods, more than ${MAX_PODS}: every pod is a network namespace and two plugin runs per phase`);
  return { deployments, replicas };
}

export function parseArgs(argv: readonly string[]): Options {
  let variants: Variant[] = [variantOf('v4-1x')];
  let shape: Shape | undefined;
  let pods: number | undefined;
  let nodes: number = DEFAULTS.nodes;
  let ips: number | undefined;
  let lostDel: number = DEFAULTS.lostDel;
  let concurrency: number = DEFAULTS.concurrency;
  let phaseTimeoutS: number = DEFAULTS.phaseTimeoutS;
  let qps: number = DEFAULTS.controllerQps;
  let burst: number = DEFAULTS.controllerBurst;
  let nodeNice: number = DEFAULTS.nodeNice;
  let jsonFile: string | undefined;
  let reportDir: string | undefined;
  let cpuProf: string | undefined;
  eachFlag(argv, (f) => {
    switch (f.name) {
      case '--variants': {
        const list = f.text(`a comma-separated list of ${VARIANT_IDS.join(', ')}`).split(',').map((s) => s.trim()).filter(Boolean);
        const bad = list.filter((v) => !(VARIANT_IDS as readonly string[]).includes(v));
        if (bad.length > 0) throw new UsageError(`--variants: unknown variant${bad.length > 1 ? 's' : ''} ${bad.map((b) => `"${b}"`).join(', ')}; choose from ${VARIANT_IDS.join(', ')}`);
        if (list.length === 0) throw new UsageError('--variants needs at least one variant');
        variants = [...new Set(list)].map((v) => variantOf(v as VariantId));
        return true;
      }
      case '--shape':
        shape = parseShape(f.value());
        return true;
      case '--pods':
        pods = parseCount('--pods', f.value(), 1, MAX_PODS, 'every pod is a network namespace and two plugin runs per phase');
        return true;
      case '--nodes':
        nodes = parseCount('--nodes', f.value(), 1, 64, 'each node is a real agent process and a veth pair; this machine would measure its own overload');
        return true;
      case '--ips':
        ips = parseCount('--ips', f.value(), 1, MAX_POOL_IPS / 2, 'the IPv4 pools are carved from 10.96.0.0/12');
        return true;
      case '--lost-del': {
        const raw = f.text('a share from 0 to 1, such as 0.1');
        if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(raw)) throw new UsageError(`--lost-del must be a number from 0 to 1 (the share of DELs that are lost), got "${raw}"`);
        lostDel = Number(raw);
        return true;
      }
      case '--concurrency':
        concurrency = parseCount('--concurrency', f.value(), 1, 64, 'kubelet starts far fewer sandboxes at once');
        return true;
      case '--controller-qps':
        qps = parseCount('--controller-qps', f.value(), 0, 100_000, 'no API server takes more');
        return true;
      case '--controller-burst':
        burst = parseCount('--controller-burst', f.value(), 1, 100_000, 'no API server takes more');
        return true;
      case '--node-nice':
        nodeNice = parseCount('--node-nice', f.value(), 0, 19, 'nice values run from 0 (normal) to 19 (lowest)');
        return true;
      case '--phase-timeout':
        phaseTimeoutS = parseCount('--phase-timeout', f.value(), 10, 86_400, 'a day is the longest a phase may run');
        return true;
      case '--json':
        jsonFile = resolve(f.text('a file name'));
        return true;
      case '--report':
        reportDir = resolve(f.text('a directory'));
        return true;
      case '--cpu-prof':
        cpuProf = resolve(f.text('a directory'));
        return true;
      default:
        return false;
    }
  });
  let finalShape = shape ?? { deployments: DEFAULTS.deployments, replicas: DEFAULTS.replicas };
  if (pods !== undefined) {
    const total = finalShape.deployments * finalShape.replicas;
    if (shape && total !== pods) throw new UsageError(`--pods ${pods} disagrees with --shape ${shape.deployments}x${shape.replicas} (${total} pods); give one or make them agree`);
    if (pods % finalShape.replicas !== 0) throw new UsageError(`--pods ${pods} is not a multiple of ${finalShape.replicas} replicas per Deployment; choose a multiple or set --shape`);
    finalShape = { deployments: pods / finalShape.replicas, replicas: finalShape.replicas };
  }
  const total = finalShape.deployments * finalShape.replicas;
  const poolIps = ips ?? total;
  if (poolIps < total) {
    throw new UsageError(`--ips ${poolIps} is less than the ${total} pods (replicas) the pool must serve: the 1:1 variant would have ${poolIps} IPs for ${total} pods and the 2x variant ${2 * poolIps} where ${2 * total} are needed; pods would fail by design, not by tidepool`);
  }
  if (nodes > total) throw new UsageError(`--nodes ${nodes} is more than the ${total} pods: some nodes would run nothing`);
  return { variants, shape: finalShape, nodes, ips: poolIps, lostDel, concurrency, controllerQps: { qps, burst }, nodeNice, phaseTimeoutS, jsonFile, reportDir, cpuProf };
}

export function totalPods(o: Pick<Options, 'shape'>): number {
  return o.shape.deployments * o.shape.replicas;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The open-file limit children inherit from this process. */
function openFileLimit(): number | undefined {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  } catch {
    return undefined;
  }
}

/**
 * Every reason the run cannot happen on this machine, in one list: root,
 * the CNI plugins, the build, and the kernel's limits against what the
 * largest phase holds at once (old and new sandboxes during re-creation).
 */
export function environmentProblems(o: Pick<Options, 'shape' | 'nodes' | 'concurrency'>): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push(`must run as root: it creates network namespaces and veth pairs (uid is ${process.getuid?.()})`);
  for (const p of ['macvlan']) if (!existsSync(join(CNI_BIN, p))) problems.push(`missing ${CNI_BIN}/${p} (apt-get install containernetworking-plugins, or scripts/setup.sh)`);
  for (const f of [CLI, join(PLUGIN_DIR, 'tidepool')]) if (!existsSync(f)) problems.push(`missing ${f}: dist is not built (npm run build; npm run bench:e2e builds first)`);
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    problems.push('the ip command (iproute2) is not available');
  }
  const pods = totalPods(o);
  // Re-creation holds the old pods' sandboxes while the replacements start.
  const needNetns = 2 * pods + 16;
  const maxNetns = readNumber('/proc/sys/user/max_net_namespaces');
  let existing = 0;
  try {
    existing = readdirSync('/var/run/netns').length;
  } catch {
    /* none yet */
  }
  if (maxNetns !== undefined && needNetns + existing > maxNetns) {
    problems.push(`${pods} pods need up to ${needNetns} network namespaces at once (old and new sandboxes during re-creation), but /proc/sys/user/max_net_namespaces is ${maxNetns} and ${existing} named namespaces exist: at most ${Math.max(0, Math.floor((maxNetns - existing - 16) / 2))} pods fit`);
  }
  const mountMax = readNumber('/proc/sys/fs/mount-max');
  let mounts = 0;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').length;
  } catch {
    /* unknown */
  }
  if (mountMax !== undefined && needNetns + mounts > mountMax) {
    problems.push(`${pods} pods need ${needNetns} bind mounts under /var/run/netns, but /proc/sys/fs/mount-max is ${mountMax} with ${mounts} mounts in use`);
  }
  // Each plugin run in flight (starts and teardowns, each up to --concurrency per node): its pipes, and macvlan's own run of tidepool.
  const needFds = o.nodes * o.concurrency * 2 * 8 + 512;
  const fds = openFileLimit();
  if (fds !== undefined && needFds > fds) {
    problems.push(`--nodes ${o.nodes} x --concurrency ${o.concurrency} plugin runs in flight need about ${needFds} open files, but ulimit -n is ${fds}; raise it (ulimit -n ${needFds}) or lower --concurrency`);
  }
  return problems;
}

export const DEFAULT_REPORT_DIR = join(ROOT, 'bench/out');
