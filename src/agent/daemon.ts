import { hostname } from 'node:os';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { TidepoolError } from '../ipam/errors.ts';
import { DEFAULT_SOCKET } from '../api/protocol.ts';
import { createSqliteStore } from '../store/sqlite.ts';
import type { AllocationStore } from '../store/port.ts';
import type { Pool } from '../ipam/pool.ts';
import { credentialWarning } from '../k8s/credentials.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { createKubeRest, type KubeRest } from '../k8s/rest.ts';
import { openKubeAgentBackend } from './kube-agent.ts';
import { createStandalonePolicy, type IpamPolicy } from './policy.ts';
import { createLogger, isLogLevel, type Logger } from '../util/logger.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { formatServerAddress, parseListen, startMetricsServer } from '../util/http-endpoints.ts';
import { createIpamService } from './ipam-service.ts';
import { createAgentMetrics } from './metrics.ts';
import { startAgentServer } from './http-server.ts';
import { planPoolFile } from './pool-file.ts';
import { probeNetns } from './netns-probe.ts';

export const DAEMON_DEFAULTS = {
  socket: DEFAULT_SOCKET,
  state: '/var/lib/tidepool/state.db',
  metricsListen: '127.0.0.1:9714',
  gcInterval: '5s',
  gcGrace: '10s',
  reuseCooldown: '0s',
  exhaustedWait: '3s',
  logLevel: 'info',
  sqliteSync: 'normal',
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
  --state FILE            SQLite state file            default ${DAEMON_DEFAULTS.state}
  --socket PATH           agent socket (mode 0600)     default ${DAEMON_DEFAULTS.socket}
  --metrics-listen H:P    Prometheus /metrics; "off" disables  default ${DAEMON_DEFAULTS.metricsListen}
  --node NAME             node name recorded on allocations   default: hostname
  --gc-interval DUR       how often namespaces are checked    default ${DAEMON_DEFAULTS.gcInterval}
  --gc-grace DUR          how long a namespace must be gone   default ${DAEMON_DEFAULTS.gcGrace}
  --reuse-cooldown DUR    a released IP is not reused for DUR default ${DAEMON_DEFAULTS.reuseCooldown}
  --exhausted-wait DUR    an ADD that finds its pools full waits up to DUR for an IP to come free; 0s fails at once
                          (at most 8s: the plugin gives up after ipam.timeoutMs, 10s by default)  default ${DAEMON_DEFAULTS.exhaustedWait}
  --sqlite-sync MODE      normal (survives process crash) or full (also power loss)  default ${DAEMON_DEFAULTS.sqliteSync}
  --log-level LEVEL       debug, info, warn, error     default ${DAEMON_DEFAULTS.logLevel}
`;

export interface DaemonConfig {
  readonly store: 'sqlite' | 'kubernetes';
  readonly pools: string | undefined;
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
  readonly sqliteSync: 'normal' | 'full';
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Parses daemon flags; every error names the flag. */
export function parseDaemonArgs(argv: readonly string[]): DaemonConfig {
  const values = parseCommandFlags(
    argv,
    {
        store: { type: 'string', default: 'sqlite' },
        pools: { type: 'string' },
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
        'sqlite-sync': { type: 'string', default: DAEMON_DEFAULTS.sqliteSync },
        'log-level': { type: 'string', default: DAEMON_DEFAULTS.logLevel },
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
  const interval = parseDuration(values['gc-interval']!, '--gc-interval');
  if (interval < 100) throw new TidepoolError('INVALID_CONFIG', `--gc-interval: must be at least 100ms`, { field: '--gc-interval' });
  const exhaustedWaitMs = parseDuration(values['exhausted-wait']!, '--exhausted-wait');
  if (exhaustedWaitMs > MAX_EXHAUSTED_WAIT_MS) {
    throw new TidepoolError('INVALID_CONFIG', `--exhausted-wait: ${values['exhausted-wait']} is more than 8s; the plugin gives up on the agent after ipam.timeoutMs (10s by default)`, { field: '--exhausted-wait' });
  }
  return {
    store,
    pools,
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
    sqliteSync: sync,
    logLevel: level,
  };
}


/** A running daemon; `stop` closes the socket, timers and store. */
export interface RunningDaemon {
  readonly metricsAddress: string | undefined;
  stop(): Promise<void>;
}

/**
 * The standalone composition root: the only place that reads files, builds
 * the SQLite store, the logger and the metrics registry for the agent.
 */
export async function startDaemon(config: DaemonConfig, log: Logger = createLogger({ level: config.logLevel })): Promise<RunningDaemon> {
  const backend = config.store === 'kubernetes' ? await openKubernetesBackend(config, log) : await openSqliteBackend(config, log);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tidepool_agent_' });
  let service: ReturnType<typeof createIpamService> | undefined;
  const metrics = createAgentMetrics(registry, async () => (service ? (await service.status()).pools : []));
  service = createIpamService({
    store: backend.store,
    policy: backend.policy,
    node: config.node,
    now: Date.now,
    probeNetns: (path) => probeNetns(config.hostProc !== '/proc' && path.startsWith('/proc/') ? config.hostProc + path.slice(5) : path),
    reuseCooldownMs: config.reuseCooldownMs,
    exhaustedWaitMs: config.exhaustedWaitMs,
    sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
    gcGraceMs: config.gcGraceMs,
    usageCacheMs: backend.usageCacheMs,
    segment: backend.segment,
    random: backend.random,
    metrics,
    log,
  });
  const api = await startAgentServer({ socketPath: config.socket, service, metrics, log });
  const metricsServer = config.metricsListen
    ? await startMetricsServer({ registry, listen: config.metricsListen, ready: backend.ready, notReadyText: 'caches are still syncing or the Node object is missing', flag: '--metrics-listen' })
    : undefined;
  const metricsAddress = metricsServer ? formatServerAddress(metricsServer) : undefined;

  let gcRunning = false;
  const gcTimer = setInterval(() => {
    if (gcRunning) return;
    gcRunning = true;
    service
      .collect()
      .catch((err: unknown) => log.error('netns garbage collection failed', { err }))
      .finally(() => {
        gcRunning = false;
      });
  }, config.gcIntervalMs);
  gcTimer.unref();

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
    async stop() {
      clearInterval(gcTimer);
      await api.close();
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await backend.close();
      log.info('tidepool agent stopped');
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
  readonly describe: Record<string, unknown>;
  ready(): boolean;
  close(): Promise<void>;
}

async function openSqliteBackend(config: DaemonConfig, log: Logger): Promise<Backend> {
  const file = config.pools!;
  const pools = planPoolFile(readPoolFile(file), file);
  mkdirSync(dirname(config.state), { recursive: true });
  const store = createSqliteStore({ path: config.state, synchronous: config.sqliteSync });
  const known = new Set(pools.map((p) => p.name));
  const orphans = (await store.list()).filter((r) => !known.has(r.pool));
  if (orphans.length > 0) {
    // Kept, never dropped: a pool removed from the file by mistake must not lose its allocations.
    log.warn('allocations reference pools missing from the pool file; they are kept', { pools: [...new Set(orphans.map((r) => r.pool))], count: orphans.length });
  }
  return {
    store,
    policy: createStandalonePolicy(pools),
    // This agent is the only writer of its state file; a lost race still re-reads.
    usageCacheMs: Number.POSITIVE_INFINITY,
    describe: { state: config.state, pools: pools.map((p) => p.name) },
    ready: () => true,
    close: () => store.close(),
  };
}

async function openKubernetesBackend(config: DaemonConfig, log: Logger): Promise<Backend> {
  let kc: KubeConfig;
  let rest: KubeRest;
  try {
    const access = await loadKubeConfig(config.kubeconfig);
    kc = access.kc;
    rest = await createKubeRest(access, { userAgent: `tidepool-agent/${config.node}`, onCredentialRefreshFailed: credentialWarning(log) });
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


