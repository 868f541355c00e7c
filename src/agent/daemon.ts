import { hostname } from 'node:os';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { DEFAULT_SOCKET, type StatusResponse } from '../api/protocol.ts';
import { createSqliteStore, type SqliteStore } from '../store/sqlite.ts';
import { SCHEMA_VERSION } from '../store/sqlite-schema.ts';
import { prepareStateDir } from '../store/state-dir.ts';
import type { AllocationStore, ReclaimJournal } from '../store/port.ts';
import type { Pool } from '../ipam/pool.ts';
import { credentialWarning } from '../k8s/credentials.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { createKubeRest, type KubeRest } from '../k8s/rest.ts';
import { createKubeApiMetrics, type KubeApiMetrics } from '../k8s/api-metrics.ts';
import { registerBuildInfo } from '../util/build-info.ts';
import { openKubeAgentBackend } from './kube-agent.ts';
import { createStandalonePolicy, type IpamPolicy } from './policy.ts';
import { createLogger, isLogFormat, isLogLevel, type LogFormat, type Logger } from '../util/logger.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { formatServerAddress, parseListen, startMetricsServer } from '../util/http-endpoints.ts';
import { createIpamService, type IpamService, type NodeDetection } from './ipam-service.ts';
import { createAddressProber } from './address-probe.ts';
import { DETECTION_TIMEOUT_MAX_MS, DETECTION_TIMEOUT_MIN_MS } from '../ipam/pool.ts';
import { createAgentMetrics, type AgentMetrics } from './metrics.ts';
import { openPoolFileState, type PoolFileState } from './pool-file-state.ts';
import { startGcLoop } from './gc-loop.ts';
import { startAgentServer } from './http-server.ts';
import { probeNetns } from './netns-probe.ts';

export const DAEMON_DEFAULTS = {
  socket: DEFAULT_SOCKET,
  state: '/var/lib/tidepool/state.db',
  metricsListen: '127.0.0.1:9714',
  gcInterval: '5s',
  gcGrace: '10s',
  reuseCooldown: '0s',
  exhaustedWait: '3s',
  poolsReloadInterval: '2s',
  shutdownTimeout: '5s',
  logLevel: 'info',
  logFormat: 'json',
  sqliteSync: 'normal',
  ipConflictDetection: 'on',
  gatewayDetection: 'off',
  detectionTimeout: '50ms',
  ipConflictHold: '10m',
  ipConflictAttempts: '3',
} as const;

/** The longest --exhausted-wait: the plugin's default ipam.timeoutMs (10 s) less room for the allocation itself. */
const MAX_EXHAUSTED_WAIT_MS = 8_000;

export const DAEMON_USAGE = `tidepool daemon --pools FILE [options]            standalone: SQLite store
tidepool daemon --store kubernetes [options]      in a cluster: the API server is the store

Runs the node agent: serves the CNI plugin on a unix socket, keeps state, and
reclaims IPs whose network namespace is gone.

  --store KIND            sqlite or kubernetes         default sqlite
  --pools FILE            IPPool objects (YAML, one or more documents)   required with sqlite
  --kubeconfig FILE       kubernetes: kubeconfig; default $KUBECONFIG, ~/.kube/config or in-cluster
  --host-proc DIR         where the host's /proc is mounted, for /proc/<pid>/ns/net paths  default /proc
  --pools-reload-interval DUR  how often the pools file is checked for edits; 0s: only on SIGHUP  default ${DAEMON_DEFAULTS.poolsReloadInterval}
  --state FILE            SQLite state file, in a directory of its own (made 0700)  default ${DAEMON_DEFAULTS.state}
  --socket PATH           agent socket (mode 0600)     default ${DAEMON_DEFAULTS.socket}
  --metrics-listen H:P    Prometheus /metrics; "off" disables  default ${DAEMON_DEFAULTS.metricsListen}
  --node NAME             node name recorded on allocations   default: hostname
  --gc-interval DUR       how often namespaces are checked    default ${DAEMON_DEFAULTS.gcInterval}
  --gc-grace DUR          how long a namespace must be gone   default ${DAEMON_DEFAULTS.gcGrace}
  --reuse-cooldown DUR    a released IP is not reused for DUR default ${DAEMON_DEFAULTS.reuseCooldown}
  --exhausted-wait DUR    an ADD that finds its pools full waits up to DUR for an IP to come free; 0s fails at once
                          (at most 8s: the plugin gives up after ipam.timeoutMs, 10s by default)  default ${DAEMON_DEFAULTS.exhaustedWait}
  --shutdown-timeout DUR  on SIGTERM or SIGINT, how long requests in flight may take to be answered before their
                          connections are closed; a second signal stops at once  default ${DAEMON_DEFAULTS.shutdownTimeout}
  --ip-conflict-detection on|off  probe each new IP from the pod's link before answering (ARP probe, IPv6
                          neighbour solicitation); pools and netconfs may override  default ${DAEMON_DEFAULTS.ipConflictDetection}
  --gateway-detection on|off  require the pool's gateway to answer from the pod's link; pools and netconfs
                          may override  default ${DAEMON_DEFAULTS.gatewayDetection}
  --detection-timeout DUR how long each probe waits for an answer (1ms to 2s)  default ${DAEMON_DEFAULTS.detectionTimeout}
  --ip-conflict-hold DUR  how long an IP another host answered for is held out of use  default ${DAEMON_DEFAULTS.ipConflictHold}
  --ip-conflict-attempts N  IPs a stateless pod may try before its ADD fails (1 to 10)  default ${DAEMON_DEFAULTS.ipConflictAttempts}
  --sqlite-sync MODE      normal (survives process crash) or full (also power loss)  default ${DAEMON_DEFAULTS.sqliteSync}
  --log-level LEVEL       debug, info, warn, error     default ${DAEMON_DEFAULTS.logLevel}
  --log-format FORMAT     json (one object per line) or text (time, level, message, key=value fields)  default ${DAEMON_DEFAULTS.logFormat}
`;

export interface DaemonConfig {
  readonly store: 'sqlite' | 'kubernetes';
  readonly pools: string | undefined;
  readonly poolsReloadIntervalMs: number;
  readonly kubeconfig: string | undefined;
  readonly hostProc: string;
  readonly state: string;
  readonly socket: string;
  readonly metricsListen: { host: string; port: number } | undefined;
  readonly node: string;
  readonly gcIntervalMs: number;
  readonly gcGraceMs: number;
  readonly reuseCooldownMs: number;
  readonly exhaustedWaitMs: number;
  /** How long a graceful stop waits for requests in flight before it closes their connections. */
  readonly shutdownTimeoutMs: number;
  readonly sqliteSync: 'normal' | 'full';
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly logFormat: LogFormat;
  readonly detection: NodeDetection;
}

function parseSwitch(flag: string, text: string): boolean {
  if (text === 'on' || text === 'true') return true;
  if (text === 'off' || text === 'false') return false;
  throw new TidepoolError('INVALID_CONFIG', `${flag}: "${text}" must be on or off`, { field: flag });
}

function parseDetectionFlags(values: Record<string, string | undefined>): NodeDetection {
  const timeoutMs = parseDuration(values['detection-timeout']!, '--detection-timeout');
  if (timeoutMs < DETECTION_TIMEOUT_MIN_MS || timeoutMs > DETECTION_TIMEOUT_MAX_MS) {
    throw new TidepoolError('INVALID_CONFIG', `--detection-timeout: ${values['detection-timeout']} must be from 1ms to 2s`, { field: '--detection-timeout' });
  }
  const attemptsText = values['ip-conflict-attempts']!;
  const attempts = /^\d+$/.test(attemptsText) ? Number(attemptsText) : NaN;
  if (!(attempts >= 1 && attempts <= 10)) throw new TidepoolError('INVALID_CONFIG', `--ip-conflict-attempts: "${attemptsText}" must be an integer from 1 to 10`, { field: '--ip-conflict-attempts' });
  return {
    ipConflict: parseSwitch('--ip-conflict-detection', values['ip-conflict-detection']!),
    gateway: parseSwitch('--gateway-detection', values['gateway-detection']!),
    timeoutMs,
    holdMs: parseDuration(values['ip-conflict-hold']!, '--ip-conflict-hold'),
    conflictAttempts: attempts,
  };
}

/** Parses daemon flags; every error names the flag. */
export function parseDaemonArgs(argv: readonly string[]): DaemonConfig {
  const values = parseCommandFlags(
    argv,
    {
        store: { type: 'string', default: 'sqlite' },
        pools: { type: 'string' },
        'pools-reload-interval': { type: 'string', default: DAEMON_DEFAULTS.poolsReloadInterval },
        kubeconfig: { type: 'string' },
        'host-proc': { type: 'string', default: '/proc' },
        state: { type: 'string', default: DAEMON_DEFAULTS.state },
        socket: { type: 'string', default: DAEMON_DEFAULTS.socket },
        'metrics-listen': { type: 'string', default: DAEMON_DEFAULTS.metricsListen },
        node: { type: 'string' },
        'gc-interval': { type: 'string', default: DAEMON_DEFAULTS.gcInterval },
        'gc-grace': { type: 'string', default: DAEMON_DEFAULTS.gcGrace },
        'reuse-cooldown': { type: 'string', default: DAEMON_DEFAULTS.reuseCooldown },
        'exhausted-wait': { type: 'string', default: DAEMON_DEFAULTS.exhaustedWait },
        'shutdown-timeout': { type: 'string', default: DAEMON_DEFAULTS.shutdownTimeout },
        'sqlite-sync': { type: 'string', default: DAEMON_DEFAULTS.sqliteSync },
        'log-level': { type: 'string', default: DAEMON_DEFAULTS.logLevel },
        'log-format': { type: 'string', default: DAEMON_DEFAULTS.logFormat },
        'ip-conflict-detection': { type: 'string', default: DAEMON_DEFAULTS.ipConflictDetection },
        'gateway-detection': { type: 'string', default: DAEMON_DEFAULTS.gatewayDetection },
        'detection-timeout': { type: 'string', default: DAEMON_DEFAULTS.detectionTimeout },
        'ip-conflict-hold': { type: 'string', default: DAEMON_DEFAULTS.ipConflictHold },
        'ip-conflict-attempts': { type: 'string', default: DAEMON_DEFAULTS.ipConflictAttempts },
      },
    { prefix: 'tidepool daemon: ' },
  ).values as Record<string, string | undefined>;
  const store = values['store']!;
  if (store !== 'sqlite' && store !== 'kubernetes') throw new TidepoolError('INVALID_CONFIG', `--store: "${store}" must be sqlite or kubernetes`, { field: '--store' });
  const pools = values['pools'];
  if (store === 'sqlite' && !pools) throw new TidepoolError('INVALID_CONFIG', '--pools is required: the file that defines the IP pools', { field: '--pools' });
  if (store === 'kubernetes' && pools) {
    throw new TidepoolError('INVALID_CONFIG', '--pools does not apply with --store kubernetes: pools are IPPool objects in the cluster (kubectl apply -f the file)', { field: '--pools' });
  }
  if (store === 'sqlite' && values['kubeconfig']) throw new TidepoolError('INVALID_CONFIG', '--kubeconfig applies only with --store kubernetes', { field: '--kubeconfig' });
  const sync = values['sqlite-sync']!;
  if (sync !== 'normal' && sync !== 'full') throw new TidepoolError('INVALID_CONFIG', `--sqlite-sync: "${sync}" must be normal or full`, { field: '--sqlite-sync' });
  const level = values['log-level']!;
  if (!isLogLevel(level)) throw new TidepoolError('INVALID_CONFIG', `--log-level: "${level}" must be debug, info, warn or error`, { field: '--log-level' });
  const logFormat = values['log-format']!;
  if (!isLogFormat(logFormat)) throw new TidepoolError('INVALID_CONFIG', `--log-format: "${logFormat}" must be json or text`, { field: '--log-format' });
  const interval = parseDuration(values['gc-interval']!, '--gc-interval');
  if (interval < 100) throw new TidepoolError('INVALID_CONFIG', `--gc-interval: must be at least 100ms`, { field: '--gc-interval' });
  const poolsReloadIntervalMs = parseDuration(values['pools-reload-interval']!, '--pools-reload-interval');
  if (poolsReloadIntervalMs > 0 && poolsReloadIntervalMs < 100) {
    throw new TidepoolError('INVALID_CONFIG', '--pools-reload-interval: must be 0s (reload on SIGHUP only) or at least 100ms', { field: '--pools-reload-interval' });
  }
  const exhaustedWaitMs = parseDuration(values['exhausted-wait']!, '--exhausted-wait');
  if (exhaustedWaitMs > MAX_EXHAUSTED_WAIT_MS) {
    throw new TidepoolError('INVALID_CONFIG', `--exhausted-wait: ${values['exhausted-wait']} is more than 8s; the plugin gives up on the agent after ipam.timeoutMs (10s by default)`, { field: '--exhausted-wait' });
  }
  return {
    store,
    pools,
    poolsReloadIntervalMs,
    kubeconfig: values['kubeconfig'],
    hostProc: values['host-proc']!,
    state: values['state']!,
    socket: values['socket']!,
    metricsListen: parseListen('--metrics-listen', values['metrics-listen']!, '127.0.0.1'),
    node: values['node'] ?? hostname(),
    gcIntervalMs: interval,
    gcGraceMs: parseDuration(values['gc-grace']!, '--gc-grace'),
    reuseCooldownMs: parseDuration(values['reuse-cooldown']!, '--reuse-cooldown'),
    exhaustedWaitMs,
    shutdownTimeoutMs: parseDuration(values['shutdown-timeout']!, '--shutdown-timeout'),
    sqliteSync: sync,
    logLevel: level,
    logFormat,
    detection: parseDetectionFlags(values),
  };
}


/** A running daemon. */
export interface RunningDaemon {
  readonly metricsAddress: string | undefined;
  /**
   * Graceful stop, bounded by `shutdownTimeoutMs`: the garbage collection
   * timer stops, ADDs waiting for a free IP get AGENT_STOPPING, the socket
   * stops accepting connections, requests in flight are answered (past the
   * bound their connections are closed), then the store is closed.
   * `reason` (a signal name) is logged.
   */
  stop(reason?: string): Promise<void>;
}

/**
 * The agent's composition root: the only place that reads files, builds
 * the store, the logger and the metrics registry for the agent. It starts
 * whole or not at all: when a part cannot start (the metrics port is taken,
 * the state file or the kubeconfig cannot be used, the socket cannot be
 * made) everything started before it is closed, the socket removed, and the
 * error thrown, so the process exits with the reason instead of serving
 * half an agent.
 */
export async function startDaemon(config: DaemonConfig, log: Logger = createLogger({ level: config.logLevel, format: config.logFormat })): Promise<RunningDaemon> {
  const registry = new Registry();
  // Node's process metrics under their standard names (process_*, nodejs_*); Prometheus' job label tells agent and controller apart.
  collectDefaultMetrics({ register: registry });
  registerBuildInfo(registry, 'agent');
  const backend = config.store === 'kubernetes' ? await openKubernetesBackend(config, log, createKubeApiMetrics(registry)) : await openSqliteBackend(config, log);
  const started = createStartup(log);
  started.push(() => backend.close());
  try {
    return await startParts(config, backend, registry, started, log);
  } catch (err) {
    await started.undo();
    throw err;
  }
}

/** What has started so far, to be closed in reverse order if a later part fails. */
function createStartup(log: Logger): { push(close: () => Promise<void> | void): void; undo(): Promise<void> } {
  const closers: Array<() => Promise<void> | void> = [];
  return {
    push: (close) => void closers.push(close),
    async undo() {
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch (err) {
          log.warn('could not close a part of the agent that had started', { err });
        }
      }
    },
  };
}

/** The service, its servers and loops over an open backend; `started` learns how to close each. */
async function startParts(config: DaemonConfig, backend: Backend, registry: Registry, started: ReturnType<typeof createStartup>, log: Logger): Promise<RunningDaemon> {
  let service: IpamService | undefined;
  const status = async (): Promise<StatusResponse> => ({ ...(service ? await service.status() : { ready: false, pools: [] }), poolsFile: backend.poolsFile?.status() });
  const held = async () => (service ? await service.allocations() : []).flatMap((a) => (a.hold ? [{ pool: a.pool, reason: a.hold.reason }] : []));
  // Kubernetes agents leave pool gauges to the controller's leader: every agent sees the same cluster-wide pools.
  const metrics = createAgentMetrics(registry, backend.poolsFile ? { standalone: { status, held } } : {});
  // The metrics port before the socket: a port that is taken must not leave a socket that answers.
  const metricsServer = config.metricsListen
    ? await startMetricsServer({ registry, listen: config.metricsListen, ready: backend.ready, notReadyText: 'caches are still syncing or the Node object is missing', flag: '--metrics-listen' })
    : undefined;
  if (metricsServer) started.push(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
  const metricsAddress = metricsServer ? formatServerAddress(metricsServer) : undefined;
  const ipam = (service = createService(config, backend, metrics, log));
  // Before serving: a pool renamed while the agent was down keeps its allocations from the first ADD on.
  await ipam.reconcile();
  const api = await startAgentServer({ socketPath: config.socket, service: ipam, metrics, log, status, poolsFile: backend.poolsFile });
  started.push(async () => void (await api.close(0)));

  // A standalone agent collects at once: after a restart, namespaces seen gone before it count from then (the journal), not from now.
  const gc = startGcLoop(ipam, config.gcIntervalMs, config.gcGraceMs, config.store === 'sqlite', log);
  const poolsWatch = backend.poolsFile ? watchPoolsFile(backend.poolsFile, config.pools!, config.poolsReloadIntervalMs, ipam, metrics, log) : undefined;

  log.info('tidepool agent started', {
    store: config.store,
    socket: config.socket,
    ...backend.describe,
    node: config.node,
    metrics: metricsAddress ?? 'off',
    gcInterval: formatDuration(config.gcIntervalMs),
    gcGrace: formatDuration(config.gcGraceMs),
  });
  return {
    metricsAddress,
    async stop(reason) {
      const begun = Date.now();
      log.info('tidepool agent stopping', { ...(reason ? { signal: reason } : {}), shutdownTimeout: formatDuration(config.shutdownTimeoutMs) });
      // First, so no new collection or reload starts while the store is being closed.
      const reloading = poolsWatch?.stop();
      const gcRun = gc.stop();
      ipam.shutdown();
      const { destroyed } = await api.close(config.shutdownTimeoutMs);
      if (destroyed > 0) log.warn('closed connections whose requests were still in flight at the shutdown timeout', { connections: destroyed, shutdownTimeout: formatDuration(config.shutdownTimeoutMs) });
      // A collection in progress stops before its next release (see IpamService.shutdown); one stuck in the store is
      // abandoned at the bound, which is safe because every release it would make is conditional on the owner in the store.
      if (gcRun) await Promise.race([gcRun, delay(Math.max(0, config.shutdownTimeoutMs - (Date.now() - begun)), undefined, { ref: false })]);
      await reloading;
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await backend.close();
      log.info('tidepool agent stopped', { durationMs: Date.now() - begun });
    },
  };
}

function createService(config: DaemonConfig, backend: Backend, metrics: AgentMetrics, log: Logger): IpamService {
  const mapNetns = (path: string): string => (config.hostProc !== '/proc' && path.startsWith('/proc/') ? config.hostProc + path.slice(5) : path);
  const prober = createAddressProber({ mapNetns });
  if (prober.unavailable) {
    log.error('addresses cannot be probed on this node: IP conflict detection is skipped, and ADDs of pools with gateway detection fail', { problem: prober.unavailable });
  }
  return createIpamService({
    store: backend.store,
    policy: backend.policy,
    node: config.node,
    now: Date.now,
    probeNetns: (path) => probeNetns(mapNetns(path)),
    prober,
    detection: config.detection,
    reuseCooldownMs: config.reuseCooldownMs,
    exhaustedWaitMs: config.exhaustedWaitMs,
    sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
    gcGraceMs: config.gcGraceMs,
    journal: backend.journal,
    usageCacheMs: backend.usageCacheMs,
    segment: backend.segment,
    random: backend.random,
    metrics,
    log,
  });
}

/**
 * Reloads the pools file when it changes (polled every `intervalMs`, which
 * also sees an editor's rename and a ConfigMap's symlink swap; 0 disables)
 * and on SIGHUP. Reloads never overlap; an applied edit is reconciled at once.
 * `stop` ends the watch and resolves once a reload in progress is done.
 */
function watchPoolsFile(poolsFile: PoolFileState, path: string, intervalMs: number, service: IpamService, metrics: AgentMetrics, log: Logger): { stop(): Promise<void> } {
  let chain = Promise.resolve();
  const reload = (reason: string) => {
    chain = chain
      .then(async () => {
        const { result } = await poolsFile.reload(reason);
        metrics.poolsReload(result);
        if (result === 'applied') await service.reconcile();
      })
      .catch((err: unknown) => log.error('pools file reload failed', { err }));
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  const onChange = () => reload('file changed');
  if (intervalMs > 0) watchFile(path, { interval: intervalMs, persistent: false }, onChange);
  return {
    stop() {
      process.off('SIGHUP', onHup);
      if (intervalMs > 0) unwatchFile(path, onChange);
      return chain;
    },
  };
}

/** Where allocations live and how pools are chosen: the one difference between the two modes. */
interface Backend {
  readonly store: AllocationStore;
  readonly policy: IpamPolicy;
  readonly usageCacheMs: number;
  readonly segment?: (pool: Pool) => { index: number; count: number } | undefined;
  readonly random?: () => number;
  /** Standalone: the pools file and the collector's journal. */
  readonly poolsFile?: PoolFileState;
  readonly journal?: ReclaimJournal;
  readonly describe: Record<string, unknown>;
  ready(): boolean;
  close(): Promise<void>;
}

/** The settings key under which the text of the last pools file applied is kept. */
const APPLIED_POOLS_KEY = 'pools-file';

async function openSqliteBackend(config: DaemonConfig, log: Logger): Promise<Backend> {
  const file = config.pools!;
  const store = openStateFile(config, log);
  try {
    reportMigration(store, config.state, log);
    const poolsFile = await openPoolFileState({
      path: file,
      read: readPoolFile,
      memory: { read: () => store.readSetting(APPLIED_POOLS_KEY), write: (text) => store.writeSetting(APPLIED_POOLS_KEY, text) },
      held: () => store.list(),
      now: Date.now,
      log,
    });
    return {
      store,
      policy: createStandalonePolicy(() => poolsFile.pools()),
      // This agent is the only writer of its state file; a lost race still re-reads.
      usageCacheMs: Number.POSITIVE_INFINITY,
      poolsFile,
      journal: store.journal,
      describe: { state: config.state, pools: poolsFile.pools().map((p) => p.name), poolsSource: poolsFile.status().source },
      ready: () => true,
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The state directory and file, or an error naming --state with the reason (its code kept). */
function openStateFile(config: DaemonConfig, log: Logger): SqliteStore {
  try {
    const dir = prepareStateDir(config.state);
    if (dir !== 'kept') log.info(dir === 'created' ? 'created the state directory, mode 0700' : "narrowed the state directory to mode 0700: the state files are the agent's alone", { dir: dirname(config.state) });
    return createSqliteStore({ path: config.state, synchronous: config.sqliteSync });
  } catch (err) {
    const e = toTidepoolError(err);
    if (e.message.startsWith('--state ')) throw e;
    throw new TidepoolError(e.code === 'INTERNAL' ? 'IO_FAILURE' : e.code, `--state ${config.state}: ${e.message}`, { ...e.details, field: '--state' });
  }
}

function reportMigration(store: SqliteStore, path: string, log: Logger): void {
  const { from, displaced } = store.migration;
  if (from !== SCHEMA_VERSION) log.info('state file migrated', { state: path, from: from === 0 ? 'new' : from, to: SCHEMA_VERSION });
  if (displaced.length === 0) return;
  log.error('the state file held some IPs twice (an earlier tidepool could hand out an IP of a renamed pool); each keeps its oldest holder, the others are kept in table displaced_allocations: restart the pods that hold them', {
    state: path,
    displaced: displaced.map((d) => `${d.ip}: kept ${d.keptPool}/${d.keptContainerId}, displaced ${d.pool}/${d.containerId} (netns ${d.netns})`),
  });
}

async function openKubernetesBackend(config: DaemonConfig, log: Logger, apiMetrics: KubeApiMetrics): Promise<Backend> {
  let kc: KubeConfig;
  let rest: KubeRest;
  try {
    const access = await loadKubeConfig(config.kubeconfig);
    kc = access.kc;
    rest = await createKubeRest(access, { userAgent: `tidepool-agent/${config.node}`, onCredentialRefreshFailed: credentialWarning(log), metrics: apiMetrics });
  } catch (err) {
    // A kubeconfig that cannot be read, or credentials that cannot be had (token file, exec plugin).
    throw new TidepoolError('INVALID_CONFIG', `--kubeconfig ${config.kubeconfig ?? '(default)'}: ${(err as Error).message}`, { field: '--kubeconfig' });
  }
  const agent = await openKubeAgentBackend({ rest, node: config.node, log });
  return {
    store: agent.store,
    policy: agent.policy,
    // Other agents write the same pools: the store keeps a live parsed view of each; each node fills its own part of a pool first.
    usageCacheMs: 0,
    segment: agent.segment,
    random: Math.random,
    describe: { server: kc.getCurrentCluster()?.server, selector: agent.store.selector },
    ready: agent.ready,
    async close() {
      await agent.close();
      rest.close();
    },
  };
}

function readPoolFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `--pools ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { field: '--pools' });
  }
}


