import { test } from 'node:test';
import assert from 'node:assert/strict';
import { POOL_API_VERSION, planPool, type Pool } from './pool.ts';
import { planRoutes } from './routes.ts';

const pool = (name: string, spec: Record<string, unknown>): Pool => planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name }, spec });
const v4 = pool('v4', { subnet: '10.6.0.0/24', gateway: '10.6.0.1' });
const v6 = pool('v6', { subnet: 'fd06::/64', gateway: 'fd06::1' });

test('the default interface gets a default route per family through its pools’ gateways', () => {
  assert.deepEqual(planRoutes({ pools: [v4, v6], podRoutes: [], defaultInterface: true, cleanGateway: undefined }), [
    { dst: '0.0.0.0/0', gw: '10.6.0.1' },
    { dst: '::/0', gw: 'fd06::1' },
  ]);
});

test('another interface gets only its pools’ routes', () => {
  const routed = pool('r', { subnet: '10.7.0.0/24', gateway: '10.7.0.1', routes: [{ dst: '192.0.2.0/24', gw: '10.7.0.1' }] });
  assert.deepEqual(planRoutes({ pools: [routed], podRoutes: [], defaultInterface: false, cleanGateway: undefined }), [{ dst: '192.0.2.0/24', gw: '10.7.0.1' }]);
});

test('a pool without a gateway gives no default route', () => {
  const bare = pool('b', { subnet: '10.8.0.0/24' });
  assert.deepEqual(planRoutes({ pools: [bare], podRoutes: [], defaultInterface: true, cleanGateway: undefined }), []);
});

test('cleangateway: an explicit word (pod, netconf) wins over the pool’s; the pool’s own default routes go too, the pod’s stay', () => {
  const cleanPool = pool('c', { subnet: '10.9.0.0/24', gateway: '10.9.0.1', cleanGateway: true, routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.2' }, { dst: '192.0.2.0/24', gw: '10.9.0.1' }] });
  assert.deepEqual(planRoutes({ pools: [cleanPool], podRoutes: [], defaultInterface: true, cleanGateway: undefined }), [{ dst: '192.0.2.0/24', gw: '10.9.0.1' }]);
  assert.deepEqual(planRoutes({ pools: [cleanPool], podRoutes: [], defaultInterface: true, cleanGateway: false }), [
    { dst: '0.0.0.0/0', gw: '10.9.0.2' },
    { dst: '192.0.2.0/24', gw: '10.9.0.1' },
  ]);
  assert.deepEqual(planRoutes({ pools: [v4], podRoutes: [{ dst: '0.0.0.0/0', gw: '10.6.0.9' }], defaultInterface: true, cleanGateway: true }), [{ dst: '0.0.0.0/0', gw: '10.6.0.9' }]);
  assert.deepEqual(planRoutes({ pools: [v4, v6], podRoutes: [], defaultInterface: true, cleanGateway: true }), []);
});

test('a destination appears once: the pod’s route, then the pool’s, then the gateway’s', () => {
  const routed = pool('d', { subnet: '10.10.0.0/24', gateway: '10.10.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.10.0.254' }, { dst: '198.51.100.0/24', gw: '10.10.0.1' }] });
  assert.deepEqual(planRoutes({ pools: [routed], podRoutes: [{ dst: '198.51.100.0/24', gw: '10.10.0.7' }], defaultInterface: true, cleanGateway: undefined }), [
    { dst: '198.51.100.0/24', gw: '10.10.0.7' },
    { dst: '0.0.0.0/0', gw: '10.10.0.254' },
  ]);
});
