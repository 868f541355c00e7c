import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { DEFAULT_SOCKET, API_PATHS, type AllocationView, type CollectResponse, type OrphanStatus, type ReleaseResponse, type StatusResponse, type ValidatePoolsResponse } from '../api/protocol.ts';
import { planPoolFile } from '../agent/pool-file.ts';
import { TidepoolError, isErrorCode, toTidepoolError } from '../ipam/errors.ts';
import { formatDuration } from '../util/duration.ts';
import { createLogger } from '../util/logger.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { formatTable } from './table.ts';
import { runClusterGc } from './gc-cluster.ts';
import { DAEMON_USAGE, parseDaemonArgs, startDaemon } from '../agent/daemon.ts';
import { TIDEPOOL_VERSION } from '../version.ts';
import { isPermissionDenied, socketError } from './socket-errors.ts';
import { CONTROLLER_USAGE, parseControllerArgs, startController } from '../controller/main.ts';

const USAGE = `tidepool: IP address management for Kubernetes underlay networks

Usage:
  tidepool daemon --pools FILE [options]   run the node agent (see tidepool daemon --help)
  tidepool controller --namespace NS       run the cluster controller (see tidepool controller --help)
  tidepool pools [--json]                  pools with total, allocated, free and % used; orphaned IPs;
                                           a pools file edit the agent refused
  tidepool pools validate FILE [--strict]  check a pools file against the agent's pools and held IPs
                                           (exit 1 if the agent would refuse it; --strict: or orphan IPs)
  tidepool allocations [--json]            every allocated IP with its owner
  tidepool release IP [--force]            release one IP (refused while its netns exists)
  tidepool gc [--no-grace] [--dry-run]     standalone: run one namespace collection now, print what it reclaimed
  tidepool gc --cluster [--dry-run] [--all] [--kubeconfig F] [--namespace NS] [--lease-name L]
                                           cluster: --dry-run lists what the controller would reclaim and why;
                                           without it, asks the leading controller for a scan now
  tidepool install-cni --dest DIR          copy the CNI plugin into DIR (atomically), e.g. /opt/cni/bin
  tidepool simulate [SCENARIO.yaml]        run a scenario (or a sweep of random ones) in a deterministic
                                           cluster simulator; see tidepool simulate --help
  tidepool version

Common options:
  --socket PATH   agent socket (default ${DEFAULT_SOCKET}, or $TIDEPOOL_SOCKET)
`;

const SOCKET_OPTION = `  --socket PATH   agent socket (default ${DEFAULT_SOCKET}, or $TIDEPOOL_SOCKET)`;

/** `tidepool <command> --help` for the commands whose usage lives here (daemon, controller and simulate have their own). */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  pools: `tidepool pools [--json] [--socket PATH]

Lists the agent's pools: subnet, total, allocated and free IPs, % used, and
whether a pool is a default or disabled.

  --json          print the agent's answer as JSON
${SOCKET_OPTION}
`,
  allocations: `tidepool allocations [--json] [--socket PATH]

Lists every allocated IP with its pool, container, interface, network
namespace and age.

  --json          print the agent's answer as JSON
${SOCKET_OPTION}
`,
  release: `tidepool release IP [--force] [--json] [--socket PATH]

Releases one IP. Refused while the network namespace of its container still
exists, unless --force.

  --force         release even though the namespace still exists
  --json          print the agent's answer as JSON
${SOCKET_OPTION}
`,
  gc: `tidepool gc [--no-grace] [--dry-run] [--json] [--socket PATH]
tidepool gc --cluster [--dry-run] [--all] [--kubeconfig FILE] [--namespace NS] [--lease-name NAME] [--json]

Standalone: runs one collection of IPs whose network namespace is gone and
prints what it reclaimed and what still waits out the grace period.
Cluster: --dry-run lists what the controller would reclaim and why; without
it, asks the leading controller for a scan now.

  --no-grace      standalone: reclaim namespaces seen gone now, without waiting for --gc-grace
  --dry-run       report, reclaim nothing
  --cluster       talk to the cluster rather than the local agent (implied by --kubeconfig)
  --all           cluster, --dry-run: also list what is kept, with the reason
  --kubeconfig F  cluster: default $KUBECONFIG, ~/.kube/config or in-cluster
  --namespace NS  cluster: namespace of the controller's Lease   default kube-system
  --lease-name L  cluster: the controller's Lease                 default tidepool-controller
  --json          print the answer as JSON
${SOCKET_OPTION}
`,
  'install-cni': `tidepool install-cni --dest DIR [--source FILE]

Copies the CNI plugin into DIR (e.g. /opt/cni/bin) as DIR/tidepool, through a
temporary file and a rename, so a runtime never runs half a file.

  --dest DIR      the CNI binary directory   required
  --source FILE   the plugin to copy         default: dist/cni/tidepool next to this command
`,
  version: `tidepool version

Prints tidepool's version.
`,
};

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly now: () => number;
}

/** Runs one CLI command and resolves to its exit code (0 ok, 1 failed, 2 usage). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const usage = command !== undefined && Object.hasOwn(COMMAND_USAGE, command) ? COMMAND_USAGE[command] : undefined;
  if (usage !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    io.out(usage);
    return 0;
  }
  try {
    switch (command) {
      case 'daemon':
        return await runDaemonCommand(rest, io);
      case 'controller':
        return await runControllerCommand(rest, io);
      case 'pools':
        return await poolsCommand(rest, io);
      case 'allocations':
        return await allocationsCommand(rest, io);
      case 'release':
        return await releaseCommand(rest, io);
      case 'gc':
        return await gcCommand(rest, io);
      case 'install-cni':
        return installCniCommand(rest, io);
      case 'simulate':
        // Loaded on demand: the simulator is large and no other command needs it.
        return await (await import('./simulate.ts')).simulateCommand(rest.map((a) => (a === '-h' ? '--help' : a)), io);
      case 'version':
      case '--version':
        io.out(`tidepool ${TIDEPOOL_VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        io.err(`tidepool: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    const e = toTidepoolError(err);
    io.err(`tidepool: ${e.message} (${e.code})\n`);
    return e.code === 'INVALID_CONFIG' ? 2 : 1;
  }
}

async function runDaemonCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(DAEMON_USAGE);
    return 0;
  }
  const config = parseDaemonArgs(argv);
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  const daemon = await startDaemon(config, log);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // An operator who signals again does not want to wait for the drain. Exiting without closing the store is what a
  // crash does, and every acknowledged allocation is already committed.
  const now = (again: NodeJS.Signals) => {
    log.warn('second signal during the graceful stop: exiting at once', { signal: again });
    process.exit(1);
  };
  process.on('SIGTERM', now);
  process.on('SIGINT', now);
  await daemon.stop(signal);
  return 0;
}

async function runControllerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(CONTROLLER_USAGE);
    return 0;
  }
  const controller = await startController(parseControllerArgs(argv, io.env));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // A stop must end the process even if a step of it, or a handle left behind, never finishes: a controller that stays
  // up after SIGTERM keeps its pod Terminating until the kubelet kills it, and holds a test run forever.
  let stopped = false;
  setTimeout(() => {
    io.err(stopped ? 'tidepool controller: stopped, but a handle still held the process; exiting\n' : `tidepool controller: the graceful stop did not finish within ${CONTROLLER_STOP_DEADLINE_MS / 1000} s; exiting\n`);
    process.exit(stopped ? 0 : 1);
  }, CONTROLLER_STOP_DEADLINE_MS).unref();
  await controller.stop();
  stopped = true;
  return 0;
}

/** How long `tidepool controller` may take to stop after SIGTERM before it exits anyway. */
const CONTROLLER_STOP_DEADLINE_MS = 10_000;

function parseCommon(argv: readonly string[], io: CliIo, extra: Record<string, { type: 'boolean' | 'string' }>, positionals = 0) {
  const parsed = parseCommandFlags(argv, { socket: { type: 'string' }, json: { type: 'boolean' }, ...extra }, { allowPositionals: positionals > 0 });
  if (parsed.positionals.length > positionals) throw new TidepoolError('INVALID_CONFIG', `unexpected argument "${parsed.positionals[positionals]}"`);
  const values = parsed.values;
  const socket = (values['socket'] as string | undefined) ?? io.env['TIDEPOOL_SOCKET'] ?? DEFAULT_SOCKET;
  return { values, positionals: parsed.positionals, socket };
}

async function poolsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'validate') return validatePoolsCommand(argv.slice(1), io);
  const { values, socket } = parseCommon(argv, io, {});
  const status = (await callAgent(socket, 'GET', API_PATHS.status)) as StatusResponse;
  if (values['json']) {
    io.out(JSON.stringify({ pools: status.pools, orphaned: status.orphaned ?? [], poolsFile: status.poolsFile }, null, 2) + '\n');
    return 0;
  }
  const rows = status.pools.map((p) => {
    const total = BigInt(p.total);
    const used = total === 0n ? 0 : Number((BigInt(p.allocated) * 10000n) / total) / 100;
    const flags = [p.default ? 'default' : '', p.disabled ? 'disabled' : ''].filter(Boolean).join(',');
    return [p.name, p.subnet, p.total, String(p.allocated), p.free, `${used.toFixed(used < 10 ? 2 : 1)}%`, flags];
  });
  io.out(formatTable(['POOL', 'SUBNET', 'TOTAL', 'ALLOCATED', 'FREE', 'USED', 'FLAGS'], rows));
  const orphaned = status.orphaned ?? [];
  if (orphaned.length > 0) {
    const count = orphaned.reduce((n, o) => n + o.ips.length, 0);
    io.out(`\nOrphaned: ${count} held IP${count === 1 ? ' is' : 's are'} in no pool of the pools file; DEL and the collector free them as usual.\n`);
    io.out(formatTable(['POOL', 'REASON', 'IPS'], orphaned.map((o) => [o.pool, ORPHAN_REASONS[o.reason], listIps(o.ips)])));
  }
  const file = status.poolsFile;
  if (file?.refused) {
    const when = new Date(file.refused.at).toISOString();
    const what = file.source === 'last-applied' ? `could not be used when the agent started (${when})` : `holds an edit the agent refused at ${when}`;
    io.out(`\nWarning: the pools file ${file.path} ${what}: ${file.refused.message} (${file.refused.code}).\n`);
    io.out(`The agent serves the pools ${file.source === 'last-applied' ? 'last applied from it' : `applied at ${new Date(file.appliedAt).toISOString()}`}. Check an edit with: tidepool pools validate ${file.path}\n`);
  }
  return 0;
}

const ORPHAN_REASONS: Record<OrphanStatus['reason'], string> = {
  'pool-removed': 'pool removed from the pools file',
  'outside-pool': "outside the pool's ranges",
};

/** Up to eight IPs, then how many more. */
function listIps(ips: readonly string[]): string {
  return ips.length <= 8 ? ips.join(', ') : `${ips.slice(0, 8).join(', ')} … (${ips.length - 8} more)`;
}

async function validatePoolsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals, socket } = parseCommon(argv, io, { strict: { type: 'boolean' } }, 1);
  const file = positionals[0];
  if (!file) throw new TidepoolError('INVALID_CONFIG', 'pools validate needs the pools file to check, e.g. tidepool pools validate /etc/tidepool/pools.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { file });
  }
  let res: ValidatePoolsResponse;
  let offline = false;
  try {
    res = (await callAgent(socket, 'POST', API_PATHS.validatePools, { file, text })) as ValidatePoolsResponse;
  } catch (err) {
    const e = toTidepoolError(err);
    if (e.code !== 'AGENT_UNREACHABLE' || isPermissionDenied(e)) throw err;
    // No agent to ask: the file can still be checked on its own.
    offline = true;
    res = validateOffline(file, text);
  }
  if (values['json']) {
    io.out(JSON.stringify({ file, checkedAgainstAgent: !offline, ...res }, null, 2) + '\n');
  } else {
    io.out(describeValidation(file, res, offline ? socket : undefined));
  }
  if (!res.valid) return 1;
  return values['strict'] === true && res.orphaned.length > 0 ? 1 : 0;
}

function validateOffline(file: string, text: string): ValidatePoolsResponse {
  try {
    const pools = planPoolFile(text, file);
    return { valid: true, pools: pools.map((p) => p.name), added: [], removed: [], changed: [], moves: [], orphaned: [] };
  } catch (err) {
    return { valid: false, error: toTidepoolError(err).toJSON() };
  }
}

function describeValidation(file: string, res: ValidatePoolsResponse, unreachable: string | undefined): string {
  if (!res.valid) return `${file}: refused: ${res.error.message} (${res.error.code})\n`;
  let out = `${file}: valid: ${res.pools.length} pool${res.pools.length === 1 ? '' : 's'} (${res.pools.join(', ')})\n`;
  if (unreachable) return out + `No agent answers at ${unreachable}: checked the file alone (syntax, fields, overlaps), not against the pools served and the IPs held.\n`;
  const lines: string[] = [];
  const changes = [res.added.length ? `add ${res.added.join(', ')}` : '', res.removed.length ? `remove ${res.removed.join(', ')}` : '', res.changed.length ? `change ${res.changed.join(', ')}` : ''].filter(Boolean);
  if (changes.length) lines.push(`  ${changes.join('; ')}`);
  if (res.moves.length) {
    lines.push(`  re-file ${res.moves.length} held IP${res.moves.length === 1 ? '' : 's'} under the pool whose range holds ${res.moves.length === 1 ? 'it' : 'them'} (the holders keep them):`);
    const byPair = new Map<string, string[]>();
    for (const m of res.moves) byPair.set(`${m.pool} -> ${m.to}`, [...(byPair.get(`${m.pool} -> ${m.to}`) ?? []), m.ip]);
    for (const [pair, ips] of byPair) lines.push(`    ${pair}: ${listIps(ips)}`);
  }
  if (res.orphaned.length) {
    const count = res.orphaned.reduce((n, o) => n + o.ips.length, 0);
    lines.push(`  leave ${count} held IP${count === 1 ? '' : 's'} in no pool (warning: they stay held until DEL or the collector frees them):`);
    for (const o of res.orphaned) lines.push(`    ${o.pool} (${ORPHAN_REASONS[o.reason]}): ${listIps(o.ips)}`);
  }
  return out + (lines.length ? `Applying it would:\n${lines.join('\n')}\n` : 'Applying it would change nothing.\n');
}

async function allocationsCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, socket } = parseCommon(argv, io, {});
  const list = (await callAgent(socket, 'GET', API_PATHS.allocations)) as AllocationView[];
  if (values['json']) {
    io.out(JSON.stringify(list, null, 2) + '\n');
    return 0;
  }
  if (list.length === 0) {
    io.out('no allocations\n');
    return 0;
  }
  const now = io.now();
  // A hold has no container: the column says why the IP is out of use, who answered for it, and for how long still.
  const holder = (a: AllocationView): string => (a.hold ? `held: ${a.hold.reason}, MAC ${a.hold.mac}, ${formatDuration(Math.max(0, a.hold.until - now))} left` : a.containerId);
  const rows = list.map((a) => [a.ip, a.orphaned ? `${a.pool} (orphaned)` : a.pool, holder(a), a.ifname, a.netns || '-', formatDuration(Math.max(0, now - a.allocatedAt))]);
  io.out(formatTable(['IP', 'POOL', 'CONTAINER', 'INTERFACE', 'NETNS', 'AGE'], rows));
  return 0;
}

async function releaseCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals, socket } = parseCommon(argv, io, { force: { type: 'boolean' } }, 1);
  const ip = positionals[0];
  if (!ip) throw new TidepoolError('INVALID_CONFIG', 'release needs the IP to release, e.g. tidepool release 10.6.0.12');
  const res = (await callAgent(socket, 'POST', API_PATHS.releaseIp, { ip, force: values['force'] === true })) as ReleaseResponse;
  if (values['json']) io.out(JSON.stringify(res, null, 2) + '\n');
  else for (const r of res.released) io.out(`released ${r.ip} (pool ${r.pool}, container ${r.containerId}, interface ${r.ifname})\n`);
  return 0;
}

async function gcCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, socket } = parseCommon(argv, io, {
    'no-grace': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    cluster: { type: 'boolean' },
    all: { type: 'boolean' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    'lease-name': { type: 'string' },
  });
  const cluster = values['cluster'] === true || values['kubeconfig'] !== undefined;
  if (cluster) {
    if (values['no-grace']) throw new TidepoolError('INVALID_CONFIG', '--no-grace applies to the standalone agent, not to --cluster', { field: '--no-grace' });
    return runClusterGc(
      {
        kubeconfig: values['kubeconfig'] as string | undefined,
        namespace: (values['namespace'] as string | undefined) ?? 'kube-system',
        leaseName: (values['lease-name'] as string | undefined) ?? 'tidepool-controller',
        dryRun: values['dry-run'] === true,
        all: values['all'] === true,
        json: values['json'] === true,
      },
      io,
    );
  }
  for (const flag of ['all', 'namespace', 'lease-name'] as const) {
    if (values[flag] !== undefined) throw new TidepoolError('INVALID_CONFIG', `--${flag} applies with --cluster only`, { field: `--${flag}` });
  }
  const dryRun = values['dry-run'] === true;
  const body = { ...(values['no-grace'] ? { graceMs: 0 } : {}), ...(dryRun ? { dryRun: true } : {}) };
  const res = (await callAgent(socket, 'POST', API_PATHS.collect, body)) as CollectResponse;
  if (values['json']) {
    io.out(JSON.stringify(res, null, 2) + '\n');
    return 0;
  }
  if (res.released.length === 0) io.out('nothing to reclaim\n');
  for (const r of res.released) io.out(`${dryRun ? 'would reclaim' : 'reclaimed'} ${r.ip} (pool ${r.pool}, container ${r.containerId}, interface ${r.ifname}): network namespace gone\n`);
  const now = io.now();
  for (const w of res.waiting) io.out(`waiting ${w.ip} (pool ${w.pool}, container ${w.containerId}): namespace gone for ${formatDuration(now - w.goneSinceMs)}, inside the grace period\n`);
  return 0;
}

/** Where the plugin sits next to this bundle: dist/tidepool.mjs → dist/cni/tidepool. */
const BUNDLED_PLUGIN = fileURLToPath(new URL('./cni/tidepool', import.meta.url));

function installCniCommand(argv: readonly string[], io: CliIo): number {
  const values = parseCommandFlags(argv, { dest: { type: 'string' }, source: { type: 'string' } }).values as { dest?: string; source?: string };
  if (!values.dest) throw new TidepoolError('INVALID_CONFIG', 'install-cni needs --dest, the CNI binary directory (e.g. /opt/cni/bin)', { field: '--dest' });
  const source = values.source ?? BUNDLED_PLUGIN;
  const target = join(values.dest, 'tidepool');
  if (!existsSync(source)) throw new TidepoolError('INVALID_CONFIG', `--source ${source}: no such file (run npm run build)`, { field: '--source' });
  // Copy then rename in the same directory: a runtime calling the plugin meanwhile sees the old or the new file, never half of one.
  const temp = join(values.dest, `.tidepool.${process.pid}.tmp`);
  try {
    mkdirSync(values.dest, { recursive: true });
    copyFileSync(source, temp);
    chmodSync(temp, 0o755);
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new TidepoolError('IO_FAILURE', `install-cni: ${(err as Error).message}`, { dest: values.dest });
  }
  io.out(`installed ${target}\n`);
  return 0;
}


function callAgent(socket: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            reject(new TidepoolError('IO_FAILURE', `agent at ${socket} answered ${res.statusCode} with non-JSON: ${text.slice(0, 200)}`));
            return;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const e = (parsed as { error?: { code?: unknown; message?: unknown; details?: Record<string, unknown> } }).error;
            reject(new TidepoolError(isErrorCode(e?.code) ? e.code : 'INTERNAL', String(e?.message ?? text), e?.details));
          } else resolve(parsed);
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => reject(socketError(socket, err)));
    req.end(payload);
  });
}
