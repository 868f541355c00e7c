// The garbage collector against the fake API server, in virtual time.
//
// One manual clock drives the fake API server (deletionTimestamp,
// creationTimestamp) and every reconciler under test. Real work still
// happens over loopback HTTP, so time may only move once that work has
// landed: `settle()` waits until every tracked client has no request in
// flight and every open watch has delivered the server's current revision
// (a BOOKMARK pushes it there when nothing changed), and `advance()` moves
// virtual time from one pending timer to the next, settling in between, so
// a reclaim that is due at T happens at T and not at whatever moment the
// machine happened to be fast enough.
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createControllerCache, type ControllerCache } from '../../src/controller/cache.ts';
import { createClock, createManualClock, type Clock, type ManualClock } from '../../src/controller/clock.ts';
import type { EventTarget } from '../../src/k8s/events.ts';
import { createGcReconciler, type GcMetrics, type GcReconciler, type GcSettings } from '../../src/controller/gc.ts';
import { parseControllerArgs, startController, type RunningController } from '../../src/controller/main.ts';
import type { ReclaimReason } from '../../src/ipam/gc-rules.ts';
import { createKubeRest, type KubeObject, type KubeRest, type Query, type WatchEvent } from '../../src/k8s/rest.ts';
import { allocationName, createKubernetesStore, IPALLOCATIONS_PATH, type KubernetesStore } from '../../src/store/kubernetes.ts';
import { createLogger } from '../../src/util/logger.ts';
import { createFakeApiServer, type FakeApiServer } from '../apiserver/server.ts';
import { applyChartRbac, chartDenials, serviceAccountKubeconfig } from './chart-rbac.ts';

export const POOLS_PATH = '/apis/tidepool.dev/v1alpha1/ippools';
export const PODS_PATH = '/api/v1/pods';
export const NODES_PATH = '/api/v1/nodes';

/** Lets promise callbacks and loopback I/O run; never moves virtual time. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits in real time (bounded) for a condition that depends on I/O only, never on virtual time. */
export async function until(what: string, check: () => boolean | Promise<boolean>, capMs = 10_000): Promise<void> {
  const deadline = Date.now() + capMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await pause(2);
  }
  throw new Error(`timed out waiting until ${what}`);
}

// ---- virtual time ----------------------------------------------------------

/**
 * The manual clock as handed to the code under test, with its pending timers
 * visible: `advance` needs the next due time to stop there and let the I/O
 * that timer starts finish before later timers fire.
 */
interface TrackedClock extends Clock {
  nextDue(): number | undefined;
}

function trackClock(manual: ManualClock): TrackedClock {
  const pending = new Set<{ at: number }>();
  const clock: TrackedClock = {
    ...createClock(
      () => manual.now(),
      (fn, ms) => {
        const entry = { at: manual.now() + Math.max(0, ms) };
        pending.add(entry);
        const cancel = manual.setTimer(() => {
          pending.delete(entry);
          fn();
        }, ms);
        return () => {
          pending.delete(entry);
          cancel();
        };
      },
    ),
    nextDue() {
      let next: number | undefined;
      for (const e of pending) if (next === undefined || e.at < next) next = e.at;
      return next;
    },
  };
  return clock;
}

// ---- an instrumented API client ---------------------------------------------

type Verb = 'get' | 'list' | 'create' | 'replace' | 'patch' | 'delete';

/** A request held before it reaches the server until the test opens the gate. */
export interface Gate {
  /** Resolves when a matching request has been stopped at the gate. */
  readonly reached: Promise<void>;
  open(): void;
}

/**
 * A KubeRest that counts requests in flight, knows how far each open watch
 * has been delivered, can hold a watch's events back (a lagging cache), and
 * can stop one request at a gate (to interleave the test between a decision
 * and its write).
 */
export interface TrackedRest extends KubeRest {
  inFlight(): number;
  /** Whether every open watch that is not held has delivered `revision`. */
  caughtUp(revision: number): boolean;
  /** Buffers the events of watches on `path` (e.g. `/api/v1/pods`) until the returned function is called. */
  hold(path: string): () => void;
  gate(verb: Verb, path: RegExp): Gate;
  /** Opens every gate and resumes every held watch (shutdown: nothing may stay stuck). */
  releaseAll(): void;
}

interface OpenWatch {
  readonly path: string;
  delivered: number;
}

function trackRest(raw: KubeRest): TrackedRest {
  let inFlight = 0;
  const watches = new Set<OpenWatch>();
  const holds = new Map<string, Array<() => void>>();
  const gates: Array<{ verb: Verb; path: RegExp; used: boolean; reached: () => void; opened: Promise<void>; open: () => void }> = [];

  const counted =
    <A extends unknown[], R>(verb: Verb, fn: (path: string, ...args: A) => Promise<R>) =>
    async (path: string, ...args: A): Promise<R> => {
      const gate = gates.find((g) => !g.used && g.verb === verb && g.path.test(path));
      if (gate) {
        gate.used = true;
        gate.reached();
        // A request waiting at a gate is not "in flight": settle() must not wait for the test to open it.
        await gate.opened;
      }
      inFlight++;
      try {
        return await fn(path, ...args);
      } finally {
        inFlight--;
      }
    };

  return {
    get: counted('get', raw.get) as KubeRest['get'],
    list: counted('list', raw.list) as KubeRest['list'],
    create: counted('create', raw.create) as KubeRest['create'],
    replace: counted('replace', raw.replace) as KubeRest['replace'],
    patch: counted('patch', raw.patch) as KubeRest['patch'],
    delete: counted('delete', raw.delete) as KubeRest['delete'],
    watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void> {
      const w: OpenWatch = { path, delivered: Number(query['resourceVersion'] ?? 0) || 0 };
      watches.add(w);
      const deliver = (event: WatchEvent<T>) => {
        const rv = Number((event.object as KubeObject | undefined)?.metadata?.resourceVersion);
        if (Number.isFinite(rv) && rv > w.delivered) w.delivered = rv;
        onEvent(event);
      };
      return raw
        .watch<T>(
          path,
          query,
          (event) => {
            const held = holds.get(path);
            if (held) held.push(() => deliver(event));
            else deliver(event);
          },
          signal,
        )
        .finally(() => watches.delete(w));
    },
    close: () => raw.close(),
    inFlight: () => inFlight,
    caughtUp(revision) {
      for (const w of watches) if (!holds.has(w.path) && w.delivered < revision) return false;
      return true;
    },
    hold(path) {
      if (!holds.has(path)) holds.set(path, []);
      return () => {
        const buffered = holds.get(path) ?? [];
        holds.delete(path);
        for (const deliver of buffered) deliver();
      };
    },
    gate(verb, path) {
      let reached!: () => void;
      let open!: () => void;
      // Bounded: if the code under test never sends the request, the test fails instead of hanging.
      const reachedP = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${verb} request matching ${path} within 10 s`)), 10_000);
        reached = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      reachedP.catch(() => {});
      const opened = new Promise<void>((r) => (open = r));
      gates.push({ verb, path, used: false, reached, opened, open });
      return { reached: reachedP, open };
    },
    releaseAll() {
      for (const g of gates) {
        g.used = true;
        g.open();
      }
      for (const path of [...holds.keys()]) {
        const buffered = holds.get(path) ?? [];
        holds.delete(path);
        for (const deliver of buffered) deliver();
      }
    },
  };
}

// ---- recording fakes -----------------------------------------------------------

export interface RecordedReclaim {
  readonly reason: ReclaimReason;
  readonly latencySeconds: number;
  readonly at: number;
}

/** GcMetrics that remembers every call, with the virtual time of each reclaim. */
export interface RecordingGcMetrics extends GcMetrics {
  readonly reclaims: RecordedReclaim[];
  readonly failures: ReclaimReason[];
  readonly scans: Array<{ records: number; at: number }>;
  invalid: number;
}

function recordingMetrics(clock: Clock): RecordingGcMetrics {
  const m: RecordingGcMetrics = {
    reclaims: [],
    failures: [],
    scans: [],
    invalid: 0,
    reclaimed: (reason, latencySeconds) => void m.reclaims.push({ reason, latencySeconds, at: clock.now() }),
    failed: (reason) => void m.failures.push(reason),
    candidates: () => {},
    scan: (records) => void m.scans.push({ records, at: clock.now() }),
    invalidRecord: () => void m.invalid++,
  };
  return m;
}

export interface RecordedEvent {
  readonly target: EventTarget;
  readonly reason: string;
  readonly message: string;
  readonly at: number;
}

// ---- the harness ---------------------------------------------------------------

/** One controller replica's garbage collector, composed directly for observability. */
export interface GcInstance {
  readonly name: string;
  readonly rest: TrackedRest;
  readonly cache: ControllerCache;
  readonly store: KubernetesStore;
  readonly reconciler: GcReconciler;
  readonly metrics: RecordingGcMetrics;
  readonly events: RecordedEvent[];
  /** Parsed JSON log lines. */
  readonly logs: Array<Record<string, unknown>>;
  /** Starts a leadership term (runs the reconciler until `stepDown`). */
  lead(): void;
  /** Ends the term; resolves once the reconciler has nothing in flight. */
  stepDown(): Promise<void>;
  readonly leading: boolean;
  stop(): Promise<void>;
}

export interface PodSpec {
  readonly namespace?: string;
  readonly name: string;
  readonly node: string;
  /** Default Running. */
  readonly phase?: 'Pending' | 'Running';
  /** `status.podIPs` of a Running pod; default none. */
  readonly podIPs?: readonly string[];
  readonly hostNetwork?: boolean;
  readonly ownerStatefulSet?: string;
  readonly terminationGracePeriodSeconds?: number;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface AllocateSpec {
  readonly pool: string;
  readonly ip: string;
  readonly node: string;
  readonly pod?: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly containerId?: string;
  readonly ifname?: string;
  readonly statefulSet?: { readonly namespace: string; readonly name: string; readonly ordinal: number };
  readonly vm?: { readonly namespace: string; readonly name: string };
  /** Default now. */
  readonly allocatedAt?: number;
  /** Merged into spec.owner last: for malformed records. */
  readonly ownerOverrides?: Record<string, unknown>;
}

/** An IPAllocation as stored on the fake API server. */
export interface StoredAllocation {
  readonly metadata: { name: string; resourceVersion: string; labels: Record<string, string> };
  readonly spec: {
    pool: string;
    ip: string;
    owner?: { podNamespace?: string; podName?: string; podUid?: string; node: string; containerId: string; ifname: string; allocatedAt: string };
    releasedAt?: string;
    reusableAt?: string;
  };
}

export interface GcHarness {
  readonly server: FakeApiServer;
  /** The test's own client, as the administrator: setup and checks; not tracked, never gated. */
  readonly rest: KubeRest;
  /** A client that is the chart's agent account, for an agent's store. */
  readonly agentRest: KubeRest;
  readonly clock: ManualClock;
  now(): number;
  /** Until every tracked client is idle and every open, unheld watch has delivered the server's current revision. */
  settle(): Promise<void>;
  /** Moves virtual time forward by `ms`, timer by timer, settling before and after each. */
  advance(ms: number): Promise<void>;
  /** Advances to the absolute virtual time `at` (no-op if already past). */
  advanceTo(at: number): Promise<void>;

  startGc(opts?: { name?: string; settings?: Partial<GcSettings>; lead?: boolean }): Promise<GcInstance>;
  /** The real composition root (`startController`), sharing the harness clock. */
  startController(args: readonly string[]): Promise<{ controller: RunningController; rest: TrackedRest; logs: Array<Record<string, unknown>> }>;

  node(name: string, opts?: { ready?: boolean }): Promise<void>;
  setNodeReady(name: string, ready: boolean): Promise<void>;
  deleteNode(name: string): Promise<void>;
  namespace(name: string): Promise<void>;
  deleteNamespace(name: string): Promise<void>;
  pool(name: string, subnet: string, ips: readonly string[]): Promise<void>;
  deletePool(name: string): Promise<void>;
  /** Creates a pod bound to its node and returns its UID. */
  pod(p: PodSpec): Promise<string>;
  /** Graceful delete; returns the deletionTimestamp (ms) it set, or undefined if the pod was removed at once. */
  deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<number | undefined>;
  /** Removes the pod at once (`--force --grace-period=0`, or the kubelet's final delete). */
  forceDeletePod(namespace: string, name: string): Promise<void>;
  /** Succeeded/Failed with its containers' finishedAt (omitted when undefined) and a status reason. */
  finishPod(namespace: string, name: string, phase: 'Succeeded' | 'Failed', opts?: { finishedAt?: number; reason?: string }): Promise<void>;
  setPodStatus(namespace: string, name: string, status: Record<string, unknown>): Promise<void>;
  statefulSet(namespace: string, name: string, replicas: number): Promise<void>;
  scaleStatefulSet(namespace: string, name: string, replicas: number): Promise<void>;
  deleteStatefulSet(namespace: string, name: string): Promise<void>;
  virtualMachine(namespace: string, name: string): Promise<void>;
  deleteVirtualMachine(namespace: string, name: string): Promise<void>;
  /** Writes an IPAllocation exactly as an agent's reserve does; returns its name. */
  allocate(a: AllocateSpec): Promise<string>;
  /** A Running pod on `node` holding `ip` of `pool`: the pod, then its allocation (as the agent's ADD does). */
  podWithIp(p: PodSpec & { pool: string; ip: string; statefulSet?: AllocateSpec['statefulSet']; vm?: AllocateSpec['vm'] }): Promise<{ uid: string; name: string; containerId: string }>;
  allocation(pool: string, ip: string): StoredAllocation | undefined;
  /** Free: released (or never written). */
  isFree(pool: string, ip: string): boolean;
  /** `spec.releasedAt` of a released allocation, in ms. */
  releasedAt(pool: string, ip: string): number | undefined;
  close(): Promise<void>;
}

export const VM_KIND = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true } as const;

export async function startGcHarness(): Promise<GcHarness> {
  const manual = createManualClock();
  const clock = trackClock(manual);
  // The server's controllers (garbage collector, namespace, pod GC) run in the same virtual time.
  const server = await createFakeApiServer({
    now: () => new Date(manual.now()),
    kinds: [VM_KIND],
    authentication: true,
    controllerTimers: { now: () => clock.now(), after: (ms, fn) => clock.setTimer(fn, ms) },
  });
  const identities = await applyChartRbac(server);
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const rest = await createKubeRest(kc);
  // The collector and the controller run as the chart's controller account, the store an agent writes with as the agent's.
  const controllerKc = new KubeConfig();
  controllerKc.loadFromString(serviceAccountKubeconfig(server, identities.controller));
  const agentKc = new KubeConfig();
  agentKc.loadFromString(serviceAccountKubeconfig(server, identities.agent));
  const agentRest = await createKubeRest(agentKc);
  const tracked = new Set<TrackedRest>();
  const instances: GcInstance[] = [];
  const controllers: RunningController[] = [];

  async function newTrackedRest(): Promise<TrackedRest> {
    const t = trackRest(await createKubeRest(controllerKc));
    tracked.add(t);
    return t;
  }

  async function settle(): Promise<void> {
    const deadline = Date.now() + 15_000;
    let quiet = 0;
    while (quiet < 3) {
      if (Date.now() > deadline) {
        const busy = [...tracked].map((t) => t.inFlight()).join(',');
        throw new Error(`settle: still busy after 15 s (requests in flight per client: ${busy})`);
      }
      const revision = Number(server.resourceVersion());
      const idle = [...tracked].every((t) => t.inFlight() === 0);
      const caughtUp = [...tracked].every((t) => t.caughtUp(revision));
      if (idle && caughtUp) quiet++;
      else {
        quiet = 0;
        if (!caughtUp) server.sendBookmarks();
      }
      await tick();
      if (quiet === 0) await pause(1);
    }
  }

  async function advanceTo(target: number): Promise<void> {
    for (let steps = 0; ; steps++) {
      if (steps > 100_000) throw new Error('advance: timers keep re-arming at the same moment');
      await settle();
      const next = clock.nextDue();
      if (next === undefined || next > target) break;
      await manual.advance(Math.max(0, next - manual.now()));
    }
    if (manual.now() < target) await manual.advance(target - manual.now());
    await settle();
  }

  const json = <T>(o: unknown) => o as T;
  const settleAfter = async <T>(p: Promise<T>): Promise<T> => {
    const out = await p;
    await settle();
    return out;
  };

  const h: GcHarness = {
    server,
    rest,
    agentRest,
    clock: manual,
    now: () => manual.now(),
    settle,
    advance: (ms) => advanceTo(manual.now() + ms),
    advanceTo,

    async startGc(opts = {}) {
      const name = opts.name ?? `gc-${instances.length + 1}`;
      const irest = await newTrackedRest();
      const logs: Array<Record<string, unknown>> = [];
      const log = createLogger({ level: 'debug', now: () => manual.now(), write: (line) => void logs.push(JSON.parse(line) as Record<string, unknown>), bindings: { replica: name } });
      const cache = createControllerCache({ rest: irest, clock, log, virtualMachines: true });
      cache.start();
      await cache.waitForSync();
      const store = await createKubernetesStore({ rest: irest, informer: cache.allocations as never });
      const metrics = recordingMetrics(clock);
      const events: RecordedEvent[] = [];
      const reconciler = createGcReconciler({
        rest: irest,
        cache,
        store,
        clock,
        log,
        metrics,
        settings: opts.settings,
        event: (target, reason, message) => void events.push({ target, reason, message, at: manual.now() }),
      });
      let term: AbortController | undefined;
      let running: Promise<void> | undefined;
      const inst: GcInstance = {
        name,
        rest: irest,
        cache,
        store,
        reconciler,
        metrics,
        events,
        logs,
        lead() {
          if (term && !term.signal.aborted) return;
          term = new AbortController();
          running = reconciler.run(term.signal);
        },
        async stepDown() {
          term?.abort();
          await running;
        },
        get leading() {
          return term !== undefined && !term.signal.aborted;
        },
        async stop() {
          term?.abort();
          await running;
          await store.close();
          // An informer in its error backoff sleeps in virtual time: move the clock until it notices the stop.
          let stopped = false;
          const stopping = cache.stop().then(() => void (stopped = true));
          for (let i = 0; i < 100 && !stopped; i++) {
            await tick();
            if (!stopped) await manual.advance(5_000);
          }
          await stopping;
          tracked.delete(irest);
          irest.close();
        },
      };
      instances.push(inst);
      if (opts.lead !== false) inst.lead();
      await settle();
      return inst;
    },

    async startController(args) {
      const crest = await newTrackedRest();
      const logs: Array<Record<string, unknown>> = [];
      const config = parseControllerArgs(['--namespace', 'kube-system', '--identity', `controller-${controllers.length + 1}`, '--webhook-listen', 'off', ...args]);
      const log = createLogger({ level: 'debug', now: () => manual.now(), write: (line) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
      const controller = await startController(config, { clock, rest: crest, log });
      controllers.push(controller);
      await settle();
      return { controller, rest: crest, logs };
    },

    async node(name, opts = {}) {
      await rest.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
      await h.setNodeReady(name, opts.ready ?? true);
    },
    async setNodeReady(name, ready) {
      await settleAfter(rest.patch(`/api/v1/nodes/${name}/status`, { status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'NodeStatusUnknown' }] } }));
    },
    async deleteNode(name) {
      await settleAfter(rest.delete(`/api/v1/nodes/${name}`));
    },
    async namespace(name) {
      await settleAfter(rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
    },
    async deleteNamespace(name) {
      await settleAfter(rest.delete(`/api/v1/namespaces/${name}`));
    },
    async pool(name, subnet, ips) {
      await settleAfter(rest.create(POOLS_PATH, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec: { subnet, ips: [...ips] } }));
    },
    async deletePool(name) {
      await settleAfter(rest.delete(`${POOLS_PATH}/${name}`));
    },
    async pod(p) {
      const ns = p.namespace ?? 'default';
      const ownerReferences = p.ownerStatefulSet
        ? [
            {
              apiVersion: 'apps/v1',
              kind: 'StatefulSet',
              name: p.ownerStatefulSet,
              uid: json<{ metadata: { uid: string } }>(await rest.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/${p.ownerStatefulSet}`)).metadata.uid,
              controller: true,
            },
          ]
        : undefined;
      const created = await rest.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: ns, ...(p.labels ? { labels: p.labels } : {}), ...(ownerReferences ? { ownerReferences } : {}) },
        spec: {
          nodeName: p.node,
          containers: [{ name: 'c', image: 'pause' }],
          ...(p.hostNetwork ? { hostNetwork: true } : {}),
          ...(p.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: p.terminationGracePeriodSeconds } : {}),
        },
      });
      if ((p.phase ?? 'Running') === 'Running') {
        const ips = p.podIPs ?? [];
        await rest.patch(`/api/v1/namespaces/${ns}/pods/${p.name}/status`, {
          status: {
            phase: 'Running',
            podIPs: ips.map((ip) => ({ ip })),
            ...(ips[0] ? { podIP: ips[0] } : {}),
            containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'pause', imageID: '', state: { running: { startedAt: new Date(manual.now()).toISOString() } } }],
          },
        });
      }
      await settle();
      return created.metadata.uid;
    },
    async deletePod(namespace, name, gracePeriodSeconds) {
      const out = await rest.delete<{ metadata?: { deletionTimestamp?: string } }>(`/api/v1/namespaces/${namespace}/pods/${name}`, gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds });
      await settle();
      const ts = out?.metadata?.deletionTimestamp;
      return ts ? Date.parse(ts) : undefined;
    },
    async forceDeletePod(namespace, name) {
      await settleAfter(rest.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0 }));
    },
    async finishPod(namespace, name, phase, opts = {}) {
      const terminated = opts.finishedAt === undefined ? undefined : { exitCode: phase === 'Succeeded' ? 0 : 137, reason: phase === 'Succeeded' ? 'Completed' : 'Error', startedAt: new Date(opts.finishedAt - 1000).toISOString(), finishedAt: new Date(opts.finishedAt).toISOString() };
      await h.setPodStatus(namespace, name, {
        phase,
        ...(opts.reason ? { reason: opts.reason, message: `pod ${opts.reason.toLowerCase()}` } : {}),
        containerStatuses: terminated ? [{ name: 'c', ready: false, restartCount: 0, image: 'pause', imageID: '', state: { terminated } }] : [],
      });
    },
    async setPodStatus(namespace, name, status) {
      await settleAfter(rest.patch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status }));
    },
    async statefulSet(namespace, name, replicas) {
      await settleAfter(
        rest.create(`/apis/apps/v1/namespaces/${namespace}/statefulsets`, {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata: { name, namespace },
          spec: { replicas, serviceName: name, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'pause' }] } } },
        }),
      );
    },
    async scaleStatefulSet(namespace, name, replicas) {
      await settleAfter(rest.patch(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`, { spec: { replicas } }));
    },
    async deleteStatefulSet(namespace, name) {
      await settleAfter(rest.delete(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`));
    },
    async virtualMachine(namespace, name) {
      await settleAfter(rest.create(`/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachines`, { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name, namespace }, spec: { running: true } }));
    },
    async deleteVirtualMachine(namespace, name) {
      await settleAfter(rest.delete(`/apis/kubevirt.io/v1/namespaces/${namespace}/virtualmachines/${name}`));
    },

    async allocate(a) {
      const name = allocationName(a.pool, a.ip);
      const owner: Record<string, unknown> = {
        ...(a.pod ? { podNamespace: a.pod.namespace, podName: a.pod.name, podUid: a.pod.uid } : {}),
        node: a.node,
        containerId: a.containerId ?? `ctr-${a.pod?.uid ?? a.ip}`,
        ifname: a.ifname ?? 'eth0',
        netns: `/var/run/netns/cni-${(a.pod?.uid ?? a.ip).slice(0, 8)}`,
        network: 'underlay',
        allocatedAt: new Date(a.allocatedAt ?? manual.now()).toISOString(),
        ...(a.statefulSet ? { statefulSet: a.statefulSet } : {}),
        ...(a.vm ? { vm: a.vm } : {}),
        ...a.ownerOverrides,
      };
      for (const [k, v] of Object.entries(owner)) if (v === undefined) delete owner[k];
      const body = {
        apiVersion: 'tidepool.dev/v1alpha1',
        kind: 'IPAllocation',
        metadata: { name, labels: { 'tidepool.dev/pool': a.pool, 'tidepool.dev/node': a.node, 'tidepool.dev/state': 'allocated' } },
        spec: { pool: a.pool, ip: a.ip, owner },
      };
      const existing = h.allocation(a.pool, a.ip);
      // An agent reuses a released object at its resourceVersion (ADR 0005); a held one is never overwritten.
      if (existing?.spec.owner) throw new Error(`${name} is held by ${existing.spec.owner.podName ?? existing.spec.owner.containerId}`);
      if (existing) await agentRest.replace(`${IPALLOCATIONS_PATH}/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion } });
      else await agentRest.create(IPALLOCATIONS_PATH, body);
      await settle();
      return name;
    },
    async podWithIp(p) {
      const ns = p.namespace ?? 'default';
      const uid = await h.pod({ ...p, podIPs: p.podIPs ?? [p.ip] });
      const containerId = `ctr-${uid}`;
      await h.allocate({ pool: p.pool, ip: p.ip, node: p.node, pod: { namespace: ns, name: p.name, uid }, containerId, statefulSet: p.statefulSet, vm: p.vm });
      return { uid, name: p.name, containerId };
    },
    allocation(pool, ip) {
      const name = allocationName(pool, ip);
      return server.objects('ipallocations').find((o) => o.metadata.name === name) as unknown as StoredAllocation | undefined;
    },
    isFree(pool, ip) {
      const a = h.allocation(pool, ip);
      return !a || (a.spec.owner === undefined && a.metadata.labels['tidepool.dev/state'] === 'released');
    },
    releasedAt(pool, ip) {
      const a = h.allocation(pool, ip);
      return a?.spec.releasedAt ? Date.parse(a.spec.releasedAt) : undefined;
    },

    async close() {
      for (const t of tracked) t.releaseAll();
      for (const c of controllers) await c.stop().catch(() => {});
      for (const i of instances) await i.stop().catch(() => {});
      rest.close();
      agentRest.close();
      const refused = chartDenials(server, identities);
      await server.close();
      if (refused.length) throw new Error(`RBAC refused ${refused.length} request(s) of tidepool's ServiceAccounts; the chart does not grant them:\n${refused.join('\n')}`);
    },
  };
  return h;
}

/** The Events a reclaim of `ip` produced on `instance`. */
export function reclaimEvents(inst: GcInstance, ip: string): RecordedEvent[] {
  return inst.events.filter((e) => e.reason === 'IPReclaimed' && new RegExp(`reclaimed ${ip.replace(/\./g, '\\.')} `).test(e.message));
}

/** The bound every row of the reclaim table promises, in virtual time. */
export const BOUND_MS = 2_000;

export interface ExpectedReclaim {
  readonly pool: string;
  readonly ip: string;
  readonly reason: ReclaimReason;
  /** UID of the owner whose IP it was. */
  readonly uid?: string;
  /** The moment the IP became reclaimable (virtual ms). */
  readonly from: number;
  /** Default BOUND_MS; 0 for "at once" (a takeover scan). */
  readonly within?: number;
  /**
   * Most the latency sample may say (ms): the histogram counts from the moment
   * the IP became reclaimable, which may precede `from` (a controller that was
   * down). Default `within`.
   */
  readonly latencyMs?: number;
  /** The pod that should get an Event too (it still exists). */
  readonly podEvent?: { readonly namespace: string; readonly name: string };
}

/**
 * Checks one reclaim as every row requires: the IP is free, released in
 * [from, from + within], with a cooldown, reported once by metric (with a
 * latency) and by Event on the pool naming IP, pod UID and reason, and on the
 * pod when it still exists. Returns the release time.
 */
export function expectReclaimed(h: GcHarness, inst: GcInstance, x: ExpectedReclaim): number {
  const a = h.allocation(x.pool, x.ip);
  assert.ok(a, `${x.pool}.${x.ip} exists`);
  assert.equal(a.spec.owner, undefined, `${x.ip} was reclaimed (owner cleared): ${JSON.stringify(a.spec)}`);
  assert.equal(a.metadata.labels['tidepool.dev/state'], 'released');
  const at = Date.parse(a.spec.releasedAt ?? '');
  const within = x.within ?? BOUND_MS;
  assert.ok(at >= x.from && at <= x.from + within, `${x.ip} released ${at - x.from} ms after it became reclaimable; expected 0..${within} ms`);
  assert.ok(a.spec.reusableAt, 'a reclaimed IP carries its cooldown');
  const events = reclaimEvents(inst, x.ip).filter((e) => e.at === at);
  const poolEvents = events.filter((e) => e.target.kind === 'IPPool');
  assert.equal(poolEvents.length, 1, `one IPReclaimed Event on the pool for ${x.ip}: ${JSON.stringify(inst.events)}`);
  const message = poolEvents[0]!.message;
  assert.equal(poolEvents[0]!.target.name, x.pool);
  assert.ok(message.includes(x.ip) && message.endsWith(`: ${x.reason}`), `Event names the IP and the reason ${x.reason}: ${message}`);
  if (x.uid) assert.ok(message.includes(`uid ${x.uid}`), `Event names the pod UID ${x.uid}: ${message}`);
  const podEvents = events.filter((e) => e.target.kind === 'Pod');
  if (x.podEvent) {
    assert.equal(podEvents.length, 1, `one IPReclaimed Event on pod ${x.podEvent.namespace}/${x.podEvent.name}`);
    const target = podEvents[0]!.target;
    assert.deepEqual([target.kind === 'Pod' ? target.namespace : undefined, target.name], [x.podEvent.namespace, x.podEvent.name]);
    if (x.uid) assert.equal(podEvents[0]!.target.uid, x.uid, 'the Pod Event names the pod by UID');
    assert.equal(podEvents[0]!.message, message);
  }
  const metric = inst.metrics.reclaims.filter((r) => r.at === at && r.reason === x.reason);
  assert.ok(metric.length >= 1, `reclaim metric with reason ${x.reason} at the release: ${JSON.stringify(inst.metrics.reclaims)}`);
  const most = x.latencyMs ?? within;
  for (const m of metric) assert.ok(Number.isFinite(m.latencySeconds) && m.latencySeconds >= 0 && m.latencySeconds <= most / 1000, `latency sample ${m.latencySeconds} s, expected 0..${most / 1000} s`);
  return at;
}

/** The IP is still held by the pod with `uid`. */
export function expectHeld(h: GcHarness, pool: string, ip: string, uid: string, why = ''): void {
  const a = h.allocation(pool, ip);
  assert.ok(a?.spec.owner, `${ip} still allocated${why ? ` (${why})` : ''}: ${JSON.stringify(a?.spec)}`);
  assert.equal(a.spec.owner.podUid, uid, `${ip} still held by ${uid}`);
  assert.equal(a.metadata.labels['tidepool.dev/state'], 'allocated');
}

/** Every reclaim produced exactly one latency sample and one pool Event. */
export function expectOnePerReclaim(inst: GcInstance): void {
  const poolEvents = inst.events.filter((e) => e.reason === 'IPReclaimed' && e.target.kind === 'IPPool');
  assert.equal(inst.metrics.reclaims.length, poolEvents.length, 'one latency sample per reclaim');
  assert.deepEqual(inst.metrics.reclaims.map((r) => r.at).sort(), poolEvents.map((e) => e.at).sort());
}


/** The pool the collector suites share: `lan`, 10.20.0.10-99. */
export const LAN_POOL = 'lan';

/** A harness with node `n1` and pool `lan`, the starting point of the collector suites. */
export async function startLanGcHarness(): Promise<GcHarness> {
  const h = await startGcHarness();
  await h.node('n1');
  await h.pool(LAN_POOL, '10.20.0.0/24', ['10.20.0.10-10.20.0.99']);
  return h;
}
