// Leader election against the fake API server, in virtual time: two
// electors share one manual clock, so lease expiry is exact and the test
// never sleeps for real lease durations.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../src/k8s/rest.ts';
import { createManualClock, type ManualClock } from '../src/controller/clock.ts';
import { createLeaderElector, type LeaderElector } from '../src/controller/leader.ts';
import { DEFAULT_LEADER_ELECTION } from '../src/controller/lease-plan.ts';
import { silentLogger } from '../src/util/logger.ts';
import { createFakeApiServer, type FakeApiServer } from './apiserver/server.ts';
import { applyChartRbac, chartDenials, serviceAccountKubeconfig } from './helpers/chart-rbac.ts';

const LEASE_PATH = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller';

interface Replica {
  readonly id: string;
  readonly elector: LeaderElector;
  /** Leader-only work: the signal of the current term, while leading. */
  signal: AbortSignal | undefined;
  terms: number;
  stops: number;
}

interface Cluster {
  readonly server: FakeApiServer;
  readonly rest: KubeRest;
  /** Resolves once no elector has an API request in flight. */
  quiesce(): Promise<void>;
  readonly clock: ManualClock;
  /** Every moment at which more than one replica believed it led. */
  readonly overlaps: string[];
  replica(id: string): Replica;
  close(): Promise<void>;
}

async function openCluster(): Promise<Cluster> {
  const server = await createFakeApiServer({ authentication: true });
  const identities = await applyChartRbac(server);
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const clients: KubeRest[] = [];
  const rest = await createKubeRest(kc);
  // The electors are the chart's controller account; the test reads and meddles as the administrator.
  const controllerKc = new KubeConfig();
  controllerKc.loadFromString(serviceAccountKubeconfig(server, identities.controller));
  const raw = await createKubeRest(controllerKc);
  clients.push(rest, raw);
  // Counting requests in flight lets virtual time move only while every elector is asleep, however slow the machine.
  let inFlight = 0;
  const counted = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    inFlight++;
    try {
      return await fn(...args);
    } finally {
      inFlight--;
    }
  };
  const electorRest: KubeRest = { ...raw, get: counted(raw.get), create: counted(raw.create), replace: counted(raw.replace) } as KubeRest;
  const clock = createManualClock();
  const replicas: Replica[] = [];
  const overlaps: string[] = [];
  const check = () => {
    const leading = replicas.filter((r) => r.signal && !r.signal.aborted).map((r) => r.id);
    if (leading.length > 1) overlaps.push(leading.join(','));
  };
  return {
    server,
    rest,
    async quiesce() {
      for (let idle = 0; idle < 3; ) {
        await new Promise((r) => setImmediate(r));
        idle = inFlight === 0 ? idle + 1 : 0;
        if (inFlight > 0) await new Promise((r) => setTimeout(r, 2));
      }
    },
    clock,
    overlaps,
    replica(id) {
      const r: Replica = {
        id,
        signal: undefined,
        terms: 0,
        stops: 0,
        elector: createLeaderElector({
          rest: electorRest,
          namespace: 'kube-system',
          name: 'tidepool-controller',
          identity: id,
          config: DEFAULT_LEADER_ELECTION,
          clock,
          log: silentLogger,
          onStartedLeading(signal) {
            r.signal = signal;
            r.terms++;
            check();
          },
          onStoppedLeading() {
            assert.equal(r.signal?.aborted, true, 'the term signal aborts before onStoppedLeading');
            r.stops++;
          },
        }),
      };
      replicas.push(r);
      return r;
    },
    async close() {
      for (const r of replicas) await r.elector.stop({ release: false });
      for (const c of clients) c.close();
      const refused = chartDenials(server, identities);
      await server.close();
      assert.deepEqual(refused, [], 'RBAC refused none of the electors\' requests');
    },
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Starts replica `id` and waits until it leads. */
async function startLeader(c: Cluster, id: string): Promise<Replica> {
  const r = c.replica(id);
  r.elector.start();
  await until(`${id} leads`, () => r.elector.isLeader);
  return r;
}

/** Starts replica `id` and waits until it has seen `leader` holding the lease. */
async function startStandby(c: Cluster, id: string, leader: string): Promise<Replica> {
  const r = c.replica(id);
  r.elector.start();
  await until(`${id} saw ${leader} holding the lease`, () => r.elector.observedHolder === leader);
  return r;
}

/** Advances virtual time in retry-period steps, letting each round of API calls finish. */
async function runFor(c: Cluster, ms: number, whileWaiting?: () => boolean): Promise<void> {
  for (let t = 0; t < ms; t += 500) {
    // Each attempt is real HTTP: let every one land before time moves on.
    await c.quiesce();
    await c.clock.advance(500);
    await c.quiesce();
    if (whileWaiting && !whileWaiting()) return;
  }
}

describe('leader election (fake API server, virtual time)', () => {
  test('the first replica creates the Lease and leads; the second stands by while it renews', async () => {
    const c = await openCluster();
    try {
      const a = await startLeader(c, 'a');
      const b = await startStandby(c, 'b', 'a');
      await runFor(c, 60_000);
      assert.equal(a.elector.isLeader, true);
      assert.equal(b.elector.isLeader, false);
      assert.equal(b.terms, 0);
      const lease = await c.rest.get<any>(LEASE_PATH);
      assert.equal(lease.spec.holderIdentity, 'a');
      assert.equal(lease.spec.leaseDurationSeconds, 15);
      assert.equal(lease.spec.leaseTransitions, 0);
      assert.equal(Date.parse(lease.spec.renewTime) > c.clock.now() - 3_000, true, 'renewed within the last retry period');
      assert.deepEqual(c.overlaps, []);
    } finally {
      await c.close();
    }
  });

  test('a crashed leader (no release) is replaced once its lease expires, not before', async () => {
    const c = await openCluster();
    try {
      const a = await startLeader(c, 'a');
      const b = await startStandby(c, 'b', 'a');
      const crashedAt = c.clock.now();
      const lastRenew = Date.parse((await c.rest.get<any>(LEASE_PATH)).spec.renewTime);
      await a.elector.stop({ release: false });
      await runFor(c, 30_000, () => !b.elector.isLeader);
      assert.equal(b.elector.isLeader, true);
      const lease = await c.rest.get<any>(LEASE_PATH);
      assert.equal(lease.spec.holderIdentity, 'b');
      assert.equal(lease.spec.leaseTransitions, 1);
      const tookOver = Date.parse(lease.spec.acquireTime);
      assert.ok(tookOver >= lastRenew + 15_000, `took over ${tookOver - lastRenew} ms after the last renewal; the lease lasts 15 s`);
      assert.ok(tookOver <= crashedAt + 15_000 + DEFAULT_LEADER_ELECTION.retryPeriodMs, 'took over within a retry period of expiry');
      assert.deepEqual(c.overlaps, []);
    } finally {
      await c.close();
    }
  });

  test('a clean stop releases the lease and the standby takes over at its next retry', async () => {
    const c = await openCluster();
    try {
      const a = await startLeader(c, 'a');
      const b = await startStandby(c, 'b', 'a');
      const signal = a.signal!;
      await a.elector.stop();
      assert.equal(signal.aborted, true, 'leader-only work is told to stop');
      assert.equal(a.stops, 1);
      assert.equal((await c.rest.get<any>(LEASE_PATH)).spec.holderIdentity, '');
      const stoppedAt = c.clock.now();
      await runFor(c, 10_000, () => !b.elector.isLeader);
      assert.equal(b.elector.isLeader, true);
      assert.ok(c.clock.now() - stoppedAt <= DEFAULT_LEADER_ELECTION.retryPeriodMs, 'no waiting for expiry');
    } finally {
      await c.close();
    }
  });

  test('a leader that cannot renew stops leading by the renew deadline, before its lease expires', async () => {
    const c = await openCluster();
    try {
      const a = await startLeader(c, 'a');
      const renewed = Date.parse((await c.rest.get<any>(LEASE_PATH)).spec.renewTime);
      const fault = c.server.injectFault({ resource: 'leases', status: 503 });
      await runFor(c, 12_000, () => a.elector.isLeader);
      assert.equal(a.elector.isLeader, false);
      assert.equal(a.signal?.aborted, true);
      assert.ok(c.clock.now() - renewed <= DEFAULT_LEADER_ELECTION.renewDeadlineMs + 500, 'stopped at the renew deadline');
      assert.ok(c.clock.now() < renewed + DEFAULT_LEADER_ELECTION.leaseDurationMs, 'and before the lease expired');
      fault.remove();
      await runFor(c, 4_000, () => !a.elector.isLeader);
      assert.equal(a.elector.isLeader, true, 'leads again once the API answers');
      assert.equal(a.terms, 2);
    } finally {
      await c.close();
    }
  });

  test('a leader whose lease was taken over stops at its next attempt', async () => {
    const c = await openCluster();
    try {
      const a = await startLeader(c, 'a');
      const lease = await c.rest.get<any>(LEASE_PATH);
      await c.rest.replace(LEASE_PATH, { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } });
      await runFor(c, 2_000, () => a.elector.isLeader);
      assert.equal(a.elector.isLeader, false);
      assert.equal(a.stops, 1);
    } finally {
      await c.close();
    }
  });

  for (const start of ['no lease yet (both create)', 'an expired lease (both update)'] as const) {
    test(`a race for ${start}: one wins, the other gets 409 and never leads`, async () => {
      const c = await openCluster();
      try {
        if (start !== 'no lease yet (both create)') {
          await c.rest.create('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: 'tidepool-controller' },
            spec: { holderIdentity: 'gone', leaseDurationSeconds: 15, renewTime: '2000-01-01T00:00:00.000000Z' },
          });
        }
        // Holding every write back until both replicas have read makes them decide on the same state.
        const verb = start === 'no lease yet (both create)' ? 'create' : 'update';
        const hold = c.server.injectFault({ verb, resource: 'leases', delayMs: 150, times: 2 });
        const a = c.replica('a');
        const b = c.replica('b');
        a.elector.start();
        b.elector.start();
        await until('one leads', () => a.elector.isLeader || b.elector.isLeader);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(hold.hits, 2, 'both replicas wrote');
        const key = 'leases';
        assert.equal((c.server.stats().conflicts[key] ?? 0) + (c.server.stats().alreadyExists[key] ?? 0), 1, 'exactly one write lost the race');
        assert.equal([a, b].filter((r) => r.elector.isLeader).length, 1);
        await runFor(c, 20_000);
        assert.equal([a, b].filter((r) => r.elector.isLeader).length, 1);
        assert.equal(a.terms + b.terms, 1);
        assert.deepEqual(c.overlaps, []);
      } finally {
        await c.close();
      }
    });
  }
});
