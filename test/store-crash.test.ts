// Process-level tests of the SQLite store: a child is SIGKILLed mid-loop and
// every operation it acknowledged must be on disk; several processes race on
// one file and each IP must have exactly one winner.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSqliteStore } from '../src/store/sqlite.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/reserve-then-hang.ts', import.meta.url));
const TOTAL = 200;
const KILL_AFTER = 50;

/** Same numbering as the fixture. */
const crashIp = (i: number): string => `10.200.${i >> 8}.${i & 255}`;
const ipsUpTo = (n: number): string[] => Array.from({ length: n }, (_, i) => crashIp(i));

const dirs: string[] = [];
function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidepool-'));
  dirs.push(dir);
  return path.join(dir, 'store.db');
}
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Child {
  readonly process: ChildProcess;
  /** Lines printed so far; each is an operation the store acknowledged (or `done`). */
  readonly lines: string[];
  /** Resolves once the child has printed at least `n` lines; rejects if it exits first. */
  waitForLines(n: number): Promise<void>;
  /** Resolves when the child exited and its stdout is drained. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startChild(args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Child {
  const env = { ...process.env };
  // Children must start like they would in production, without extra CA loading.
  delete env.NODE_EXTRA_CA_CERTS;
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { cwd: ROOT, env, stdio: [stdin, 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const listeners = new Set<() => void>();
  const stdout = proc.stdout;
  assert.ok(stdout);
  const rl = readline.createInterface({ input: stdout });
  rl.on('line', (line) => {
    lines.push(line);
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    // 'close' fires after stdio ended, so `lines` is complete by then.
    proc.on('close', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal, stderr });
    });
  });
  const waitForLines = (n: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (lines.length >= n) {
          listeners.delete(check);
          resolve();
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          listeners.delete(check);
          reject(new Error(`child exited after ${lines.length} lines: ${stderr}`));
        }
      };
      listeners.add(check);
      check();
    });
  return { process: proc, lines, waitForLines, exited };
}

async function killMidway(child: Child): Promise<string[]> {
  await child.waitForLines(KILL_AFTER);
  child.process.kill('SIGKILL');
  const { signal } = await child.exited;
  assert.equal(signal, 'SIGKILL');
  assert.ok(!child.lines.includes('done'), 'the kill should land in the middle of the loop');
  return [...child.lines];
}

describe('sqlite store under SIGKILL', () => {
  test('every reserve acknowledged before the kill is on disk', async () => {
    const file = tempFile();
    const acked = await killMidway(startChild([file, 'reserve', String(TOTAL)]));
    assert.ok(acked.length >= KILL_AFTER && acked.length < TOTAL);

    const store = createSqliteStore({ path: file });
    try {
      const present = (await store.usage('crash')).allocated;
      const missing = acked.filter((ip) => !present.includes(ip));
      assert.deepEqual(missing, [], 'acknowledged reserves lost by the crash');
      // At most the one reserve in flight at the kill may have committed without an acknowledgement.
      const held = new Set(present);
      const expectedPrefix = held.size === acked.length ? acked.length : acked.length + 1;
      assert.deepEqual(new Set(ipsUpTo(expectedPrefix)), held);
    } finally {
      await store.close();
    }
  });

  test('every release acknowledged before the kill is on disk', async () => {
    const file = tempFile();
    const setup = createSqliteStore({ path: file });
    for (const ip of ipsUpTo(TOTAL)) {
      assert.equal(await setup.reserve({ pool: 'crash', ip, containerId: 'crash', ifname: 'eth0', netns: '', node: 'n', allocatedAt: 1 }), true);
    }
    await setup.close();

    const acked = await killMidway(startChild([file, 'release', String(TOTAL)]));
    assert.ok(acked.length >= KILL_AFTER && acked.length < TOTAL);

    const store = createSqliteStore({ path: file });
    try {
      const usage = await store.usage('crash');
      const stillHeld = acked.filter((ip) => usage.allocated.includes(ip));
      assert.deepEqual(stillHeld, [], 'acknowledged releases undone by the crash');
      const releasedIps = new Set(usage.released.map(([ip]) => ip));
      assert.deepEqual(acked.filter((ip) => !releasedIps.has(ip)), [], 'acknowledged releases missing from the release history');
      const freed = TOTAL - usage.allocated.length;
      assert.ok(freed === acked.length || freed === acked.length + 1, `freed ${freed}, acknowledged ${acked.length}`);
      assert.deepEqual(usage.allocated, ipsUpTo(TOTAL).slice(freed).sort());
    } finally {
      await store.close();
    }
  });
});

describe('sqlite store shared by processes', () => {
  test('4 processes racing for the same 300 IPs on a fresh file: each IP has exactly one winner', async () => {
    const file = tempFile();
    const count = 300;
    // Each racer starts at its own quarter and wraps around, so each wins some IPs and then runs into the others'.
    const children = Array.from({ length: 4 }, (_, i) => startChild([file, 'race', String(count), `racer-${i}`, String((i * count) / 4)], 'pipe'));
    await Promise.all(children.map((c) => c.waitForLines(1)));
    for (const c of children) c.process.stdin?.end('go\n');
    const results = await Promise.all(children.map((c) => c.exited));
    for (const c of children) assert.equal(c.lines.shift(), 'ready');
    results.forEach((r, i) => assert.equal(r.code, 0, `racer-${i} failed: ${r.stderr}`));

    const winners = new Map<string, string>();
    children.forEach((c, i) => {
      for (const ip of c.lines) {
        assert.equal(winners.get(ip), undefined, `${ip} won by racer-${i} and ${winners.get(ip)}`);
        winners.set(ip, `racer-${i}`);
      }
    });
    assert.equal(winners.size, count);
    const store = createSqliteStore({ path: file });
    try {
      const listed = await store.list({ pool: 'crash' });
      assert.equal(listed.length, count);
      for (const r of listed) assert.equal(r.containerId, winners.get(r.ip), `holder of ${r.ip}`);
      const wins = children.map((c) => c.lines.length);
      assert.ok(wins.filter((w) => w > 0).length > 1, `the race should have been contended: ${wins.join(', ')}`);
    } finally {
      await store.close();
    }
  });
});
