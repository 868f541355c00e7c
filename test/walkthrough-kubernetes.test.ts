// docs/kubernetes.md, executed: the YAML it shows and the kubectl commands it
// tells users to type, run by the real kubectl against the test API server,
// with a real agent and controller under the chart's RBAC and webhook. When the
// page and tidepool drift apart, this fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeAgent, type AgentProcess } from './helpers/agent-process.ts';
import { applyAsAdmin, renderChartObjects } from './helpers/chart-rbac.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './helpers/controller-process.ts';
import { waitUntilReady } from './helpers/readiness.ts';
import { kubectlFor, kubectlPath, type Kubectl } from './apiserver/kubectl.ts';

const DOC = 'docs/kubernetes.md';
const skip = kubectlPath ? false : 'kubectl is not installed';

interface Block {
  lang: string;
  text: string;
}

/** The fenced blocks of the page's section `heading`, in order. */
function blocksOf(heading: string): Block[] {
  const page = readFileSync(DOC, 'utf8');
  const start = page.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `${DOC} has a section "${heading}"`);
  const end = page.indexOf('\n## ', start + 1);
  const section = page.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, text: m[2]! }));
}

/** The commands of a sh block, comments stripped. */
const commandsOf = (block: Block): string[][] =>
  block.text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .map((l) => l.split(/\s+/));

describe(`${DOC}, executed`, { skip }, () => {
  let cluster: TestCluster;
  let controller: ControllerProcess | undefined;
  let agent: AgentProcess | undefined;
  let kubectl: Kubectl;
  let dir: string;
  const blocks = skip ? [] : blocksOf('A first pool');

  /** Runs a doc command: kubectl from the page, in a directory holding the page's files. */
  async function type(argv: string[]) {
    assert.equal(argv[0], 'kubectl', `the page's commands are kubectl commands: ${argv.join(' ')}`);
    return kubectl.run(argv.slice(1).map((a) => (a.endsWith('.yaml') && !a.includes('/') ? join(dir, a) : a)));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-walkthrough-'));
    cluster = await startCluster({ tls: true });
    await applyAsAdmin(cluster.server, renderChartObjects().filter((o) => o.kind === 'ValidatingWebhookConfiguration'));
    controller = await startControllerProcess({ kubeconfig: cluster.kubeconfigs.controller, identity: 'walkthrough' });
    cluster.server.routeService({ namespace: 'kube-system', name: 'tidepool-controller-webhook' }, controller.webhook);
    await waitUntilReady('the controller to lead', controller.proc, () => controller!.logs.join('\n'), async () => ((await controller!.leaderGauge()) === 1 ? true : undefined));
    // A node racked where the page's pool may be used.
    await cluster.node('rack12-a', { 'topology.example/rack': 'r12', 'kubernetes.io/os': 'linux' });
    agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'rack12-a' });
    kubectl = kubectlFor(cluster.server);
  });

  after(async () => {
    kubectl?.close();
    await agent?.cleanup();
    await controller?.stop();
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('after an upgrade, kubectl apply -f deploy/tidepool/crds/ applies the CRDs the chart installed', async () => {
    const r = await kubectl.run(['apply', '-f', 'deploy/tidepool/crds/']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/ippools\.tidepool\.dev (unchanged|configured)/);
  });

  test('the first pool: kubectl apply, then kubectl get tpool with its columns', async () => {
    const [pool, commands] = blocks;
    assert.equal(pool?.lang, 'yaml');
    assert.equal(commands?.lang, 'sh');
    writeFileSync(join(dir, 'lan-v4.yaml'), pool!.text);
    const [apply, get] = commandsOf(commands!);
    const applied = await type(apply!);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /ippool\.tidepool\.dev\/lan-v4 created/);
    // The controller writes the counts the columns show.
    await waitUntilReady('the pool to have its status', controller!.proc, () => controller!.logs.join('\n'), async () => {
      const out = await type(get!);
      return /lan-v4\s+10\.6\.0\.0\/24\s+191\s+0\s/.test(out.stdout) ? out : undefined;
    });
    const out = await type(get!);
    const header = out.stdout.split('\n')[0]!.split(/\s+/).filter(Boolean);
    // The page names the columns in the command's comment.
    const documented = commands!.text.split('\n')[1]!.split('#')[1]!.split(',').map((c) => c.trim());
    assert.deepEqual(header, ['NAME', ...documented], out.stdout);
  });

  test('a mistake is refused at kubectl apply with the field named, as the page quotes it, and nothing changes', async () => {
    const page = readFileSync(DOC, 'utf8');
    const quoted = /`(pool "lan-v4": spec\.gateway 10\.6\.0\.50 is inside the allocatable IPs) \.\.\.`/.exec(page.replace(/\n/g, ' '));
    assert.ok(quoted, 'the page quotes the refusal');
    writeFileSync(join(dir, 'lan-v4.yaml'), blocks[0]!.text.replace('gateway: 10.6.0.1', 'gateway: 10.6.0.50'));
    const r = await type(commandsOf(blocks[1]!)[0]!);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.replace(/\s+/g, ' ').includes(quoted[1]!), r.stderr);
    const stored = await kubectl.ok(['get', 'ippool', 'lan-v4', '-o', 'jsonpath={.spec.gateway}']);
    assert.equal(stored, '10.6.0.1');
  });

  test('a pod naming its pool gets an IP from it, and kubectl get tpalloc shows who holds it', async () => {
    const pod = blocks.find((b) => b.lang === 'yaml' && b.text.includes('kind: Pod'));
    const commands = blocks.filter((b) => b.lang === 'sh').at(-1)!;
    assert.ok(pod);
    writeFileSync(join(dir, 'web.yaml'), pod.text);
    const [apply, get] = commandsOf(commands);
    const applied = await type(apply!);
    assert.equal(applied.code, 0, applied.stderr);
    // The scheduler binds it; kubelet runs the network's plugin, which asks the agent.
    await cluster.rest.create('/api/v1/namespaces/default/pods/web/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web' }, target: { apiVersion: 'v1', kind: 'Node', name: 'rack12-a' } });
    const add = await agent!.call('POST', '/v1/allocate', { containerId: 'c-web', ifname: 'net1', netns: '', network: 'lan', ipv4Pools: ['lan-v4'], pod: { namespace: 'default', name: 'web' } });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.match(JSON.stringify(add.body), /10\.6\.0\.10\//);
    const out = await type(get!);
    assert.equal(out.code, 0, out.stderr);
    const [header, row] = out.stdout.trim().split('\n').map((l) => l.split(/\s+/));
    const documented = commands.text.split('\n').find((l) => l.includes('get tpalloc'))!.split('#')[1]!.split(',').map((c) => c.trim());
    assert.deepEqual(header, ['NAME', ...documented]);
    assert.deepEqual(row!.slice(0, 5), ['lan-v4.10.6.0.10', 'lan-v4', '10.6.0.10', 'web', 'rack12-a'], out.stdout);
  });
});
