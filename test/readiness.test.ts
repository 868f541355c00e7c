// The one start-up wait of tests and benchmarks: it fails with the process's
// own words, at once when the process dies, and only after the limit otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { waitUntilReady } from './helpers/readiness.ts';

function child(script: string) {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  return { proc, log: () => log };
}

test('a process that exits before it is ready fails the wait at once, with its log', async () => {
  const c = child('console.error("bad --pools: no such file"); process.exit(2)');
  const started = Date.now();
  await assert.rejects(waitUntilReady('agent', c.proc, c.log, () => undefined), (err: Error) => {
    assert.match(err.message, /^agent exited \(2\) before it was ready; its log:\nbad --pools: no such file/);
    return true;
  });
  assert.ok(Date.now() - started < 30_000, 'no waiting out the limit');
});

test('a process that never gets ready fails after the limit, with its log', async () => {
  const c = child('console.error("still loading"); setInterval(() => {}, 1000)');
  try {
    await assert.rejects(waitUntilReady('controller', c.proc, c.log, () => undefined, { limitMs: 300 }), /^Error: controller was not ready within 300 ms; its log:\n/);
  } finally {
    c.proc.kill('SIGKILL');
  }
});

test('the wait returns what the probe found once it finds it', async () => {
  const c = child('setInterval(() => {}, 1000)');
  try {
    let probes = 0;
    assert.equal(await waitUntilReady('server', c.proc, c.log, () => (++probes === 3 ? 'http://127.0.0.1:1' : undefined), { everyMs: 1 }), 'http://127.0.0.1:1');
  } finally {
    c.proc.kill('SIGKILL');
  }
});
