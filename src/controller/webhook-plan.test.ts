import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPool, planPools } from '../ipam/pool.ts';
import { admissionAllocationsPool, admissionNeedsPools, parseAdmissionReview, planAdmission, planAdmissionResponse, type AdmissionDecision, type AdmissionOperation, type AdmissionRequest } from './webhook-plan.ts';

const pool = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'tidepool.dev/v1alpha1',
  kind: 'IPPool',
  metadata: { name, resourceVersion: '7', ...metadata },
  spec,
});
const reserved = (name: string, spec: unknown) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name }, spec });

function allocation(poolName: string, ip: string, owner?: Record<string, unknown>, state = owner ? 'allocated' : 'released') {
  return {
    apiVersion: 'tidepool.dev/v1alpha1',
    kind: 'IPAllocation',
    metadata: { name: `${poolName}.${ip}`, labels: { 'tidepool.dev/pool': poolName, 'tidepool.dev/state': state } },
    spec: { pool: poolName, ip, ...(owner ? { owner: { node: 'n1', containerId: 'c0ffee0123456789', ifname: 'eth0', allocatedAt: '2025-01-02T03:04:05.678Z', ...owner } } : {}) },
  };
}
const podOwner = (ns: string, name: string) => ({ podNamespace: ns, podName: name });

function request(resource: string, operation: AdmissionOperation, object: unknown, oldObject?: unknown, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  const name = ((object ?? oldObject) as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? '';
  return { uid: 'u-1', resource: { group: 'tidepool.dev', version: 'v1alpha1', resource }, name, operation, object, oldObject, ...extra };
}

function denied(d: AdmissionDecision): { code: number; message: string } {
  assert.equal(d.allowed, false, 'expected a denial');
  return d.allowed ? { code: 0, message: '' } : { code: d.code, message: d.message };
}

function standaloneMessage(objs: unknown[]): string {
  try {
    planPools(objs);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('planPools accepted it');
}

const lan = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'] });

describe('IPPool CREATE', () => {
  test('a valid pool that overlaps nothing is allowed', () => {
    assert.deepEqual(planAdmission(request('ippools', 'CREATE', lan), { pools: [pool('other', { subnet: '10.7.0.0/24' })] }), { allowed: true });
  });

  test('an invalid pool gets planPool\'s own message, as the pool file would', () => {
    const bad = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10', '10.7.0.1'] });
    const d = denied(planAdmission(request('ippools', 'CREATE', bad), { pools: [] }));
    assert.equal(d.code, 422);
    assert.equal(d.message, 'pool "lan": spec.ips[1] "10.7.0.1" is outside subnet 10.6.0.0/24');
    assert.throws(() => planPool(bad), { message: d.message });
  });

  test('overlap with an existing pool names both, the existing one first', () => {
    const b = pool('b', { subnet: '10.6.0.0/24', ips: ['10.6.0.15-10.6.0.30'] });
    const d = denied(planAdmission(request('ippools', 'CREATE', b), { pools: [lan] }));
    assert.equal(d.message, 'pools "lan" and "b" overlap: both hold 10.6.0.15-10.6.0.20');
    assert.equal(d.message, standaloneMessage([lan, b]));
  });

  test('an invalid pool already stored does not block others', () => {
    const broken = pool('broken', { subnet: '10.6.0.5/24' });
    assert.deepEqual(planAdmission(request('ippools', 'CREATE', lan), { pools: [broken] }), { allowed: true });
  });

  test('different families never overlap', () => {
    const v6 = pool('v6', { subnet: 'fd00::/64' });
    assert.deepEqual(planAdmission(request('ippools', 'CREATE', v6), { pools: [lan] }), { allowed: true });
  });
});

describe('IPPool UPDATE', () => {
  const held = [
    allocation('lan', '10.6.0.12', podOwner('default', 'web-0')),
    allocation('lan', '10.6.0.19', podOwner('default', 'web-1')),
    allocation('lan', '10.6.0.11'), // released: free to drop
  ];

  test('its own stored version does not count as an overlap', () => {
    const wider = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.40'] });
    assert.deepEqual(planAdmission(request('ippools', 'UPDATE', wider, lan), { pools: [lan], allocations: held }), { allowed: true });
  });

  test('dropping only free IPs is allowed', () => {
    const narrower = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.12-10.6.0.20'] });
    assert.deepEqual(planAdmission(request('ippools', 'UPDATE', narrower, lan), { pools: [lan], allocations: held }), { allowed: true });
  });

  test('dropping a held IP is refused, naming the IP and its pod', () => {
    const narrower = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.18'] });
    const d = denied(planAdmission(request('ippools', 'UPDATE', narrower, lan), { pools: [lan], allocations: held }));
    assert.equal(d.code, 403);
    assert.equal(d.message, 'pool "lan": spec change would drop 10.6.0.19 (held by pod default/web-1); release it first');
  });

  test('excluding a held IP counts as dropping it', () => {
    const excluded = pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'], excludeIPs: ['10.6.0.12'] });
    assert.match(denied(planAdmission(request('ippools', 'UPDATE', excluded, lan), { pools: [lan], allocations: held })).message, /would drop 10\.6\.0\.12 \(held by pod default\/web-0\)/);
  });

  test('a subnet change with allocations lists up to three IPs in order, then how many more', () => {
    const many = ['10.6.0.20', '10.6.0.3', '10.6.0.10', '10.6.0.100', '10.6.0.4'].map((ip, i) => allocation('lan', ip, podOwner('default', `web-${i}`)));
    const moved = pool('lan', { subnet: '10.9.0.0/24' });
    const d = denied(planAdmission(request('ippools', 'UPDATE', moved, lan), { pools: [lan], allocations: many }));
    assert.equal(
      d.message,
      'pool "lan": spec change would drop 10.6.0.3 (held by pod default/web-1), 10.6.0.4 (held by pod default/web-4), 10.6.0.10 (held by pod default/web-2) and 2 more; release them first',
    );
  });

  test('an allocation without pod names its container, interface and node', () => {
    const moved = pool('lan', { subnet: '10.9.0.0/24' });
    const d = denied(planAdmission(request('ippools', 'UPDATE', moved, lan), { pools: [lan], allocations: [allocation('lan', '10.6.0.12', {})] }));
    assert.equal(d.message, 'pool "lan": spec change would drop 10.6.0.12 (held by container c0ffee012345/eth0 on n1); release it first');
  });

  test('an allocation labelled allocated counts even without an owner, and other pools\' allocations never do', () => {
    const moved = pool('lan', { subnet: '10.9.0.0/24' });
    const labelled = allocation('lan', '10.6.0.12', undefined, 'allocated');
    assert.equal(planAdmission(request('ippools', 'UPDATE', moved, lan), { pools: [lan], allocations: [labelled] }).allowed, false);
    const foreign = allocation('other', '10.6.0.12', podOwner('default', 'x'));
    assert.equal(planAdmission(request('ippools', 'UPDATE', moved, lan), { pools: [lan], allocations: [foreign] }).allowed, true);
  });

  test('structure and overlap are checked before allocations', () => {
    const bad = pool('lan', { subnet: '10.6.0.0/24', gateway: '10.6.0.15', ips: ['10.6.0.10-10.6.0.20'] });
    assert.match(denied(planAdmission(request('ippools', 'UPDATE', bad, lan), { pools: [lan], allocations: held })).message, /^pool "lan": spec\.gateway 10\.6\.0\.15 is inside the allocatable IPs/);
  });

  test('a metadata-only change is allowed even for a pool that is invalid', () => {
    const broken = pool('lan', { subnet: '10.6.0.5/24' });
    const labelled = pool('lan', { subnet: '10.6.0.5/24' }, { labels: { team: 'net' } });
    assert.deepEqual(planAdmission(request('ippools', 'UPDATE', labelled, broken), { pools: [broken] }), { allowed: true });
  });
});

describe('IPPool DELETE', () => {
  test('refused while IPs are allocated, listing up to three pods with their IPs', () => {
    const allocs = [allocation('lan', '10.6.0.13', podOwner('default', 'web-1')), allocation('lan', '10.6.0.12', podOwner('default', 'web-0')), allocation('lan', '10.6.0.14', podOwner('ops', 'db-0'))];
    const d = denied(planAdmission(request('ippools', 'DELETE', null, lan), { pools: [lan], allocations: allocs }));
    assert.equal(d.code, 403);
    assert.equal(
      d.message,
      'pool "lan" still has 3 allocated IPs (default/web-0 10.6.0.12, default/web-1 10.6.0.13, ops/db-0 10.6.0.14); delete those pods first or drain the pool with spec.disable: true',
    );
  });

  test('one allocated IP reads in the singular; more than three end in "and N more"', () => {
    const one = denied(planAdmission(request('ippools', 'DELETE', null, lan), { pools: [], allocations: [allocation('lan', '10.6.0.12', podOwner('default', 'web-0'))] }));
    assert.equal(one.message, 'pool "lan" still has 1 allocated IP (default/web-0 10.6.0.12); delete that pod first or drain the pool with spec.disable: true');
    const five = [10, 11, 12, 13, 14].map((n) => allocation('lan', `10.6.0.${n}`, podOwner('default', `web-${n}`)));
    assert.match(denied(planAdmission(request('ippools', 'DELETE', null, lan), { pools: [], allocations: five })).message, /default\/web-12 10\.6\.0\.12 and 2 more\); delete those pods/);
  });

  test('allowed when only released IPAllocations remain', () => {
    assert.deepEqual(planAdmission(request('ippools', 'DELETE', null, lan), { pools: [lan], allocations: [allocation('lan', '10.6.0.12')] }), { allowed: true });
  });
});

describe('ReservedIP', () => {
  test('valid entries are allowed', () => {
    assert.deepEqual(planAdmission(request('reservedips', 'CREATE', reserved('r', { ips: ['10.6.0.1-10.6.0.3', 'fd00::1'] })), { pools: [] }), { allowed: true });
  });
  test('an unparsable entry is refused naming spec.ips[i]', () => {
    const d = denied(planAdmission(request('reservedips', 'UPDATE', reserved('r', { ips: ['10.6.0.1', '10.6.0.300'] }), reserved('r', { ips: [] })), { pools: [] }));
    assert.equal(d.code, 422);
    assert.equal(d.message, 'ReservedIP "r": spec.ips[1] "10.6.0.300" is not an IP or an a-b range');
  });
  test('a malformed shape is refused with the schema\'s field path', () => {
    assert.equal(denied(planAdmission(request('reservedips', 'CREATE', reserved('r', { ips: [5] })), { pools: [] })).message, 'ReservedIP "r": spec.ips[0]: Expected string');
  });
  test('DELETE is not guarded', () => {
    assert.deepEqual(planAdmission(request('reservedips', 'DELETE', null, reserved('r', { ips: ['x'] })), { pools: [] }), { allowed: true });
  });
});

describe('everything else is allowed', () => {
  test('other resources, groups and subresources', () => {
    const bad = pool('lan', { subnet: 'nonsense' });
    assert.equal(planAdmission(request('ipallocations', 'CREATE', bad), { pools: [] }).allowed, true);
    assert.equal(planAdmission({ ...request('ippools', 'CREATE', bad), resource: { group: 'example.com', version: 'v1', resource: 'ippools' } }, { pools: [] }).allowed, true);
    assert.equal(planAdmission(request('ippools', 'UPDATE', bad, lan, { subResource: 'status' }), { pools: [] }).allowed, true);
  });
});

describe('admissionAllocationsPool', () => {
  test('asks for allocations only for pool UPDATEs that change the spec, and DELETEs', () => {
    assert.equal(admissionAllocationsPool(request('ippools', 'DELETE', null, lan)), 'lan');
    assert.equal(admissionAllocationsPool(request('ippools', 'UPDATE', pool('lan', { subnet: '10.9.0.0/24' }), lan)), 'lan');
    assert.equal(admissionAllocationsPool(request('ippools', 'UPDATE', pool('lan', lan.spec, { labels: { a: 'b' } }), lan)), undefined);
    assert.equal(admissionAllocationsPool(request('ippools', 'CREATE', lan)), undefined);
    assert.equal(admissionAllocationsPool(request('reservedips', 'DELETE', null, reserved('r', {}))), undefined);
  });
});

describe('admissionNeedsPools', () => {
  test('every pool is read only for pool CREATEs and spec-changing UPDATEs', () => {
    assert.equal(admissionNeedsPools(request('ippools', 'CREATE', lan)), true);
    assert.equal(admissionNeedsPools(request('ippools', 'UPDATE', pool('lan', { subnet: '10.9.0.0/24' }), lan)), true);
    assert.equal(admissionNeedsPools(request('ippools', 'UPDATE', pool('lan', lan.spec, { labels: { a: 'b' } }), lan)), false);
    assert.equal(admissionNeedsPools(request('ippools', 'DELETE', null, lan)), false);
    assert.equal(admissionNeedsPools(request('reservedips', 'CREATE', reserved('r', { ips: [] }))), false);
  });
});

describe('AdmissionReview parsing and answers', () => {
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc', resource: { group: 'tidepool.dev', version: 'v1alpha1', resource: 'ippools' }, name: 'lan', operation: 'CREATE', object: lan, oldObject: null } };
  test('a well-formed review is read, null oldObject as absent', () => {
    const r = parseAdmissionReview(review);
    assert.ok(typeof r !== 'string');
    assert.equal(r.uid, 'abc');
    assert.equal(r.operation, 'CREATE');
    assert.equal(r.oldObject, undefined);
  });
  const broken: Array<[string, unknown, RegExp]> = [
    ['not an object', [1], /JSON AdmissionReview object/],
    ['wrong apiVersion', { ...review, apiVersion: 'admission.k8s.io/v1beta1' }, /apiVersion must be "admission.k8s.io\/v1"/],
    ['wrong kind', { ...review, kind: 'Review' }, /kind must be "AdmissionReview"/],
    ['no request', { ...review, request: undefined }, /request is missing/],
    ['no uid', { ...review, request: { ...review.request, uid: '' } }, /request\.uid/],
    ['no resource', { ...review, request: { ...review.request, resource: 'ippools' } }, /request\.resource/],
    ['bad operation', { ...review, request: { ...review.request, operation: 'PATCH' } }, /request\.operation/],
  ];
  for (const [what, body, message] of broken) {
    test(`malformed: ${what}`, () => {
      const r = parseAdmissionReview(body);
      assert.equal(typeof r, 'string');
      assert.match(r as string, message);
    });
  }
  test('answers carry the uid; denials a Failure status with code, reason and message', () => {
    assert.deepEqual(planAdmissionResponse('abc', { allowed: true }), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc', allowed: true } });
    assert.deepEqual(planAdmissionResponse('abc', { allowed: false, code: 422, reason: 'Invalid', message: 'm' }), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'abc', allowed: false, status: { status: 'Failure', code: 422, reason: 'Invalid', message: 'm' } },
    });
  });
});
