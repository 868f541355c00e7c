// Builds the artefacts:
//   dist/tidepool.mjs   the CLI, agent and controller (Node; dependencies stay in node_modules)
//   dist/simulate.mjs   the cluster simulator with the API server it runs, loaded only by `tidepool simulate`
//   dist/chunks/        code both of them use, loaded once
//   dist/cni/tidepool   the CNI plugin: one self-contained executable
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync as removePath, writeFileSync } from 'node:fs';

mkdirSync('dist/cni', { recursive: true });
removePath('dist/chunks', { recursive: true, force: true });

// Two entry points with code splitting: `tidepool simulate` imports
// src/cli/simulate.ts dynamically, so the simulator and the API server it
// runs land in dist/simulate.mjs and are never loaded by the agent or the
// controller. The metafile lets test/cli-bundle.test.ts prove what each
// entry carries.
const cli = await build({
  entryPoints: { tidepool: 'src/cli/bin.ts', simulate: 'src/cli/simulate.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  metafile: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
writeFileSync('dist/meta.json', JSON.stringify(cli.metafile));
chmodSync('dist/tidepool.mjs', 0o755);

// ---- CNI plugin (src/cni) ----
// Imports sit here, not at the top, so the two halves of this script can be
// edited independently; ESM hoists them anyway.
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

// The plugin bundle must stay free of the store and any Kubernetes client; the
// metafile lets test/cni-bundle.test.ts prove it.
const cni = await build({
  entryPoints: ['src/cni/main.ts'],
  outfile: 'dist/cni/tidepool.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  metafile: true,
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
writeFileSync('dist/cni/meta.json', JSON.stringify(cni.metafile));
chmodSync('dist/cni/tidepool.mjs', 0o755);

// dist/cni/tidepool runs once per pod network operation, so start-up time
// is what matters (docs/adr/0003-plugin-startup.md): a bun-compiled
// executable with bytecode starts ~4x faster than node. Each candidate must
// answer VERSION before it is shipped; when none does (no bun for this
// platform, TIDEPOOL_CNI_RUNTIME=node) the node bundle is shipped instead,
// so the build never fails for lack of bun.
const CNI_OUT = 'dist/cni/tidepool';

function findBun() {
  if (process.env.TIDEPOOL_BUN) return process.env.TIDEPOOL_BUN;
  const local = join('node_modules', '.bin', 'bun');
  if (existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'bun'))) return join(dir, 'bun');
  }
  return undefined;
}

function answersVersion(file) {
  const env = { CNI_COMMAND: 'VERSION', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const r = spawnSync(file, [], { env, input: '{"cniVersion":"1.1.0"}', encoding: 'utf8', timeout: 10_000 });
  try {
    return r.status === 0 && JSON.parse(r.stdout).supportedVersions.includes('1.1.0');
  } catch {
    return false;
  }
}

function shipCniPlugin() {
  rmSync(CNI_OUT, { force: true });
  const bun = process.env.TIDEPOOL_CNI_RUNTIME === 'node' ? undefined : findBun();
  if (bun) {
    // A plugin runs in the runtime's working directory: it must never pick up a
    // stray .env or bunfig.toml from there (skipping the look-ups also saves ~0.5 ms).
    const hermetic = ['--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig'];
    const variants = [
      { runtime: 'bun-bytecode', flags: ['--minify', '--bytecode', '--format=esm'] },
      { runtime: 'bun', flags: ['--minify'] },
    ];
    for (const { runtime, flags } of variants) {
      const r = spawnSync(bun, ['build', '--compile', ...hermetic, ...flags, 'dist/cni/tidepool.mjs', '--outfile', CNI_OUT], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (r.status === 0 && answersVersion(CNI_OUT)) return runtime;
      console.warn(`build: bun ${flags.join(' ')} did not produce a working plugin: ${(r.stderr || r.error?.message || '').trim().slice(0, 300)}`);
      rmSync(CNI_OUT, { force: true });
    }
  }
  copyFileSync('dist/cni/tidepool.mjs', CNI_OUT);
  chmodSync(CNI_OUT, 0o755);
  return 'node';
}

const cniRuntime = shipCniPlugin();
chmodSync(CNI_OUT, 0o755);
// Tests and the benchmark read which runtime was shipped.
writeFileSync('dist/cni/build-info.json', JSON.stringify({ runtime: cniRuntime }) + '\n');
if (cniRuntime === 'node') console.warn('build: dist/cni/tidepool is the node bundle (needs node >= 20 on the host)');
