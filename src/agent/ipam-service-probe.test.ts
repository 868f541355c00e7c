// The ADD path's probing with a scripted prober: which IPs are tried, what is
// held, what is rolled back, and which errors a pod gets. The real prober
// (nsenter + arping/ndisc6) is tested in real namespaces by test/cni-underlay*.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPools } from '../ipam/pool.ts';
import { createMemoryStore } from '../store/memory.ts';
import type { AddressProber, ProbeOutcome, ProbeTarget } from './address-probe.ts';
import { createIpamService, DEFAULT_DETECTION, type NodeDetection } from './ipam-service.ts';
import type { IpamPolicy } from './policy.ts';
import { createStandalonePolicy } from './policy.ts';

const POOLS = planPools([
  { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.15'], gateway: '10.0.0.1' } },
  { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan6' }, spec: { subnet: 'fd00::/64', ips: ['fd00::10-fd00::15'] } },
]);

/** A prober that answers from a table: IPs other hosts hold (with their MAC), gateways that answer, and IPs it cannot probe. */
function scriptedProber(script: { taken?: Record<string, string>; gateways?: string[]; broken?: string[] }): AddressProber & { asked: ProbeTarget[] } {
  const asked: ProbeTarget[] = [];
  return {
    unavailable: undefined,
    asked,
    async probe(t): Promise<ProbeOutcome> {
      asked.push(t);
      if (script.broken?.includes(t.ip)) return { ok: false, problem: `no link ${t.ifname}` };
      return { ok: true, conflictMac: t.conflict ? script.taken?.[t.ip] : undefined, gatewayReachable: t.gateway === undefined ? undefined : (script.gateways ?? []).includes(t.gateway) };
    },
  };
}

function agent(prober: AddressProber, opts: { detection?: Partial<NodeDetection>; policy?: IpamPolicy } = {}) {
  const store = createMemoryStore();
  const service = createIpamService({
    store,
    policy: opts.policy ?? createStandalonePolicy(POOLS),
    node: 'n',
    now: () => 1_000_000,
    probeNetns: () => ({ exists: true, id: '4:1', isNamespace: true }),
    prober,
    detection: { ...DEFAULT_DETECTION, ...opts.detection },
  });
  return { service, store };
}

const add = (id: string, extra: Record<string, unknown> = {}) => ({ containerId: id, ifname: 'eth0', netns: `/run/netns/${id}`, ipv4Pools: ['lan'], ...extra });
const ipsOf = (res: { ips: ReadonlyArray<{ address: string }> }) => res.ips.map((i) => i.address.split('/')[0]);

describe('probing before the ADD answers', () => {
  test('a stateless pod whose first IP another host holds gets the next one; the first is held with its MAC', async () => {
    const prober = scriptedProber({ taken: { '10.0.0.10': 'aa:bb:cc:00:00:01' } });
    const { service, store } = agent(prober);
    assert.deepEqual(ipsOf(await service.allocate(add('p1'))), ['10.0.0.11']);
    assert.deepEqual(prober.asked.map((t) => t.ip), ['10.0.0.10', '10.0.0.11']);
    const held = (await store.list()).find((r) => r.ip === '10.0.0.10');
    assert.deepEqual(held?.hold && { reason: held.hold.reason, mac: held.hold.mac, until: held.hold.until }, { reason: 'ip-conflict', mac: 'aa:bb:cc:00:00:01', until: 1_000_000 + DEFAULT_DETECTION.holdMs });
    assert.equal((await store.list()).length, 2, 'the pod holds one IP and the hold one');
  });

  test('after conflictAttempts IPs all taken, IP_CONFLICT names every IP and MAC; every try stays held, the pod holds nothing', async () => {
    const taken = { '10.0.0.10': 'aa:00:00:00:00:10', '10.0.0.11': 'aa:00:00:00:00:11', '10.0.0.12': 'aa:00:00:00:00:12' };
    const { service, store } = agent(scriptedProber({ taken }), { detection: { conflictAttempts: 3 } });
    await assert.rejects(service.allocate(add('p1')), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'IP_CONFLICT');
      assert.match(err.message, /every IP tried is already in use on the LAN: 10\.0\.0\.10 \(MAC aa:00:00:00:00:10\), 10\.0\.0\.11 \(MAC aa:00:00:00:00:11\), 10\.0\.0\.12 \(MAC aa:00:00:00:00:12\)/);
      return true;
    });
    const records = await store.list();
    assert.deepEqual(records.map((r) => [r.ip, r.hold?.reason]), [['10.0.0.10', 'ip-conflict'], ['10.0.0.11', 'ip-conflict'], ['10.0.0.12', 'ip-conflict']]);
  });

  test('dual-stack: an IPv6 conflict is settled alongside a free IPv4, both families probed', async () => {
    const prober = scriptedProber({ taken: { 'fd00::10': 'aa:bb:cc:00:00:06' } });
    const { service } = agent(prober);
    assert.deepEqual(ipsOf(await service.allocate(add('p1', { ipv6Pools: ['lan6'] }))), ['10.0.0.10', 'fd00::11']);
    assert.deepEqual(prober.asked.map((t) => `${t.family}:${t.ip}`).sort(), ['4:10.0.0.10', '6:fd00::10', '6:fd00::11']);
  });

  test('a silent gateway fails the ADD naming gateway and interface, and rolls back every IP the ADD took', async () => {
    const prober = scriptedProber({ gateways: [] });
    const { service, store } = agent(prober, { detection: { gateway: true } });
    await assert.rejects(service.allocate(add('p1', { ipv6Pools: ['lan6'] })), { code: 'GATEWAY_UNREACHABLE', message: /gateway 10\.0\.0\.1 of pool "lan" did not answer on interface eth0/ });
    assert.deepEqual(await store.list(), [], 'nothing stays allocated');
    const ok = agent(scriptedProber({ gateways: ['10.0.0.1'] }), { detection: { gateway: true } });
    assert.deepEqual(ipsOf(await ok.service.allocate(add('p2'))), ['10.0.0.10']);
  });

  test('a probe that cannot run: conflict detection is skipped (the ADD succeeds), gateway detection fails with PROBE_FAILED and rolls back', async () => {
    const skip = agent(scriptedProber({ broken: ['10.0.0.10'] }));
    assert.deepEqual(ipsOf(await skip.service.allocate(add('p1'))), ['10.0.0.10']);
    const strict = agent(scriptedProber({ broken: ['10.0.0.10'] }), { detection: { gateway: true } });
    await assert.rejects(strict.service.allocate(add('p1')), { code: 'PROBE_FAILED', message: /could not run: no link eth0/ });
    assert.deepEqual(await strict.store.list(), []);
  });

  test('the netconf switches detection off per request', async () => {
    const prober = scriptedProber({ taken: { '10.0.0.10': 'aa:bb:cc:00:00:01' } });
    const { service, store } = agent(prober);
    assert.deepEqual(ipsOf(await service.allocate(add('p1', { ipConflictDetection: false }))), ['10.0.0.10']);
    assert.equal(prober.asked.length, 0);
    assert.equal((await store.list()).some((r) => r.hold), false);
  });

  test('a fixed IP (a stable identity that held it before) fails with IP_CONFLICT naming IP and MAC, and keeps its record', async () => {
    const base = createStandalonePolicy(POOLS);
    const policy: IpamPolicy = { ...base, plan: async (req) => ({ ...(await base.plan(req)), stableKey: 'sts:default/web/0' }) };
    const prober = scriptedProber({});
    const { service, store } = agent(prober, { policy });
    assert.deepEqual(ipsOf(await service.allocate(add('web-0-a'))), ['10.0.0.10']);
    prober.asked.length = 0;
    const taken = scriptedProber({ taken: { '10.0.0.10': 'de:ad:be:ef:00:01' } });
    const second = createIpamService({ store, policy, node: 'n', now: () => 1_000_000, probeNetns: () => ({ exists: true, id: '4:2', isNamespace: true }), prober: taken, detection: DEFAULT_DETECTION });
    await assert.rejects(second.allocate(add('web-0-b')), { code: 'IP_CONFLICT', message: /IP 10\.0\.0\.10 \(pool "lan"\) is already in use on the LAN by MAC de:ad:be:ef:00:01; the pod's IP is fixed \(sts:default\/web\/0\)/ });
    const rec = (await store.list()).find((r) => r.ip === '10.0.0.10');
    assert.equal(rec?.hold, undefined, 'a fixed IP is never turned into a hold');
    assert.equal(rec?.stableKey, 'sts:default/web/0');
  });
});
