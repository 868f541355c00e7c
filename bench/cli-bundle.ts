// A private copy of the built CLI (other work in the tree rebuilds dist/):
// dist/tidepool.mjs loads code shared with dist/simulate.mjs from
// dist/chunks/, so a working copy takes every output the build's metafile
// lists, source maps aside.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Copies the CLI bundle from `dist` into `dir`. Returns the copy of
 * tidepool.mjs and a sha256 (16 hex) over every copied file, naming the build.
 */
export function copyCliBundle(dist: string, dir: string): { cli: string; sha256: string } {
  const meta = JSON.parse(readFileSync(join(dist, 'meta.json'), 'utf8')) as { outputs: Record<string, unknown> };
  const hash = createHash('sha256');
  for (const out of Object.keys(meta.outputs).sort()) {
    if (out.endsWith('.map')) continue;
    const rel = out.replace(/^dist\//, '');
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    copyFileSync(join(dist, rel), join(dir, rel));
    hash.update(rel).update(readFileSync(join(dir, rel)));
  }
  return { cli: join(dir, 'tidepool.mjs'), sha256: hash.digest('hex').slice(0, 16) };
}
