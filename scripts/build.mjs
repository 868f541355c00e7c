// Builds the two artefacts:
//   dist/tidepool.mjs   the CLI and daemon (Node; dependencies stay in node_modules)
//   dist/cni/tidepool   the CNI plugin: one self-contained executable
import { build } from 'esbuild';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('dist/cni', { recursive: true });

await build({
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/tidepool.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
chmodSync('dist/tidepool.mjs', 0o755);

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
