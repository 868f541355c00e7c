// Writes deploy/tidepool/crds/*.yaml from the TypeBox schemas in
// src/api/crd-schemas.ts. src/api/crd-schemas.test.ts fails while the
// committed files differ from what this writes, so run it after every schema
// change:  node --import tsx scripts/gen-crds.ts
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planCrdFiles } from '../src/api/crd-schemas.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'deploy', 'tidepool', 'crds');
mkdirSync(dir, { recursive: true });
const files = planCrdFiles();
// A renamed or removed CRD must not linger: Helm installs every file in crds/.
for (const name of readdirSync(dir)) {
  if (name.endsWith('.yaml') && !files.some((f) => f.fileName === name)) rmSync(join(dir, name));
}
for (const f of files) {
  writeFileSync(join(dir, f.fileName), f.text);
  console.log(`wrote ${join('deploy', 'tidepool', 'crds', f.fileName)}`);
}
