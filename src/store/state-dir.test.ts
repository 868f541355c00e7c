import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareStateDir } from './state-dir.ts';

const roots: string[] = [];
function root(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidepool-statedir-'));
  roots.push(dir);
  return dir;
}
after(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
const uid = process.geteuid?.() ?? 0;

describe('prepareStateDir', () => {
  test('a missing directory is created 0700, whatever the umask', () => {
    const dir = path.join(root(), 'var', 'lib', 'tidepool');
    const old = process.umask(0o022);
    try {
      assert.equal(prepareStateDir(path.join(dir, 'state.db')), 'created');
    } finally {
      process.umask(old);
    }
    assert.equal(modeOf(dir), 0o700);
  });

  test('a 0700 directory of the agent is kept as it is', () => {
    const dir = root();
    fs.chmodSync(dir, 0o700);
    assert.equal(prepareStateDir(path.join(dir, 'state.db')), 'kept');
  });

  test('a 0755 directory holding only the state file and its companions (as older builds left it) is narrowed to 0700', () => {
    const dir = path.join(root(), 'tidepool');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) fs.writeFileSync(path.join(dir, f), '');
    assert.equal(prepareStateDir(path.join(dir, 'state.db')), 'narrowed');
    assert.equal(modeOf(dir), 0o700);
  });

  const refusals: Array<[string, (dir: string) => void, RegExp]> = [
    ['readable by others and holding other files (a shared directory)', (d) => {
      fs.chmodSync(d, 0o755);
      fs.writeFileSync(path.join(d, 'notes.txt'), '');
    }, /is readable by other users \(mode 0755\) and holds other files \(notes\.txt\); give the agent a directory of its own, mode 0700$/],
    ['writable by others', (d) => fs.chmodSync(d, 0o777), /is writable by other users \(mode 0777\)/],
    ['writable by the group', (d) => fs.chmodSync(d, 0o770), /is writable by other users \(mode 0770\)/],
  ];
  for (const [name, arrange, message] of refusals) {
    test(`a directory ${name} is refused with INVALID_CONFIG naming it, and left as it was`, () => {
      const dir = path.join(root(), 'shared');
      fs.mkdirSync(dir);
      arrange(dir);
      const before = modeOf(dir);
      assert.throws(() => prepareStateDir(path.join(dir, 'state.db')), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_CONFIG');
        assert.ok(err.message.startsWith(`--state ${path.join(dir, 'state.db')}: directory ${dir} `), err.message);
        assert.match(err.message, message);
        return true;
      });
      assert.equal(modeOf(dir), before);
    });
  }

  test("a directory owned by another user is refused", () => {
    const dir = root();
    fs.chmodSync(dir, 0o700);
    assert.throws(() => prepareStateDir(path.join(dir, 'state.db'), uid + 4242), /is owned by uid \d+, not by the agent's uid \d+/);
  });

  test('a path whose directory is a file is refused', () => {
    const file = path.join(root(), 'plain');
    fs.writeFileSync(file, '');
    assert.throws(() => prepareStateDir(path.join(file, 'state.db')), /directory .*plain is not a directory/);
  });
});
