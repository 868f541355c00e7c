import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { TidepoolError } from '../ipam/errors.ts';
import { DEFAULT_SOCKET } from '../api/protocol.ts';
import { createSqliteStore } from '../store/sqlite.ts';
import { createLogger, isLogLevel, type Logger } from '../util/logger.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
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
  logLevel: 'info',
  sqliteSync: 'normal',
} as const;

export const DAEMON_USAGE = `tidepool daemon --pools FILE [options]

Runs the node agent: serves the CNI plugin on a unix socket, keeps state in
SQLite, and reclaims IPs whose network namespace is gone.

  --pools FILE            IPPool objects (YAML, one or more documents)   required
  --state FILE            SQLite state file            default ${DAEMON_DEFAULTS.state}
  --socket PATH           agent socket (mode 0600)     default ${DAEMON_DEFAULTS.socket}
  --metrics-listen H:P    Prometheus /metrics; "off" disables  default ${DAEMON_DEFAULTS.metricsListen}
  --node NAME             node name recorded on allocations   default: hostname
  --gc-interval DUR       how often namespaces are checked    default ${DAEMON_DEFAULTS.gcInterval}
  --gc-grace DUR          how long a namespace must be gone   default ${DAEMON_DEFAULTS.gcGrace}
  --reuse-cooldown DUR    a released IP is not reused for DUR default ${DAEMON_DEFAULTS.reuseCooldown}
  --sqlite-sync MODE      normal (survives process crash) or full (also power loss)  default ${DAEMON_DEFAULTS.sqliteSync}
  --log-level LEVEL       debug, info, warn, error     default ${DAEMON_DEFAULTS.logLevel}
`;

export interface DaemonConfig {
  readonly pools: string;
  readonly state: string;
  readonly socket: string;
  readonly metricsListen: { host: string; port: number } | undefined;
  readonly node: string;
  readonly gcIntervalMs: number;
  readonly gcGraceMs: number;
  readonly reuseCooldownMs: number;
  readonly sqliteSync: 'normal' | 'full';
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
}

/** Parses daemon flags; every error names the flag. */
export function parseDaemonArgs(argv: readonly string[]): DaemonConfig {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        pools: { type: 'string' },
        state: { type: 'string', default: DAEMON_DEFAULTS.state },
        socket: { type: 'string', default: DAEMON_DEFAULTS.socket },
        'metrics-listen': { type: 'string', default: DAEMON_DEFAULTS.metricsListen },
        node: { type: 'string' },
        'gc-interval': { type: 'string', default: DAEMON_DEFAULTS.gcInterval },
        'gc-grace': { type: 'string', default: DAEMON_DEFAULTS.gcGrace },
        'reuse-cooldown': { type: 'string', default: DAEMON_DEFAULTS.reuseCooldown },
        'sqlite-sync': { type: 'string', default: DAEMON_DEFAULTS.sqliteSync },
        'log-level': { type: 'string', default: DAEMON_DEFAULTS.logLevel },
      },
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `tidepool daemon: ${(err as Error).message}`);
  }
  const pools = values['pools'];
  if (!pools) throw new TidepoolError('INVALID_CONFIG', '--pools is required: the file that defines the IP pools', { field: '--pools' });
  const sync = values['sqlite-sync']!;
  if (sync !== 'normal' && sync !== 'full') throw new TidepoolError('INVALID_CONFIG', `--sqlite-sync: "${sync}" must be normal or full`, { field: '--sqlite-sync' });
  const level = values['log-level']!;
  if (!isLogLevel(level)) throw new TidepoolError('INVALID_CONFIG', `--log-level: "${level}" must be debug, info, warn or error`, { field: '--log-level' });
  const interval = parseDuration(values['gc-interval']!, '--gc-interval');
  if (interval < 100) throw new TidepoolError('INVALID_CONFIG', `--gc-interval: must be at least 100ms`, { field: '--gc-interval' });
  return {
    pools,
    state: values['state']!,
    socket: values['socket']!,
    metricsListen: parseListen(values['metrics-listen']!),
    node: values['node'] ?? hostname(),
    gcIntervalMs: interval,
    gcGraceMs: parseDuration(values['gc-grace']!, '--gc-grace'),
    reuseCooldownMs: parseDuration(values['reuse-cooldown']!, '--reuse-cooldown'),
    sqliteSync: sync,
    logLevel: level,
  };
}

function parseListen(text: string): { host: string; port: number } | undefined {
  if (text === 'off') return undefined;
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TidepoolError('INVALID_CONFIG', `--metrics-listen: "${text}" must be HOST:PORT or off`, { field: '--metrics-listen' });
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
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
  const pools = planPoolFile(readPoolFile(config.pools), config.pools);
  mkdirSync(dirname(config.state), { recursive: true });
  const store = createSqliteStore({ path: config.state, synchronous: config.sqliteSync });
  const known = new Set(pools.map((p) => p.name));
  const orphans = (await store.list()).filter((r) => !known.has(r.pool));
  if (orphans.length > 0) {
    // Kept, never dropped: a pool removed from the file by mistake must not lose its allocations.
    log.warn('allocations reference pools missing from the pool file; they are kept', { pools: [...new Set(orphans.map((r) => r.pool))], count: orphans.length });
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tidepool_agent_' });
  let service: ReturnType<typeof createIpamService> | undefined;
  const metrics = createAgentMetrics(registry, async () => (service ? (await service.status()).pools : []));
  service = createIpamService({
    store,
    pools,
    node: config.node,
    now: Date.now,
    probeNetns,
    reuseCooldownMs: config.reuseCooldownMs,
    gcGraceMs: config.gcGraceMs,
    // This agent is the only writer of its state file; a lost race still re-reads.
    usageCacheMs: Number.POSITIVE_INFINITY,
    metrics,
    log,
  });
  const api = await startAgentServer({ socketPath: config.socket, service, metrics, log });
  const metricsServer = config.metricsListen ? await startMetricsServer(registry, config.metricsListen) : undefined;
  const metricsAddress = metricsServer ? formatAddressInfo(metricsServer) : undefined;

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
    socket: config.socket,
    state: config.state,
    pools: pools.map((p) => p.name),
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
      await store.close();
      log.info('tidepool agent stopped');
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

async function startMetricsServer(registry: Registry, listen: { host: string; port: number }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new TidepoolError('INVALID_CONFIG', `--metrics-listen ${listen.host}:${listen.port}: ${err.message}`, { field: '--metrics-listen' })));
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}

function formatAddressInfo(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === 'string') return String(a);
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
