import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleRuntime, Owned, startRuntime } from './system.ts';

const owned = new Owned();
after(() => owned.cleanupSync());
const dir = mkdtempSync(join(tmpdir(), 'tidepool-runtime-test-'));
owned.dirs.add(dir);
const shim = bundleRuntime(dir);

test('runtime: runs a command with the given stdin and env, and reports its exit code and output', async () => {
  const rt = startRuntime(owned, shim, 'node-t');
  try {
    const r = await rt.exec('/bin/sh', ['-c', 'cat; printf "%s" "$GREETING" >&2; exit 3'], { input: 'sandbox', env: { GREETING: 'hello', PATH: '/usr/bin:/bin' } });
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'sandbox');
    assert.equal(r.stderr, 'hello');
    assert.ok(r.ms >= 0);
    // Many at once come back to their own callers.
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => rt.run('/bin/echo', [`n${i}`])));
    assert.deepEqual(outs, Array.from({ length: 20 }, (_, i) => `n${i}\n`));
  } finally {
    await rt.stop();
  }
});

test('runtime: a command that cannot start is code -1; run() rejects with the command and its stderr', async () => {
  const rt = startRuntime(owned, shim, 'node-t');
  try {
    const missing = await rt.exec('/nonexistent/plugin', []);
    assert.equal(missing.code, -1);
    assert.match(missing.stderr, /ENOENT/);
    await assert.rejects(rt.run('/bin/sh', ['-c', 'echo no such netns >&2; exit 1']), /^Error: \/bin\/sh -c echo no such netns >&2; exit 1: no such netns$/);
  } finally {
    await rt.stop();
  }
});

test('runtime: a runtime that dies fails its pending and later commands, naming it', async () => {
  const rt = startRuntime(owned, shim, 'node-7');
  const pending = rt.exec('/bin/sleep', ['3']);
  await rt.run('/bin/true', []);
  process.kill(rt.pid!, 'SIGKILL');
  await assert.rejects(pending, /node-7 runtime exited \(SIGKILL\)/);
  await assert.rejects(rt.exec('/bin/true', []), /node-7 runtime exited/);
});
