// What the CLI says when it cannot use the agent's socket: a user who may
// not (the socket is root's, mode 0600) is told so, not asked whether the
// agent runs; a socket nobody listens on is asked about.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, poolYaml, runCli, startAgent, type AgentProcess } from './helpers/agent-process.ts';

const NOBODY = 65534;

/** The CLI as an unprivileged user. */
function asNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: '/' } });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

describe('the CLI and a socket it may not use', () => {
  let agent: AgentProcess;
  before(async () => {
    assert.equal(process.getuid?.(), 0, 'these tests run the CLI as another user: run them as root');
    agent = await startAgent({ pools: poolYaml('lan', { subnet: '10.9.0.0/24' }) });
  });
  after(async () => {
    await agent?.cleanup();
  });

  test("another user is told the socket is root's and mode 0600, not asked whether the agent runs", () => {
    chmodSync(agent.dir, 0o755);
    const r = asNobody(['pools', '--socket', agent.socket]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `tidepool: permission denied on the agent socket ${agent.socket}: it is root's (mode 0600): only its owner may use it; run tidepool as root (sudo tidepool ...) (AGENT_UNREACHABLE)\n`);
  });

  test('a socket in a directory closed to the user says so', () => {
    chmodSync(agent.dir, 0o700);
    const r = asNobody(['allocations', '--socket', agent.socket]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^tidepool: permission denied on the agent socket .*: its directory is closed to this user \(the agent's socket is root's, mode 0600\); run tidepool as root/);
  });

  test('pools validate does not fall back to checking the file alone when the agent is there but refused', () => {
    chmodSync(agent.dir, 0o755);
    const file = join(agent.dir, 'edit.yaml');
    writeFileSync(file, poolYaml('lan', { subnet: '10.9.0.0/24' }));
    chmodSync(file, 0o644);
    const r = asNobody(['pools', 'validate', file, '--socket', agent.socket]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /permission denied on the agent socket/);
  });

  test('root reaches the same socket', async () => {
    const r = await runCli(['pools', '--socket', agent.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^POOL +SUBNET/);
  });

  test('a socket nobody listens on asks whether the agent runs', async () => {
    const r = await runCli(['pools', '--socket', join(agent.dir, 'nothing.sock')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tidepool: cannot reach the tidepool agent at .*nothing\.sock: ENOENT \(is "tidepool daemon" running\?/);
  });
});
