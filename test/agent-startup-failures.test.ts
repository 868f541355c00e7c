// The agent starts whole or not at all: when a part cannot start, the
// process exits non-zero with the reason, leaves no socket behind and holds
// no port, instead of serving its socket without the rest.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, cleanEnv, collectLines, poolYaml } from './helpers/agent-process.ts';

/** Generous: a loaded two-core machine may take seconds to start node; this bounds a hang, not speed. */
const EXIT_LIMIT_MS = 60_000;

/** Runs `tidepool daemon ARGS` and resolves once it exits; a daemon still running at the limit is killed and reported. */
function runDaemon(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'daemon', ...args], { env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
    const lines: string[] = [];
    const rest = collectLines(proc.stderr, lines);
    const limit = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the daemon was still running ${EXIT_LIMIT_MS / 1000} s after a part failed to start; its log:\n${lines.join('\n')}${rest.partial()}`));
    }, EXIT_LIMIT_MS);
    proc.on('exit', (code) => {
      clearTimeout(limit);
      resolve({ code, stderr: lines.join('\n') + rest.partial() });
    });
  });
}

/** The last line on stderr: the CLI's one-line reason. */
const reason = (stderr: string): string => stderr.trim().split('\n').pop() ?? '';

/** Listens on a free port of 127.0.0.1. */
function listenOn(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

describe('tidepool daemon fails whole', () => {
  let dir: string;
  let pools: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-startup-'));
    pools = join(dir, 'pools.yaml');
    writeFileSync(pools, poolYaml('lan', { subnet: '10.9.0.0/24' }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('metrics port taken: exits 2 naming --metrics-listen, and no socket is left serving', async () => {
    const blocker = createServer();
    const port = await listenOn(blocker);
    try {
      const socket = join(dir, 'metrics-taken.sock');
      const r = await runDaemon(['--pools', pools, '--state', join(dir, 'a', 'state.db'), '--socket', socket, '--metrics-listen', `127.0.0.1:${port}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(reason(r.stderr), new RegExp(`^tidepool: --metrics-listen 127\\.0\\.0\\.1:${port}: listen EADDRINUSE.* \\(INVALID_CONFIG\\)$`));
      assert.equal(existsSync(socket), false, 'the socket must not exist');
    } finally {
      blocker.close();
    }
  });

  test('state file unusable (not a SQLite database): exits 1 naming --state, and no socket is left', async () => {
    const stateDir = join(dir, 'garbage');
    mkdirSync(stateDir, { mode: 0o700 });
    const state = join(stateDir, 'state.db');
    writeFileSync(state, 'this is not a database\n'.repeat(100), { mode: 0o600 });
    const socket = join(dir, 'bad-state.sock');
    const r = await runDaemon(['--pools', pools, '--state', state, '--socket', socket, '--metrics-listen', '127.0.0.1:0']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(reason(r.stderr), `tidepool: --state ${state}: ${state} is not a tidepool store: the file is not a SQLite database (IO_FAILURE)`);
    assert.equal(existsSync(socket), false);
  });

  test('socket directory cannot be made after the store and metrics started: they are closed, the process exits 2', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    // That it exits at all is the proof: a metrics server or store left open would keep the process running.
    const r = await runDaemon(['--pools', pools, '--state', join(dir, 'b', 'state.db'), '--socket', join(file, 'agent.sock'), '--metrics-listen', '127.0.0.1:0']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(reason(r.stderr), /^tidepool: --socket .*plain-file\/agent\.sock: cannot create its directory .*plain-file: EEXIST/);
  });

  test('kubeconfig missing: exits 2 saying the file is missing', async () => {
    const socket = join(dir, 'kube.sock');
    const missing = join(dir, 'no-such-kubeconfig');
    const r = await runDaemon(['--store', 'kubernetes', '--kubeconfig', missing, '--node', 'n1', '--socket', socket, '--metrics-listen', '127.0.0.1:0']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(reason(r.stderr), `tidepool: --kubeconfig ${missing}: no such file (INVALID_CONFIG)`);
    assert.equal(existsSync(socket), false);
  });

  test('no kubeconfig anywhere: says where it looked instead of failing later on a localhost default', async () => {
    const home = join(dir, 'home');
    mkdirSync(home);
    const env = { HOME: home, KUBECONFIG: '' };
    const r = await runDaemon(['--store', 'kubernetes', '--node', 'n1', '--socket', join(dir, 'kube2.sock'), '--metrics-listen', 'off'], env);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      reason(r.stderr),
      `tidepool: --kubeconfig (default): no kubeconfig: $KUBECONFIG is not set, ${home}/.kube/config does not exist, and there is no service account token at /var/run/secrets/kubernetes.io/serviceaccount/token (not in a pod); pass --kubeconfig FILE (INVALID_CONFIG)`,
    );
  });

  test('$KUBECONFIG naming a missing file says so', async () => {
    const missing = join(dir, 'gone.yaml');
    const r = await runDaemon(['--store', 'kubernetes', '--node', 'n1', '--socket', join(dir, 'kube3.sock'), '--metrics-listen', 'off'], { KUBECONFIG: missing });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(reason(r.stderr), `tidepool: --kubeconfig (default): $KUBECONFIG names ${missing}: no such file (INVALID_CONFIG)`);
  });
});
