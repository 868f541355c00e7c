// deploy/systemd/tidepool-agent.service: what systemd makes of it
// (systemd-analyze verify, when this machine has it), that its command line
// is one the agent accepts and its directories are the agent's defaults, and
// that the agent does its whole job, probing a new address from a pod's link
// included, with only the capabilities the unit leaves it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DAEMON_DEFAULTS, parseDaemonArgs } from '../src/agent/daemon.ts';
import { poolYaml, startAgent, type AgentProcess } from './helpers/agent-process.ts';
import { ip, ipQuiet, netnsUnavailable } from './helpers/netns.ts';

const UNIT = join(import.meta.dirname, '..', 'deploy', 'systemd', 'tidepool-agent.service');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const SYSTEM_UNITS = '/usr/lib/systemd/system';

/** The unit's settings by section, each key with every value it is given (systemd keys may repeat). */
function readUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      sections.set(section[1]!, (current = new Map()));
      continue;
    }
    const m = /^(\w+)=(.*)$/.exec(line);
    assert.ok(m && current, `unit line not understood: ${line}`);
    current.set(m[1]!, [...(current.get(m[1]!) ?? []), m[2]!]);
  }
  return sections;
}

const unit = readUnit(readFileSync(UNIT, 'utf8'));
const service = unit.get('Service')!;
const one = (key: string): string | undefined => {
  const values = service.get(key);
  assert.ok(values === undefined || values.length === 1, `${key} is set ${values?.length} times`);
  return values?.[0];
};
const execStart = one('ExecStart')!.split(/\s+/);
const capabilities = one('CapabilityBoundingSet')!.split(/\s+/);

describe('the systemd unit', () => {
  test('restarts always, reloads with SIGHUP, and gives the agent a 0700 state directory and a runtime directory', () => {
    assert.equal(one('Restart'), 'always');
    assert.equal(unit.get('Unit')?.get('StartLimitIntervalSec')?.[0], '0', 'no rate limit: systemd would stop restarting it after 5 quick failures');
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(one('StateDirectory'), 'tidepool');
    assert.equal(one('StateDirectoryMode'), '0700');
    assert.equal(one('RuntimeDirectory'), 'tidepool');
  });

  test('its command line is one the agent accepts, and the agent\'s defaults live in the directories systemd makes', () => {
    assert.equal(execStart[0], '/usr/local/bin/tidepool');
    assert.equal(execStart[1], 'daemon');
    const config = parseDaemonArgs(execStart.slice(2));
    assert.equal(config.logFormat, 'text', 'the journal is read by people');
    assert.equal(dirname(config.state), `/var/lib/${one('StateDirectory')}`);
    assert.equal(dirname(config.socket), `/run/${one('RuntimeDirectory')}`);
    assert.equal(config.state, DAEMON_DEFAULTS.state);
  });

  test('root with exactly the four capabilities the agent uses; nothing that would cut it off from pods\' namespaces or Node\'s JIT', () => {
    assert.deepEqual([...capabilities].sort(), ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE']);
    assert.equal(one('User'), undefined, 'root: the agent opens other processes\' namespaces');
    assert.equal(one('NoNewPrivileges'), 'yes');
    for (const breaking of ['PrivateNetwork', 'MemoryDenyWriteExecute', 'ProtectProc', 'SystemCallFilter']) assert.equal(one(breaking), undefined, breaking);
    assert.equal(one('RestrictNamespaces'), 'net', 'setns into a pod\'s network namespace is allowed');
  });

  test('systemd-analyze verify accepts it without a warning', () => {
    assert.ok(existsSync(SYSTEMD_ANALYZE), `${SYSTEMD_ANALYZE} is not installed (Debian's systemd package; scripts/setup.sh installs it)`);
    // A root of its own, so verify needs neither a running systemd nor tidepool installed on this machine:
    // the system's units, stand-ins for the two commands the unit runs, and the unit where an operator puts it.
    const root = mkdtempSync(join(tmpdir(), 'tidepool-systemd-'));
    try {
      cpSync(SYSTEM_UNITS, join(root, SYSTEM_UNITS), { recursive: true });
      for (const command of [execStart[0]!, one('ExecReload')!.split(' ')[0]!]) {
        mkdirSync(join(root, dirname(command)), { recursive: true });
        writeFileSync(join(root, command), '#!/bin/sh\n');
        chmodSync(join(root, command), 0o755);
      }
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      cpSync(UNIT, join(root, 'etc/systemd/system/tidepool-agent.service'));
      const r = spawnSync(SYSTEMD_ANALYZE, ['verify', `--root=${root}`, '/etc/systemd/system/tidepool-agent.service'], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(`${r.stdout}${r.stderr}`, '', 'no warnings: an unknown key or a bad value is only a warning to systemd');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('the agent with only the unit\'s capabilities', () => {
  const tag = (process.pid % 10000).toString(36);
  const bridge = `tpsb${tag}`;
  const names = { lan: `tps-${tag}-lan`, pod: `tps-${tag}-pod` };
  const setpriv = (caps: readonly string[]) => ['setpriv', `--bounding-set=-all,${caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',')}`, '--inh-caps=-all', '--no-new-privs', '--'];
  const agents: AgentProcess[] = [];

  before(() => {
    const why = netnsUnavailable();
    assert.equal(why, undefined, `real-namespace tests cannot run: ${why}`);
    // A LAN (a bridge) with a host that already uses 10.88.0.10, and a pod namespace with its link on it.
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('link', 'set', bridge, 'up');
    for (const [n, ns] of Object.entries(names)) {
      ip('netns', 'add', ns);
      ip('link', 'add', `${bridge}${n[0]}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', `${bridge}${n[0]}`, 'master', bridge, 'up');
    }
    ip('-n', names.lan, 'link', 'set', 'eth0', 'up');
    ip('-n', names.lan, 'addr', 'add', '10.88.0.10/24', 'dev', 'eth0');
  });

  after(async () => {
    for (const a of agents) await a.cleanup();
    for (const ns of Object.values(names)) ipQuiet('netns', 'del', ns);
    ipQuiet('link', 'del', bridge);
  });

  /** An ADD into the pod namespace from pool 10.88.0.10-11, the first of which the LAN host answers for. */
  async function addWith(caps: readonly string[], id: string): Promise<{ address: string; logs: string }> {
    const agent = await startAgent({ pools: poolYaml('lan', { subnet: '10.88.0.0/24', ips: ['10.88.0.10-10.88.0.11'] }), args: ['--detection-timeout', '500ms'], wrap: setpriv(caps) });
    agents.push(agent);
    const r = await agent.call('POST', '/v1/allocate', { containerId: id, ifname: 'eth0', netns: `/var/run/netns/${names.pod}`, ipv4Pools: ['lan'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await agent.call('POST', '/v1/release', { containerId: id, ifname: 'eth0' });
    return { address: r.body.ips[0].address, logs: agent.logs.join('\n') };
  }

  test('they suffice: the probe from the pod\'s link finds the LAN host on the first IP, and the pod gets the second', async () => {
    const { address, logs } = await addWith(capabilities, 'all-four');
    assert.equal(address, '10.88.0.11/24', logs);
  });

  test('control: without NET_RAW the probe cannot run, and the pod is given the IP the LAN host uses', async () => {
    const { address, logs } = await addWith(capabilities.filter((c) => c !== 'CAP_NET_RAW'), 'no-net-raw');
    assert.equal(address, '10.88.0.10/24', logs);
  });
});
