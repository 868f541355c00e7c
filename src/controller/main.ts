/**
 * `tidepool controller`: the composition root of the cluster-wide
 * controller. Only this file reads flags and the environment, loads the
 * kubeconfig, and creates the clock, logger, metrics registry and servers;
 * everything it wires together receives them.
 *
 * Every replica serves the validating webhook and keeps the watch caches
 * warm; the one holding the Lease also runs the leader tasks (pool status
 * now, garbage collection next: add it to `leaderTasks`).
 */
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { TidepoolError } from '../ipam/errors.ts';
import { credentialWarning } from '../k8s/credentials.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { createKubeRest, type KubeRest } from '../k8s/rest.ts';
import { createKubeApiMetrics, type KubeApiMetrics } from '../k8s/api-metrics.ts';
import { createWorkQueueMetrics } from '../k8s/work-queue-metrics.ts';
import { registerBuildInfo } from '../util/build-info.ts';
import { registerLeaderPoolGauges } from './pool-metrics.ts';
import { IPALLOCATIONS_PATH, LABEL_POOL } from '../store/kubernetes.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { formatServerAddress, parseListen, startMetricsServer, type Listen } from '../util/http-endpoints.ts';
import { createLogger, isLogFormat, isLogLevel, type LogFormat, type LogLevel, type Logger } from '../util/logger.ts';
import { createCaBundleInjector, type CaBundleInjector } from './ca-bundle.ts';
import { IPPOOLS_PATH, createControllerCache } from './cache.ts';
import { createWebhookCertificates, planWebhookHosts } from './certificates.ts';
import { createClock, type Clock } from './clock.ts';
import { createLeaderElector } from './leader.ts';
import { runLeaderTasks, type LeaderTask } from './leader-tasks.ts';
import type { LeaderElectionConfig } from './lease-plan.ts';
import { createControllerMetrics } from './metrics.ts';
import { createPoolStatusReconciler } from './pool-status.ts';
import { createGcReconciler, type GcReconciler, type GcReconcilerDeps, type GcSettings } from './gc.ts';
import { createGcMetrics } from './metrics.ts';
import { createEventPoster } from '../k8s/events.ts';
import { createScanRequestWatch } from './scan-requests.ts';
import { createKubernetesStore } from '../store/kubernetes.ts';
import { startWebhookServer, type WebhookServer } from './webhook.ts';

export const CONTROLLER_DEFAULTS = {
  leaseName: 'tidepool-controller',
  leaseDuration: '15s',
  renewDeadline: '10s',
  retryPeriod: '2s',
  webhookListen: '0.0.0.0:9443',
  webhookConfigName: 'tidepool',
  metricsListen: '127.0.0.1:9715',
  logLevel: 'info',
  logFormat: 'json',
  gcScanInterval: '5m',
  gcOrphanConfirm: '5m',
  gcReclaimCooldown: '3s',
  gcTerminatingDelay: '0s',
  gcFinishedDelay: '0s',
  gcWorkers: 16,
} as const;

export const CONTROLLER_USAGE = `tidepool controller --namespace NS [options]

Runs the cluster controller: every replica serves the validating webhook for
IPPools and ReservedIPs; the replica holding the leader Lease also keeps
IPPool status counts.

  --namespace NS            namespace of the leader Lease and the webhook Service   required
  --kubeconfig FILE         default $KUBECONFIG, ~/.kube/config or in-cluster
  --lease-name NAME         leader election Lease            default ${CONTROLLER_DEFAULTS.leaseName}
  --identity ID             leader election identity         default $POD_NAME, else hostname_pid
  --lease-duration DUR      how long a lease holds unrenewed default ${CONTROLLER_DEFAULTS.leaseDuration}
  --renew-deadline DUR      leader gives up after failing to renew this long  default ${CONTROLLER_DEFAULTS.renewDeadline}
  --retry-period DUR        between acquire/renew attempts   default ${CONTROLLER_DEFAULTS.retryPeriod}
  --webhook-listen H:P      HTTPS webhook; "off" disables    default ${CONTROLLER_DEFAULTS.webhookListen}
  --webhook-config-name N   ValidatingWebhookConfiguration whose caBundle gets this replica's CA  default ${CONTROLLER_DEFAULTS.webhookConfigName}
  --metrics-listen H:P      /metrics, /healthz, /readyz; "off" disables  default ${CONTROLLER_DEFAULTS.metricsListen}
  --log-level LEVEL         debug, info, warn, error         default ${CONTROLLER_DEFAULTS.logLevel}
  --log-format FORMAT       json or text (time, level, message, key=value fields)  default ${CONTROLLER_DEFAULTS.logFormat}

Garbage collection (leader only; docs/gc.md):
  --gc-scan-interval DUR           full scan period                                  default ${CONTROLLER_DEFAULTS.gcScanInterval}
  --gc-orphan-confirm DUR          a scan-only finding must hold this long later      default ${CONTROLLER_DEFAULTS.gcOrphanConfirm}
  --gc-reclaim-cooldown DUR        a reclaimed IP is not handed out again for DUR      default ${CONTROLLER_DEFAULTS.gcReclaimCooldown}
  --gc-terminating-delay DUR       extra wait after a Terminating pod's deletionTimestamp  default ${CONTROLLER_DEFAULTS.gcTerminatingDelay}
  --gc-finished-delay DUR          wait after a Succeeded/Failed pod finished          default ${CONTROLLER_DEFAULTS.gcFinishedDelay}
  --gc-terminating-ready BOOL      reclaim Terminating pods on Ready nodes             default true
  --gc-terminating-not-ready BOOL  reclaim Terminating pods on NotReady nodes          default true
  --gc-workers N                   reclaims processed at once                          default ${CONTROLLER_DEFAULTS.gcWorkers}
  --gc off                         run without garbage collection
`;


export interface ControllerConfig {
  readonly namespace: string;
  readonly kubeconfig: string | undefined;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaderElection: LeaderElectionConfig;
  readonly webhookListen: Listen | undefined;
  readonly webhookConfigName: string;
  readonly metricsListen: Listen | undefined;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** Undefined with `--gc off`. */
  readonly gc: GcSettings | undefined;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

function configError(flag: string, message: string): TidepoolError {
  return new TidepoolError('INVALID_CONFIG', `${flag}: ${message}`, { field: flag });
}


/**
 * Parses controller flags; every error names the flag. The identity
 * defaults to `env.POD_NAME` (the chart sets it), else `hostname_pid`.
 */
export function parseControllerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const values = parseCommandFlags(
    argv,
    {
        namespace: { type: 'string' },
        kubeconfig: { type: 'string' },
        'lease-name': { type: 'string', default: CONTROLLER_DEFAULTS.leaseName },
        identity: { type: 'string' },
        'lease-duration': { type: 'string', default: CONTROLLER_DEFAULTS.leaseDuration },
        'renew-deadline': { type: 'string', default: CONTROLLER_DEFAULTS.renewDeadline },
        'retry-period': { type: 'string', default: CONTROLLER_DEFAULTS.retryPeriod },
        'webhook-listen': { type: 'string', default: CONTROLLER_DEFAULTS.webhookListen },
        'webhook-config-name': { type: 'string', default: CONTROLLER_DEFAULTS.webhookConfigName },
        'metrics-listen': { type: 'string', default: CONTROLLER_DEFAULTS.metricsListen },
        'log-level': { type: 'string', default: CONTROLLER_DEFAULTS.logLevel },
        'log-format': { type: 'string', default: CONTROLLER_DEFAULTS.logFormat },
        gc: { type: 'string', default: 'on' },
        'gc-scan-interval': { type: 'string', default: CONTROLLER_DEFAULTS.gcScanInterval },
        'gc-orphan-confirm': { type: 'string', default: CONTROLLER_DEFAULTS.gcOrphanConfirm },
        'gc-reclaim-cooldown': { type: 'string', default: CONTROLLER_DEFAULTS.gcReclaimCooldown },
        'gc-terminating-delay': { type: 'string', default: CONTROLLER_DEFAULTS.gcTerminatingDelay },
        'gc-finished-delay': { type: 'string', default: CONTROLLER_DEFAULTS.gcFinishedDelay },
        'gc-terminating-ready': { type: 'string', default: 'true' },
        'gc-terminating-not-ready': { type: 'string', default: 'true' },
        'gc-workers': { type: 'string', default: String(CONTROLLER_DEFAULTS.gcWorkers) },
      },
    { prefix: 'tidepool controller: ' },
  ).values as Record<string, string | undefined>;
  const namespace = values['namespace'];
  if (!namespace) {
    throw new TidepoolError('INVALID_CONFIG', '--namespace is required: the namespace of the leader Lease and the webhook Service (the chart passes $(POD_NAMESPACE))', { field: '--namespace' });
  }
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) throw configError('--namespace', `"${namespace}" is not a namespace name`);
  const leaseName = values['lease-name']!;
  if (leaseName.length > 253 || !DNS1123_SUBDOMAIN.test(leaseName)) throw configError('--lease-name', `"${leaseName}" is not a valid object name`);
  const webhookConfigName = values['webhook-config-name']!;
  if (webhookConfigName.length > 253 || !DNS1123_SUBDOMAIN.test(webhookConfigName)) throw configError('--webhook-config-name', `"${webhookConfigName}" is not a valid object name`);
  const identity = values['identity'] ?? (env['POD_NAME'] || `${hostname()}_${process.pid}`);
  if (identity === '') throw configError('--identity', 'must not be empty');
  const level = values['log-level']!;
  if (!isLogLevel(level)) throw configError('--log-level', `"${level}" must be debug, info, warn or error`);
  const logFormat = values['log-format']!;
  if (!isLogFormat(logFormat)) throw configError('--log-format', `"${logFormat}" must be json or text`);

  const leaseDurationMs = parseDuration(values['lease-duration']!, '--lease-duration');
  const renewDeadlineMs = parseDuration(values['renew-deadline']!, '--renew-deadline');
  const retryPeriodMs = parseDuration(values['retry-period']!, '--retry-period');
  if (leaseDurationMs < 1000) throw configError('--lease-duration', 'must be at least 1s (the Lease stores whole seconds)');
  if (renewDeadlineMs >= leaseDurationMs) {
    throw configError('--renew-deadline', `${formatDuration(renewDeadlineMs)} must be shorter than --lease-duration ${formatDuration(leaseDurationMs)}, so a leader stops before another may start`);
  }
  if (retryPeriodMs <= 0 || retryPeriodMs >= renewDeadlineMs) {
    throw configError('--retry-period', `${formatDuration(retryPeriodMs)} must be above 0 and shorter than --renew-deadline ${formatDuration(renewDeadlineMs)}`);
  }
  const gcSwitch = values['gc']!;
  if (gcSwitch !== 'on' && gcSwitch !== 'off') throw configError('--gc', `"${gcSwitch}" must be on or off`);
  const bool = (flag: string) => {
    const v = values[flag]!;
    if (v !== 'true' && v !== 'false') throw configError(`--${flag}`, `"${v}" must be true or false`);
    return v === 'true';
  };
  const workers = Number(values['gc-workers']);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw configError('--gc-workers', `"${values['gc-workers']}" must be a whole number from 1 to 256`);
  const scanIntervalMs = parseDuration(values['gc-scan-interval']!, '--gc-scan-interval');
  if (scanIntervalMs < 1000) throw configError('--gc-scan-interval', 'must be at least 1s');
  const gc: GcSettings | undefined =
    gcSwitch === 'off'
      ? undefined
      : {
          scanIntervalMs,
          orphanConfirmMs: parseDuration(values['gc-orphan-confirm']!, '--gc-orphan-confirm'),
          reclaimCooldownMs: parseDuration(values['gc-reclaim-cooldown']!, '--gc-reclaim-cooldown'),
          terminatingDelayMs: parseDuration(values['gc-terminating-delay']!, '--gc-terminating-delay'),
          finishedDelayMs: parseDuration(values['gc-finished-delay']!, '--gc-finished-delay'),
          terminatingOnReadyNode: bool('gc-terminating-ready'),
          terminatingOnNotReadyNode: bool('gc-terminating-not-ready'),
          workers,
        };
  return {
    gc,
    namespace,
    kubeconfig: values['kubeconfig'],
    leaseName,
    identity,
    leaderElection: { leaseDurationMs, renewDeadlineMs, retryPeriodMs },
    webhookListen: parseListen('--webhook-listen', values['webhook-listen']!, '0.0.0.0'),
    webhookConfigName,
    metricsListen: parseListen('--metrics-listen', values['metrics-listen']!, '0.0.0.0'),
    logLevel: level,
    logFormat,
  };
}

/** The real clock; the only place in src/controller that touches Date.now and timers. */
export function createSystemClock(now: () => number = Date.now): Clock {
  return createClock(now, (fn, ms) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  });
}

/** What tests (and later the simulator) may replace. */
export interface ControllerDeps {
  readonly clock?: Clock;
  readonly log?: Logger;
  /** A ready client; default one built from the kubeconfig. */
  readonly rest?: KubeRest;
  /** Metrics go here; default a new registry with the process's default metrics (which a simulated replica must not add). */
  readonly registry?: Registry;
  /** Rewires the garbage collector's dependencies: the simulator observes reclaims and plants known bugs through it. */
  readonly adjustGc?: (deps: GcReconcilerDeps) => GcReconcilerDeps;
}

/** A running controller. */
export interface RunningController {
  /** `host:port` of the webhook, or undefined when off. */
  readonly webhookAddress: string | undefined;
  readonly metricsAddress: string | undefined;
  readonly caPem: string | undefined;
  readonly isLeader: () => boolean;
  readonly ready: () => boolean;
  /** Releases the lease (a standby takes over at its next retry), then closes servers and caches. */
  stop(): Promise<void>;
}

async function loadRest(config: ControllerConfig, log: Logger, metrics: KubeApiMetrics): Promise<{ rest: KubeRest; server: string | undefined }> {
  try {
    const access = await loadKubeConfig(config.kubeconfig);
    const rest = await createKubeRest(access, { userAgent: `tidepool-controller/${config.identity}`, onCredentialRefreshFailed: credentialWarning(log), metrics });
    return { rest, server: access.kc.getCurrentCluster()?.server };
  } catch (err) {
    // A kubeconfig that cannot be read, or credentials that cannot be had (token file, exec plugin).
    throw configError('--kubeconfig', `${config.kubeconfig ?? '(default)'}: ${(err as Error).message}`);
  }
}

/** Whether the cluster serves KubeVirt VirtualMachines; a failed look counts as no (fresh reads still guard every release). */
async function servesVirtualMachines(rest: KubeRest): Promise<boolean> {
  try {
    await rest.get('/apis/kubevirt.io/v1');
    return true;
  } catch {
    return false;
  }
}

function labelSafe(pool: string): boolean {
  return pool.length <= 63;
}

export async function startController(config: ControllerConfig, deps: ControllerDeps = {}): Promise<RunningController> {
  const clock = deps.clock ?? createSystemClock();
  const log = deps.log ?? createLogger({ level: config.logLevel, format: config.logFormat, now: () => clock.now() });
  const registry = deps.registry ?? new Registry();
  // Node's process metrics under their standard names (process_*, nodejs_*); Prometheus' job label tells agent and controller apart.
  if (!deps.registry) collectDefaultMetrics({ register: registry });
  registerBuildInfo(registry, 'controller');
  const loaded = deps.rest ? { rest: deps.rest, server: undefined } : await loadRest(config, log, createKubeApiMetrics(registry));
  const { rest } = loaded;
  // Read at scrape time; set once the caches and the webhook exist.
  let ready: () => boolean = () => false;
  const metrics = createControllerMetrics(registry, () => ready());
  const background = new AbortController();
  const closers: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    background.abort();
    for (const close of closers.reverse()) await close().catch((err: unknown) => log.warn('shutdown step failed', { err }));
  };
  if (!deps.rest) closers.push(async () => rest.close());

  try {
    const virtualMachines = await servesVirtualMachines(rest);
    const cache = createControllerCache({ rest, clock, log, virtualMachines });
    cache.start();
    closers.push(() => cache.stop());

    let webhook: WebhookServer | undefined;
    let injector: CaBundleInjector | undefined;
    let caPem: string | undefined;
    if (config.webhookListen) {
      const certs = createWebhookCertificates({ hosts: planWebhookHosts(config.namespace), now: clock.now() });
      caPem = certs.caPem;
      try {
        webhook = await startWebhookServer({
          listen: config.webhookListen,
          certPem: certs.certPem,
          keyPem: certs.keyPem,
          readPools: async () => (await rest.list<unknown>(IPPOOLS_PATH)).items,
          async readAllocations(pool) {
            // Label values stop at 63 characters; a longer pool name cannot be selected, so filter here instead.
            const query = labelSafe(pool) ? { labelSelector: `${LABEL_POOL}=${pool}` } : {};
            const items = (await rest.list<{ spec?: { pool?: unknown } }>(IPALLOCATIONS_PATH, query)).items;
            return items.filter((a) => a.spec?.pool === pool);
          },
          metrics,
          log,
        });
      } catch (err) {
        throw configError('--webhook-listen', `${config.webhookListen.host}:${config.webhookListen.port}: ${(err as Error).message}`);
      }
      closers.push(() => webhook!.close());
      injector = createCaBundleInjector({ rest, configName: config.webhookConfigName, caPem: certs.caPem, clock, log });
      void injector.run(background.signal);
    }

    // A replica is ready once its caches are warm and the API server trusts its certificate: before
    // that, the Service would route webhook calls to a replica the API server cannot verify.
    ready = () => cache.synced && (injector === undefined || injector.injected);
    let metricsServer: Server | undefined;
    if (config.metricsListen) {
      metricsServer = await startMetricsServer({ registry, listen: config.metricsListen, ready, notReadyText: 'caches are still syncing or the webhook CA is not in caBundle yet', flag: '--metrics-listen' });
      const server = metricsServer;
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }

    const leaderTasks: LeaderTask[] = [createPoolStatusReconciler({ rest, cache, clock, log, metrics })];
    let leading = false;
    registerLeaderPoolGauges(registry, cache, () => leading);
    if (config.gc) {
      const store = await createKubernetesStore({ rest, informer: cache.allocations as never });
      let gc: GcReconciler | undefined;
      const gcDeps: GcReconcilerDeps = {
        rest,
        cache,
        store,
        clock,
        log,
        metrics: createGcMetrics(registry, () => clock.now(), () => gc?.oldestPending()),
        queueMetrics: createWorkQueueMetrics(registry)('garbage-collection'),
        settings: config.gc,
        event: createEventPoster({ rest, component: 'tidepool-controller', host: config.identity, now: () => clock.now(), log }),
        scanRequests: createScanRequestWatch({ rest, namespace: config.namespace, leaseName: config.leaseName, clock, log }),
      };
      gc = createGcReconciler(deps.adjustGc ? deps.adjustGc(gcDeps) : gcDeps);
      leaderTasks.push(gc);
    }
    let term: Promise<void> | undefined;
    const elector = createLeaderElector({
      rest,
      namespace: config.namespace,
      name: config.leaseName,
      identity: config.identity,
      config: config.leaderElection,
      clock,
      log,
      onStartedLeading(signal) {
        leading = true;
        metrics.leader(true);
        term = runLeaderTasks(leaderTasks, signal, { clock, log });
      },
      onStoppedLeading() {
        leading = false;
        metrics.leader(false);
      },
    });
    elector.start();

    const metricsAddress = metricsServer ? formatServerAddress(metricsServer) : undefined;
    log.info('tidepool controller started', {
      identity: config.identity,
      namespace: config.namespace,
      lease: config.leaseName,
      server: loaded.server,
      webhook: webhook?.address ?? 'off',
      webhookConfig: config.webhookListen ? config.webhookConfigName : undefined,
      metrics: metricsAddress ?? 'off',
      leaseDuration: formatDuration(config.leaderElection.leaseDurationMs),
      renewDeadline: formatDuration(config.leaderElection.renewDeadlineMs),
      retryPeriod: formatDuration(config.leaderElection.retryPeriodMs),
    });

    return {
      webhookAddress: webhook?.address,
      metricsAddress,
      caPem,
      isLeader: () => elector.isLeader,
      ready,
      async stop() {
        // The lease goes first, so a standby can take over while this replica is still closing.
        await elector.stop({ release: true });
        await term;
        await cleanup();
        log.info('tidepool controller stopped');
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}


