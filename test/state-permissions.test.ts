// Another user on the host against the standalone agent's state: it must
// neither read the records nor lock the database. The control case shows the
// probes work: against state files laid out as older builds left them (0755
// directory, 0644 files) the same user reads every record and, by holding a
// shared lock on SQLite's WAL write-lock byte in -shm, makes writes fail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createSqliteStore } from '../src/store/sqlite.ts';
import { prepareStateDir } from '../src/store/state-dir.ts';
import { poolYaml, startAgent, type AgentProcess } from './helpers/agent-process.ts';

const NOBODY = 65534;
const PYTHON = '/usr/bin/python3';
const SQLITE = '/usr/bin/sqlite3';
/** SQLite's unix VFS keeps the WAL locks from byte 120 of -shm; lock 0 is the write lock. */
const LOCK_WRITER = `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 120)
print('locked', flush=True)
time.sleep(60)
`;

/** Runs a command as the unprivileged user; `ok` when it exited 0. */
function asNobody(cmd: string, args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin', HOME: '/' } });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Starts a process as the unprivileged user that holds the WAL write-lock byte of `shm` until killed; rejects if it cannot. */
async function holdWriteLock(shm: string): Promise<() => void> {
  const proc = spawn(PYTHON, ['-c', LOCK_WRITER, shm], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = once(proc, 'exit');
  const locked = new Promise<void>((resolve) => proc.stdout.on('data', (c: Buffer) => c.toString().includes('locked') && resolve()));
  const first = await Promise.race([locked.then(() => 'locked' as const), exited.then(() => 'exited' as const)]);
  if (first === 'exited') throw new Error(`could not lock ${shm}: ${stderr.trim().split('\n').pop()}`);
  return () => proc.kill('SIGKILL');
}

describe('state files and another user on the host', () => {
  let top: string;
  before(() => {
    assert.equal(process.getuid?.(), 0, 'these tests start processes as another user: run them as root');
    for (const tool of [PYTHON, SQLITE]) assert.ok(fs.existsSync(tool), `${tool} is needed (scripts/setup.sh installs it)`);
    top = fs.mkdtempSync(path.join(os.tmpdir(), 'tidepool-perm-'));
    // Everyone may walk to the state directory, as with /var/lib.
    fs.chmodSync(top, 0o755);
  });
  after(() => fs.rmSync(top, { recursive: true, force: true }));

  test('control: state files as older builds left them can be read and locked by anyone', async () => {
    const dir = path.join(top, 'old');
    fs.mkdirSync(dir, { mode: 0o755 });
    const file = path.join(dir, 'state.db');
    const store = createSqliteStore({ path: file, busyTimeoutMs: 300 });
    try {
      assert.equal(await store.reserve({ pool: 'p', ip: '10.0.0.1', containerId: 'secret-ctr', ifname: 'eth0', netns: '/run/netns/x', node: 'n', allocatedAt: 1 }), true);
      for (const f of [dir]) fs.chmodSync(f, 0o755);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.chmodSync(f, 0o644);
      const read = asNobody(SQLITE, ['-readonly', file, 'SELECT container_id FROM allocations']);
      assert.deepEqual([read.ok, read.stdout.trim()], [true, 'secret-ctr'], read.stderr);
      const release = await holdWriteLock(`${file}-shm`);
      try {
        await assert.rejects(store.reserve({ pool: 'p', ip: '10.0.0.2', containerId: 'c', ifname: 'eth0', netns: '', node: 'n', allocatedAt: 2 }), { code: 'STORE_BUSY' });
      } finally {
        release();
      }
    } finally {
      await store.close();
    }
  });

  test("the agent's state directory is 0700 and its files 0600: another user can neither read records nor lock the database", async () => {
    const state = path.join(top, 'agent', 'state', 'state.db');
    let agent: AgentProcess | undefined;
    try {
      agent = await startAgent({ pools: poolYaml('lan', { subnet: '10.40.0.0/24', ips: ['10.40.0.10-10.40.0.20'] }), args: ['--state', state, '--gc-interval', '1h'] });
      const add = await agent.call('POST', '/v1/allocate', { containerId: 'secret-ctr', ifname: 'eth0', netns: '', ipv4Pools: ['lan'] });
      assert.equal(add.status, 200, JSON.stringify(add.body));
      assert.equal(fs.statSync(path.dirname(state)).mode & 0o777, 0o700);
      for (const f of [state, `${state}-wal`, `${state}-shm`]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);

      const list = asNobody('/bin/ls', [path.dirname(state)]);
      assert.equal(list.ok, false, 'the directory cannot be listed');
      const read = asNobody(SQLITE, ['-readonly', state, 'SELECT container_id FROM allocations']);
      assert.equal(read.ok, false, `records must not be readable: ${read.stdout}`);
      assert.doesNotMatch(read.stdout, /secret-ctr/);
      await assert.rejects(holdWriteLock(`${state}-shm`), /Permission denied/);
      const del = await agent.call('POST', '/v1/release', { containerId: 'secret-ctr', ifname: 'eth0' });
      assert.equal(del.body.released.length, 1, 'writes go on');
    } finally {
      await agent?.cleanup();
    }
  });

  test('state files an older build left open are closed when the agent opens them', async () => {
    const dir = path.join(top, 'upgraded');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const file = path.join(dir, 'state.db');
    // An older agent, still running: its files are 0644 in a 0755 directory.
    const older = createSqliteStore({ path: file });
    try {
      assert.equal(await older.reserve({ pool: 'p', ip: '10.0.0.1', containerId: 'c', ifname: 'eth0', netns: '', node: 'n', allocatedAt: 1 }), true);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.chmodSync(f, 0o644);
      assert.equal(asNobody(SQLITE, ['-readonly', file, 'SELECT count(*) FROM allocations']).ok, true, 'the control read works before');
      assert.equal(prepareStateDir(file), 'narrowed');
      const store = createSqliteStore({ path: file });
      try {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
        assert.equal(asNobody(SQLITE, ['-readonly', file, 'SELECT count(*) FROM allocations']).ok, false);
        await assert.rejects(holdWriteLock(`${file}-shm`), /Permission denied/);
      } finally {
        await store.close();
      }
    } finally {
      await older.close();
    }
  });
});
