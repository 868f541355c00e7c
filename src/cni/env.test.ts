import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { parseCniArgs, parseCniEnv, parseCommand, planPodRef } from './env.ts';
import type { Env } from './env.ts';

const base: Env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c0ffee',
  CNI_IFNAME: 'eth0',
  CNI_NETNS: '/var/run/netns/p1',
  CNI_PATH: '/opt/cni/bin',
};

function badEnv(variable: string, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TidepoolError);
    assert.equal(err.code, 'BAD_ENVIRONMENT');
    assert.deepEqual(err.details, { variable });
    assert.match(err.message, message);
    return true;
  };
}

test('parseCommand accepts each verb and rejects the rest', () => {
  for (const verb of ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC']) assert.equal(parseCommand({ CNI_COMMAND: verb }), verb);
  assert.throws(() => parseCommand({}), badEnv('CNI_COMMAND', /^CNI_COMMAND is required$/));
  assert.throws(() => parseCommand({ CNI_COMMAND: '' }), badEnv('CNI_COMMAND', /is required/));
  assert.throws(() => parseCommand({ CNI_COMMAND: 'add' }), badEnv('CNI_COMMAND', /"add" is not one of ADD, DEL, CHECK, VERSION, STATUS, GC/));
});

test('parseCniEnv returns what each verb needs', () => {
  assert.deepEqual(parseCniEnv({ CNI_COMMAND: 'VERSION' }), { command: 'VERSION' });
  assert.deepEqual(parseCniEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }), { command: 'GC', cniPath: '/opt/cni/bin' });
  assert.deepEqual(parseCniEnv({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }), { command: 'STATUS', cniPath: '/x' });
  assert.deepEqual(parseCniEnv(base), {
    command: 'ADD',
    containerId: 'c0ffee',
    ifname: 'eth0',
    cniPath: '/opt/cni/bin',
    pod: undefined,
    netns: '/var/run/netns/p1',
  });
  const del = parseCniEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: '' });
  assert.equal(del.command, 'DEL');
  assert.equal('netns' in del ? del.netns : 'missing', undefined);
  const delNoNetns = parseCniEnv({ ...base, CNI_COMMAND: 'DEL', CNI_NETNS: undefined });
  assert.equal('netns' in delNoNetns ? delNoNetns.netns : 'missing', undefined);
});

test('parseCniEnv names the missing or malformed variable', () => {
  const cases: Array<[string, Env, string, RegExp]> = [
    ['ADD without CNI_PATH', { ...base, CNI_PATH: undefined }, 'CNI_PATH', /^CNI_PATH is required for ADD$/],
    ['GC without CNI_PATH', { CNI_COMMAND: 'GC' }, 'CNI_PATH', /^CNI_PATH is required for GC$/],
    ['STATUS without CNI_PATH', { CNI_COMMAND: 'STATUS', CNI_PATH: '' }, 'CNI_PATH', /required for STATUS/],
    ['ADD without container ID', { ...base, CNI_CONTAINERID: undefined }, 'CNI_CONTAINERID', /^CNI_CONTAINERID is required for ADD$/],
    ['DEL without container ID', { ...base, CNI_COMMAND: 'DEL', CNI_CONTAINERID: '' }, 'CNI_CONTAINERID', /required for DEL/],
    ['container ID starting with -', { ...base, CNI_CONTAINERID: '-abc' }, 'CNI_CONTAINERID', /"-abc" must start with a letter or digit/],
    ['container ID with /', { ...base, CNI_CONTAINERID: 'a/b' }, 'CNI_CONTAINERID', /"a\/b" must start/],
    ['container ID with space', { ...base, CNI_CONTAINERID: 'a b' }, 'CNI_CONTAINERID', /only letters, digits/],
    ['CHECK without ifname', { ...base, CNI_COMMAND: 'CHECK', CNI_IFNAME: undefined }, 'CNI_IFNAME', /^CNI_IFNAME is required for CHECK$/],
    ['ifname of 16 bytes', { ...base, CNI_IFNAME: 'a'.repeat(16) }, 'CNI_IFNAME', /must be at most 15 bytes/],
    ['ifname of 15 bytes counted in UTF-8', { ...base, CNI_IFNAME: 'é'.repeat(8) }, 'CNI_IFNAME', /at most 15 bytes/],
    ['ifname .', { ...base, CNI_IFNAME: '.' }, 'CNI_IFNAME', /must not be "\." or "\.\."/],
    ['ifname ..', { ...base, CNI_IFNAME: '..' }, 'CNI_IFNAME', /must not be "\." or "\.\."/],
    ['ifname with /', { ...base, CNI_IFNAME: 'eth/0' }, 'CNI_IFNAME', /must not contain "\/", ":" or whitespace/],
    ['ifname with :', { ...base, CNI_IFNAME: 'eth0:1' }, 'CNI_IFNAME', /must not contain/],
    ['ifname with tab', { ...base, CNI_IFNAME: 'eth\t0' }, 'CNI_IFNAME', /must not contain/],
    ['ADD without netns', { ...base, CNI_NETNS: undefined }, 'CNI_NETNS', /^CNI_NETNS is required for ADD$/],
    ['CHECK without netns', { ...base, CNI_COMMAND: 'CHECK', CNI_NETNS: '' }, 'CNI_NETNS', /required for CHECK/],
    ['relative netns', { ...base, CNI_NETNS: 'netns/p1' }, 'CNI_NETNS', /"netns\/p1" must be an absolute path/],
    ['malformed CNI_ARGS', { ...base, CNI_ARGS: 'K8S_POD_NAME' }, 'CNI_ARGS', /entry "K8S_POD_NAME" is not KEY=VALUE/],
  ];
  for (const [name, env, variable, message] of cases) {
    assert.throws(() => parseCniEnv(env), badEnv(variable, message), name);
  }
});

test('parseCniEnv accepts edge-valid identifiers', () => {
  for (const id of ['a', '0', 'A_b.c-d', 'k8s_POD_default_x_1']) {
    assert.equal(parseCniEnv({ ...base, CNI_CONTAINERID: id }).command, 'ADD', id);
  }
  for (const ifname of ['e', 'a'.repeat(15), 'net1', 'eth0.100', '...']) {
    assert.equal(parseCniEnv({ ...base, CNI_IFNAME: ifname }).command, 'ADD', ifname);
  }
});

test('parseCniArgs splits K=V pairs, keeps = in values and skips empty entries', () => {
  const cases: Array<[string | undefined, Record<string, string>]> = [
    [undefined, {}],
    ['', {}],
    ['IgnoreUnknown=1', { IgnoreUnknown: '1' }],
    ['A=1;B=2;', { A: '1', B: '2' }],
    [';A=1;;B=', { A: '1', B: '' }],
    ['A=x=y', { A: 'x=y' }],
  ];
  for (const [raw, expected] of cases) assert.deepEqual(Object.fromEntries(parseCniArgs(raw)), expected, String(raw));
  assert.throws(() => parseCniArgs('=1'), badEnv('CNI_ARGS', /entry "=1" is not KEY=VALUE/));
  assert.throws(() => parseCniArgs('A=1;junk'), badEnv('CNI_ARGS', /"junk"/));
});

test('planPodRef needs namespace and name; uid is optional; other keys are ignored', () => {
  const of = (raw: string) => planPodRef(parseCniArgs(raw));
  assert.deepEqual(of('IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u-1'), {
    namespace: 'ns',
    name: 'web-0',
    uid: 'u-1',
  });
  assert.deepEqual(of('K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web-0'), { namespace: 'ns', name: 'web-0' });
  assert.equal(of('K8S_POD_NAMESPACE=ns'), undefined);
  assert.equal(of('K8S_POD_NAME=web-0;K8S_POD_NAMESPACE='), undefined);
  assert.deepEqual(parseCniEnv({ ...base, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p' }), {
    command: 'ADD',
    containerId: 'c0ffee',
    ifname: 'eth0',
    cniPath: '/opt/cni/bin',
    pod: { namespace: 'ns', name: 'p' },
    netns: '/var/run/netns/p1',
  });
});
