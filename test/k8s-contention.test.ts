// Ten nodes' agents (real processes) allocating one pool of exactly as many
// IPs as pods through the API server at once, driven like kubelets: each node
// starts its own pods with a bounded number of ADDs in flight. Then every pod
// is re-created and the pool is drawn again at 1:1 from released IPs. Checks
// correctness only (the machine is shared); the conflict figures are printed
// for the record, and bench/k8s.ts measures the same shape for speed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeAgent, type AgentProcess } from './helpers/agent-process.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import {
  allocationConflicts,
  checkPhase,
  createNodes,
  createPods,
  createPool,
  driveAdds,
  driveDels,
  forceDeletePods,
  listAllocations,
  nodeNames,
  planPool,
  type AddOutcome,
  type PlannedPod,
} from './helpers/contention.ts';

const NODES = 10;
const PODS = 1000;
const PER_NODE_IN_FLIGHT = 8;
const pool = planPool(PODS);

describe('ten nodes, one pool at 1:1 IPs to pods', () => {
  let cluster: TestCluster;
  const agents: AgentProcess[] = [];
  const sockets = new Map<string, string>();
  let firstPods: PlannedPod[] = [];

  before(async () => {
    cluster = await startCluster();
    const nodes = nodeNames(NODES);
    await createNodes(cluster.rest, nodes);
    await createPool(cluster.rest, pool);
    // Started together: each agent's start-up is mostly loading its client, which two cores can overlap with the others' I/O.
    const started = await Promise.allSettled(nodes.map((node) => startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node })));
    for (const s of started) if (s.status === 'fulfilled') agents.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    nodes.forEach((node, i) => sockets.set(node, agents[i]!.socket));
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.cleanup()));
    await cluster?.close();
  });

  async function runPhase(label: string, pods: PlannedPod[]): Promise<AddOutcome> {
    cluster.server.resetStats();
    const outcome = await driveAdds({ sockets, pods, concurrency: PER_NODE_IN_FLIGHT });
    const { conflict, alreadyExists, total } = allocationConflicts(cluster.server.stats());
    const retried = Object.entries(outcome.retried).map(([code, n]) => `${code}=${n}`).join(' ') || 'none';
    console.log(
      `${label}: pods ${pods.length}, nodes ${NODES} x ${PER_NODE_IN_FLIGHT} in flight, wall ${(outcome.wallMs / 1000).toFixed(2)} s, ` +
        `conflicts ${total} (Conflict ${conflict}, AlreadyExists ${alreadyExists}), ${(total / pods.length).toFixed(3)} per allocation, retried ADDs: ${retried}`,
    );
    assert.deepEqual(
      outcome.failures.filter((f) => f.code === 'POOL_EXHAUSTED'),
      [],
      'a pool with as many IPs as pods must never be reported exhausted',
    );
    assert.deepEqual(outcome.failures, [], 'every ADD succeeds, within the retries');
    const problems = checkPhase({ pods, outcome, objects: await listAllocations(cluster.rest), pool });
    assert.deepEqual(problems, []);
    return outcome;
  }

  test(`the pool holds exactly ${PODS} IPs`, () => {
    assert.equal(pool.size, PODS);
    assert.equal(pool.subnet, '10.40.0.0/22');
    assert.equal(pool.range, '10.40.0.1-10.40.3.232');
  });

  test(`creation: ${PODS} pods over ${NODES} nodes each get one distinct IP, none refused for lack of IPs`, async () => {
    firstPods = await createPods(cluster.rest, { prefix: 'web', count: PODS, nodes: nodeNames(NODES) });
    await runPhase('creation', firstPods);
  });

  test('re-creation at 1:1: pods deleted, each DEL releases, new pods draw every released IP again', async () => {
    assert.ok(firstPods.length > 0, 'the creation phase must have run first');
    await forceDeletePods(cluster.rest, firstPods);
    const del = await driveDels({ sockets, pods: firstPods, concurrency: PER_NODE_IN_FLIGHT });
    assert.deepEqual(del.problems, [], 'the pods are gone, so every DEL frees the IP');
    assert.equal(del.released, PODS);
    const released = (await listAllocations(cluster.rest)).filter((o) => o.metadata.labels?.['tidepool.dev/state'] === 'released');
    assert.equal(released.length, PODS, 'every IP is released before the new pods start');
    const newPods = await createPods(cluster.rest, { prefix: 'web-b', count: PODS, nodes: nodeNames(NODES) });
    await runPhase('re-creation', newPods);
  });
});
