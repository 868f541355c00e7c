// A real agent and a real controller (dist/ processes) against an API server
// whose tokens live 5 s, each authenticating as its chart ServiceAccount
// (so the chart's RBAC applies to every request), for three token lifetimes: once with a token file the
// test rewrites as kubelet rewrites a projected service-account token, once
// with an exec plugin whose credentials carry an expirationTimestamp. Pods are
// added and deleted throughout, and every watch is dropped midway, so every
// kind of request must go on with fresh credentials: allocations succeed, the
// controller keeps its lease and reclaims the deleted pods' IPs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startKubeAgent, type AgentProcess } from './helpers/agent-process.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './helpers/controller-process.ts';
import { waitUntilReady } from './helpers/readiness.ts';

const LIFETIME_MS = 5_000;
/** The test hands out a new token this often, so the one on offer always has most of its life left. */
const ROTATE_MS = 500;
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller';

interface Lease {
  spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string };
}

/** Writes `text` to `path` at once, as kubelet swaps a projected token in. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** How the processes authenticate: the kubeconfig user, and what the test rewrites every ROTATE_MS. */
interface Rotation {
  readonly user: Record<string, unknown>;
  rotate(token: string, expiresAt: Date): void;
  /** Plugin runs so far (exec only). */
  runs(): number;
}

function tokenFile(dir: string): Rotation {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'token');
  return { user: { tokenFile: path }, rotate: (token) => replaceFile(path, token), runs: () => 0 };
}

function execPlugin(dir: string): Rotation {
  mkdirSync(dir, { recursive: true });
  const cred = join(dir, 'credential.json');
  const runs = join(dir, 'runs');
  const script = join(dir, 'get-token.sh');
  writeFileSync(runs, '');
  writeFileSync(script, '#!/bin/sh\necho run >> "$RUNS"\ncat "$CRED"\n');
  chmodSync(script, 0o755);
  return {
    user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script, env: [{ name: 'CRED', value: cred }, { name: 'RUNS', value: runs }], interactiveMode: 'Never' } },
    rotate: (token, expiresAt) => replaceFile(cred, JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token, expirationTimestamp: expiresAt.toISOString() } })),
    runs: () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length,
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, logs: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}; logs:\n${logs()}`);
    await delay(50);
  }
}

for (const [name, make] of [
  ['a token file rewritten as kubelet does', tokenFile],
  ['an exec plugin with expiring credentials', execPlugin],
] as const) {
  describe(`credentials that expire every ${LIFETIME_MS / 1000} s: ${name}`, () => {
    let cluster: TestCluster;
    let dir: string;
    let rotations: { agent: Rotation; controller: Rotation };
    let rotating: NodeJS.Timeout | undefined;
    let agent: AgentProcess | undefined;
    let controller: ControllerProcess | undefined;
    const logs = () => [...(agent?.logs.slice(-30) ?? []), '--- controller', ...(controller?.logs.slice(-30) ?? [])].join('\n');

    before(async () => {
      cluster = await startCluster({ authentication: true });
      dir = mkdtempSync(join(tmpdir(), 'tidepool-rotation-'));
      rotations = { agent: make(join(dir, 'agent')), controller: make(join(dir, 'controller')) };
      const rotate = () => {
        for (const who of ['agent', 'controller'] as const) {
          const sa = cluster.identities[who];
          rotations[who].rotate(cluster.server.serviceAccountToken(sa.namespace, sa.name, LIFETIME_MS), new Date(Date.now() + LIFETIME_MS));
        }
      };
      rotate();
      rotating = setInterval(rotate, ROTATE_MS);
      const kubeconfig = (who: 'agent' | 'controller') => {
        const path = join(dir, who, 'kubeconfig');
        cluster.server.writeKubeconfig(path, rotations[who].user);
        return path;
      };
      await cluster.node('n1');
      await cluster.pool('lan', { subnet: '10.30.0.0/24', ips: ['10.30.0.10-10.30.0.200'], default: true });
      [agent, controller] = await Promise.all([
        startKubeAgent({ kubeconfig: kubeconfig('agent'), node: 'n1' }),
        startControllerProcess({ kubeconfig: kubeconfig('controller'), identity: 'ctrl', args: ['--webhook-listen', 'off', '--gc-scan-interval', '1h'] }),
      ]);
    });

    after(async () => {
      clearInterval(rotating);
      await agent?.cleanup();
      await controller?.stop('SIGKILL');
      await cluster?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('for three lifetimes, allocations succeed, the controller keeps its lease and reclaims every deleted pod\'s IP', async () => {
      const lease = async () => cluster.rest.get<Lease>(LEASE).catch(() => undefined);
      await waitUntilReady('the controller leads', controller!.proc, logs, async () => ((await lease())?.spec.holderIdentity === 'ctrl' ? true : undefined));
      const transitions = (await lease())!.spec.leaseTransitions;
      const started = Date.now();
      const deleted: string[] = [];
      let dropped = false;
      let previous: string | undefined;
      for (let i = 0; Date.now() - started < 3 * LIFETIME_MS; i++) {
        const pod = `web-${i}`;
        const uid = await cluster.pod({ name: pod, node: 'n1' });
        const res = await agent!.call('POST', '/v1/allocate', { containerId: `c-${i}`, ifname: 'eth0', netns: '', pod: { namespace: 'default', name: pod, uid } });
        assert.equal(res.status, 200, `ADD of ${pod} at ${Date.now() - started} ms: ${JSON.stringify(res.body)}\n${logs()}`);
        if (previous) {
          await cluster.deletePod('default', previous, true);
          deleted.push(previous);
        }
        previous = pod;
        // Every open watch ends once the first tokens are dead: each one must start again with fresh credentials.
        if (!dropped && Date.now() - started > 1.5 * LIFETIME_MS) dropped = cluster.server.dropWatches() > 0;
        await delay(500);
      }
      assert.ok(dropped, 'the watches were dropped midway');
      const heldBy = (pod: string) => cluster.allocations().find((a) => a.owner?.['podName'] === pod);
      await until('the controller reclaimed every deleted pod\'s IP', () => deleted.every((p) => heldBy(p) === undefined), logs);
      assert.ok(deleted.length >= 10, `pods deleted: ${deleted.length}`);

      const end = (await lease())!.spec;
      assert.equal(end.holderIdentity, 'ctrl');
      assert.equal(end.leaseTransitions, transitions, 'the lease never changed hands');
      assert.ok(Date.parse(end.renewTime!) >= started + 2 * LIFETIME_MS, `renewed after the first tokens expired: ${end.renewTime}`);
      assert.ok(!controller!.logs.some((l) => l.includes('stopped leading')), logs());
      const runs = [rotations.agent.runs(), rotations.controller.runs()];
      if (runs[0]! > 0) assert.ok(runs.every((n) => n >= 3), `each process ran the plugin for every lifetime: ${runs.join(' and ')} runs`);
      else assert.ok((cluster.server.stats().responses['401'] ?? 0) >= 2, 'tokens expired in use, and the processes read the new ones');
    });
  });
}
