// The `tidepool` command as a real process: help for every subcommand, and
// output into a pipe whose reader has gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { CLI, cleanEnv, poolYaml, runCli, startAgent, type AgentProcess } from './helpers/agent-process.ts';

const COMMANDS: Array<[string, RegExp]> = [
  ['pools', /^tidepool pools /],
  ['allocations', /^tidepool allocations /],
  ['release', /^tidepool release IP /],
  ['gc', /^tidepool gc /],
  ['install-cni', /^tidepool install-cni --dest DIR/],
  ['version', /^tidepool version\n/],
  ['simulate', /^Usage:\n  tidepool simulate /],
  ['daemon', /^tidepool daemon --pools FILE/],
  ['controller', /^tidepool controller --namespace NS/],
];

describe('tidepool <command> --help', () => {
  for (const [command, usage] of COMMANDS) {
    for (const flag of ['--help', '-h']) {
      test(`${command} ${flag} prints its usage and exits 0`, async () => {
        // No agent on this socket: help must not need one.
        const r = await runCli([command, flag], { TIDEPOOL_SOCKET: '/nonexistent/agent.sock' });
        assert.deepEqual([r.code, r.stderr], [0, ''], r.stderr);
        assert.match(r.stdout, usage);
      });
    }
  }

  test('help wins over missing arguments and other flags', async () => {
    const r = await runCli(['release', '--force', '--help']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    assert.match(r.stdout, /^tidepool release IP /);
  });
});

/** Runs the CLI with its stdout a pipe whose reading end is already closed: the first write gets EPIPE. */
function runIntoClosedPipe(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before node has even started, so no write can get through first.
    proc.stdout.destroy();
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('output into a closed pipe', () => {
  let agent: AgentProcess;
  const ROWS = 600;
  before(async () => {
    agent = await startAgent({ pools: poolYaml('wide', { subnet: '10.40.0.0/22', default: true }), args: ['--gc-interval', '1h'] });
    for (let i = 0; i < ROWS; i++) {
      const res = await agent.call('POST', '/v1/allocate', { containerId: `row-${i}`, ifname: 'eth0', netns: '' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  });
  after(async () => {
    await agent?.cleanup();
  });

  for (const args of [['gc', '--help'], ['version'], ['allocations'], ['allocations', '--json']]) {
    test(`tidepool ${args.join(' ')} into a closed pipe ends quietly`, async () => {
      const r = await runIntoClosedPipe(args, { TIDEPOOL_SOCKET: agent.socket });
      assert.equal(r.stderr, '', 'no error, no stack');
      assert.equal(r.signal, null);
    });
  }

  // 600 rows of JSON are well over the 64 KiB a pipe holds, so the CLI is still writing when head exits.
  test('tidepool allocations --json | head -1 prints the first line and nothing on stderr', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const proc = spawn('bash', ['-c', `"${process.execPath}" "${CLI}" allocations --json | head -1`], { env: cleanEnv({ TIDEPOOL_SOCKET: agent.socket }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      proc.on('error', reject);
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '[\n');
    assert.equal(r.code, 0);
  });
});
