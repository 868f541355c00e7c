// tidepool's kinds are served from the CRDs users apply: the simulator's
// copy of deploy/tidepool/crds/ (tidepool-crds.generated.ts) is the files
// byte for byte, and a server installs them as objects it then serves by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TIDEPOOL_CRD_FILES } from '../../src/apiserver/tidepool-crds.generated.ts';
import { crdFiles } from './tidepool-crds.ts';
import { startHarness } from './test-helpers.ts';

test('the generated module carries deploy/tidepool/crds/ byte for byte (run npm run gen:crds after a schema change)', () => {
  const files = crdFiles().map((f) => ({ fileName: basename(f), text: readFileSync(f, 'utf8') }));
  assert.deepEqual(TIDEPOOL_CRD_FILES, files);
});

test('a server started with tidepool kinds holds the CRDs as objects, Established, and serves their kinds by them', async () => {
  const h = await startHarness();
  try {
    const crds = await h.raw('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    assert.equal(crds.status, 200);
    const names = crds.body.items.map((c: any) => c.metadata.name).sort();
    assert.deepEqual(names, ['ipallocations.tidepool.dev', 'ippools.tidepool.dev', 'reservedips.tidepool.dev']);
    for (const c of crds.body.items) assert.ok(c.status.conditions.some((x: any) => x.type === 'Established' && x.status === 'True'), c.metadata.name);
    const list = await h.raw('GET', '/apis/tidepool.dev/v1alpha1');
    const pools = list.body.resources.find((r: any) => r.name === 'ippools');
    assert.deepEqual(pools.shortNames, ['tpool']);
    assert.deepEqual(pools.categories, ['tidepool']);
  } finally {
    await h.close();
  }
});

