// Property test: whatever the runtime hands over, the plugin answers with
// exit 0 or 1 and stdout that is empty or one CNI JSON object, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERROR_TABLE } from '../ipam/errors.ts';
import { run } from './run.ts';

const CNI_CODES = new Set(Object.values(ERROR_TABLE).map((s) => s.cni));
// Nothing listens here, so every verb that gets as far as the agent fails fast.
const SOCKET = '/nonexistent/tidepool-fuzz.sock';

const verb = fc.constantFrom('ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC', 'add', '', 'NOPE');
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const env = fc.record({
  CNI_COMMAND: maybe(verb),
  CNI_CONTAINERID: maybe(fc.oneof(fc.constant('c1'), fc.string())),
  CNI_IFNAME: maybe(fc.oneof(fc.constant('eth0'), fc.string())),
  CNI_NETNS: maybe(fc.oneof(fc.constant('/proc/1/ns/net'), fc.string())),
  CNI_PATH: maybe(fc.constant('/usr/lib/cni')),
  CNI_ARGS: maybe(fc.oneof(fc.constant('K8S_POD_NAMESPACE=a;K8S_POD_NAME=b'), fc.string())),
});

const ipam = fc.record(
  {
    type: fc.oneof(fc.constant('tidepool'), fc.anything()),
    socket: fc.oneof(fc.constant(SOCKET), fc.anything()),
    ipv4Pools: fc.oneof(fc.array(fc.string()), fc.anything()),
    ipv6Pools: fc.array(fc.oneof(fc.string(), fc.integer())),
    timeoutMs: fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.anything()),
    strictDel: fc.anything(),
  },
  { requiredKeys: ['type', 'socket'] },
);
const netconf = fc.oneof(
  fc.record({
    cniVersion: fc.oneof(fc.constantFrom('0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0', '0.2.0'), fc.anything()),
    name: fc.oneof(fc.constant('n'), fc.anything()),
    ipam: fc.oneof(ipam, fc.anything()),
    'cni.dev/valid-attachments': fc.oneof(fc.array(fc.record({ containerID: fc.string(), ifname: fc.string() })), fc.anything()),
    prevResult: fc.anything(),
  }).map((doc) => JSON.stringify(doc)),
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
);

test('run() always answers with exit 0/1 and at most one CNI JSON object', async () => {
  await fc.assert(
    fc.asyncProperty(env, netconf, async (e, stdin) => {
      let stdout = '';
      const code = await run({ env: e, stdin, stdout: { write: (t) => (stdout += t) }, stderr: { write: () => undefined } });
      assert.ok(code === 0 || code === 1);
      if (code === 1) {
        const out = JSON.parse(stdout) as { cniVersion: unknown; code: unknown; msg: unknown; details: unknown };
        assert.equal(typeof out.cniVersion, 'string');
        assert.ok(CNI_CODES.has(out.code as number), `code ${String(out.code)}`);
        assert.equal(typeof out.msg, 'string');
        assert.equal(typeof out.details, 'string');
        assert.equal(stdout.indexOf('\n'), stdout.length - 1);
      } else if (stdout !== '') {
        assert.equal(typeof (JSON.parse(stdout) as { cniVersion: unknown }).cniVersion, 'string');
      }
    }),
    { numRuns: 400 },
  );
});
