/**
 * tidepool as Prometheus sees it: a standalone agent, and a Kubernetes agent
 * with a controller against the test API server, each a real process with
 * its metrics on a loopback port; `drive` gives them traffic that fills most
 * families (allocations, a pool at 90%, a full pool, an ADD that waits in
 * vain, a reclaim by each collector).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { poolYaml, startAgent, startKubeAgent, waitForMetricsAddress, type AgentProcess } from './agent-process.ts';
import { startCluster, type TestCluster } from './cluster.ts';
import { startControllerProcess, type ControllerProcess } from './controller-process.ts';
import { ip, ipQuiet } from './netns.ts';
import { waitUntilReady } from './readiness.ts';

export interface ObservedSystem {
  readonly standalone: AgentProcess;
  readonly cluster: TestCluster;
  readonly kubeAgent: AgentProcess;
  readonly controller: ControllerProcess;
  /** HOST:PORT of each process's /metrics. */
  readonly targets: { readonly standalone: string; readonly kubeAgent: string; readonly controller: string };
  /** Allocations, a full pool, an exhausted ADD, a namespace reclaim and a controller reclaim. */
  drive(): Promise<void>;
  close(): Promise<void>;
}

/** Standalone pools: `lan` with room, `snug` that the traffic fills to 90%, `tiny` that it fills. */
export const STANDALONE_POOLS = [
  poolYaml('lan', { subnet: '10.41.0.0/24', ips: ['10.41.0.10-10.41.0.29'] }),
  poolYaml('tiny', { subnet: '10.42.0.0/24', ips: ['10.42.0.10-10.42.0.11'] }),
  poolYaml('snug', { subnet: '10.44.0.0/24', ips: ['10.44.0.10-10.44.0.19'] }),
].join('---\n');

export async function startObservedSystem(): Promise<ObservedSystem> {
  const started: Array<() => Promise<unknown>> = [];
  const closeAll = async () => {
    for (const close of started.reverse()) await close().catch(() => undefined);
  };
  try {
    // Conflict detection off: the traffic's namespaces have no link to probe from.
    const standalone = await startAgent({ pools: STANDALONE_POOLS, args: ['--metrics-listen', '127.0.0.1:0', '--gc-interval', '200ms', '--gc-grace', '1s', '--exhausted-wait', '200ms', '--ip-conflict-detection', 'off'] });
    started.push(() => standalone.cleanup());
    const cluster = await startCluster();
    started.push(() => cluster.close());
    await cluster.node('n1');
    await cluster.pool('k-lan', { subnet: '10.43.0.0/24', ips: ['10.43.0.10-10.43.0.29'] });
    const kubeAgent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'n1', args: ['--metrics-listen', '127.0.0.1:0', '--ip-conflict-detection', 'off'] });
    started.push(() => kubeAgent.cleanup());
    const controller = await startControllerProcess({ kubeconfig: cluster.kubeconfigs.controller, identity: 'observed', args: ['--webhook-listen', 'off', '--retry-period', '250ms'] });
    started.push(() => controller.stop('SIGKILL'));
    await waitUntilReady('the controller to lead', controller.proc, () => controller.logs.join('\n'), async () => ((await controller.leaderGauge()) === 1 ? true : undefined));
    const targets = { standalone: await waitForMetricsAddress(standalone), kubeAgent: await waitForMetricsAddress(kubeAgent), controller: controller.metrics };
    return { standalone, cluster, kubeAgent, controller, targets, drive: () => drive(standalone, kubeAgent, cluster), close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function drive(standalone: AgentProcess, kubeAgent: AgentProcess, cluster: TestCluster): Promise<void> {
  const add = async (agent: AgentProcess, body: Record<string, unknown>, want = 200) => {
    const r = await agent.call('POST', '/v1/allocate', { ifname: 'eth0', netns: '', ...body });
    if (r.status !== want) throw new Error(`ADD ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  for (const n of [1, 2, 3]) await add(standalone, { containerId: `lan-${n}`, ipv4Pools: ['lan'] });
  for (const n of [1, 2]) await add(standalone, { containerId: `tiny-${n}`, ipv4Pools: ['tiny'] });
  for (let n = 1; n <= 9; n++) await add(standalone, { containerId: `snug-${n}`, ipv4Pools: ['snug'] });
  // A full pool: this ADD waits --exhausted-wait for an IP to come free, then fails.
  await add(standalone, { containerId: 'tiny-3', ipv4Pools: ['tiny'] }, 409);
  await reclaimByNamespaceCollector(standalone);
  const uid = await cluster.pod({ name: 'web-1', node: 'n1' });
  await add(kubeAgent, { containerId: 'web-1', network: 'underlay', ipv4Pools: ['k-lan'], pod: { namespace: 'default', name: 'web-1', uid } });
  const gone = await cluster.pod({ name: 'web-2', node: 'n1' });
  await add(kubeAgent, { containerId: 'web-2', network: 'underlay', ipv4Pools: ['k-lan'], pod: { namespace: 'default', name: 'web-2', uid: gone } });
  await cluster.deletePod('default', 'web-2', true);
  await until('the controller reclaims the deleted pod\'s IP', () => cluster.allocations().some((a) => a.owner === undefined && a.pool === 'k-lan'));
}

/** An ADD into a real namespace that is then deleted without a DEL: the agent's collector takes the IP back after its grace. */
async function reclaimByNamespaceCollector(agent: AgentProcess): Promise<void> {
  const name = `tp-observed-${process.pid}`;
  ip('netns', 'add', name);
  try {
    const r = await agent.call('POST', '/v1/allocate', { containerId: 'leaked', ifname: 'eth0', netns: `/var/run/netns/${name}`, ipv4Pools: ['lan'] });
    if (r.status !== 200) throw new Error(`ADD into ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  } finally {
    ipQuiet('netns', 'del', name);
  }
  await until('the namespace collector reclaims the leaked IP', async () => !(await agent.call('GET', '/v1/allocations')).body.some((a: { containerId: string }) => a.containerId === 'leaked'));
}

/** Polls `check` every 50 ms for up to 60 s: generous, as a loaded machine may be slow; never a performance bound. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(50);
  }
}
