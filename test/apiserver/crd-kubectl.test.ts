// The real kubectl against the test server's CustomResourceDefinitions, as a
// user meets them: `kubectl apply -f deploy/tidepool/crds/` registers the
// kinds; short names and categories resolve; apply validates (the OpenAPI v2
// document must parse, and /openapi/v3 must say PATCH takes fieldValidation,
// or kubectl validates on its own and never sends Strict); bad objects get
// the server's 422 naming each field and change nothing; get prints the
// CRD's printer columns from the Table the server answers; explain renders
// the published schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlFor, kubectlPath } from './kubectl.ts';
import { createFakeApiServer, type FakeApiServer } from './server.ts';
import { CRD_DIR } from './tidepool-crds.ts';
import { widgetCrd } from './crd-fixtures.ts';


interface Kubectl {
  (...args: string[]): Promise<string>;
  /** Runs a command that must fail; returns its stderr. */
  fails(...args: string[]): Promise<string>;
  file(name: string, obj: unknown): string;
  readonly server: FakeApiServer;
}

async function withKubectl(opts: { tidepoolKinds: boolean }, body: (k: Kubectl) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-crd-kubectl-'));
  const server = await createFakeApiServer({ tls: true, tidepoolKinds: opts.tidepoolKinds });
  // Its own kubeconfig and cache, so no discovery or OpenAPI document outlives this server.
  const kubectl = kubectlFor(server);
  const k = ((...args: string[]) => kubectl.ok(args)) as Kubectl;
  k.fails = async (...args) => {
    const r = await kubectl.run(args);
    if (r.code === 0) throw new Error(`kubectl ${args.join(' ')} succeeded`);
    return r.stderr;
  };
  k.file = (name, obj) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(obj));
    return path;
  };
  Object.defineProperty(k, 'server', { value: server });
  try {
    await body(k);
  } finally {
    kubectl.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const skip = kubectlPath ? false : 'needs kubectl';
const pool = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec });

test('kubectl apply -f deploy/tidepool/crds/ registers the kinds; short names and the tidepool category resolve', { skip }, async () => {
  await withKubectl({ tidepoolKinds: false }, async (k) => {
    assert.match(await k.fails('get', 'tpool'), /the server doesn't have a resource type "tpool"/);
    const applied = await k('apply', '-f', CRD_DIR);
    assert.equal(
      applied,
      'customresourcedefinition.apiextensions.k8s.io/ipallocations.tidepool.dev created\ncustomresourcedefinition.apiextensions.k8s.io/ippools.tidepool.dev created\ncustomresourcedefinition.apiextensions.k8s.io/reservedips.tidepool.dev created\n',
    );
    await k('apply', '-f', k.file('pool.json', pool('lan', { subnet: '10.0.0.0/24' })));
    await k('apply', '-f', k.file('reserved.json', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'r' }, spec: { ips: ['10.0.0.9'] } }));
    assert.equal(await k('get', 'tpool', '-o', 'name'), 'ippool.tidepool.dev/lan\n', 'the short name');
    assert.equal(await k('get', 'tidepool', '-o', 'name'), 'ippool.tidepool.dev/lan\nreservedip.tidepool.dev/r\n', 'the category');
    assert.equal(await k('get', 'crd', '-o', 'name'), 'customresourcedefinition.apiextensions.k8s.io/ipallocations.tidepool.dev\ncustomresourcedefinition.apiextensions.k8s.io/ippools.tidepool.dev\ncustomresourcedefinition.apiextensions.k8s.io/reservedips.tidepool.dev\n');
  });
});

test('kubectl apply: the server\'s 422 names each bad field and nothing is stored; unknown fields are refused (Strict), warned about or dropped', { skip }, async () => {
  await withKubectl({ tidepoolKinds: true }, async (k) => {
    const bad = await k.fails('apply', '-f', k.file('bad.json', pool('bad', { ips: 'not-a-list', default: 'yes' })));
    assert.match(bad, /The IPPool "bad" is invalid: \n\* spec\.ips: Invalid value: "string": spec\.ips in body must be of type array: "string"\n\* spec\.default: Invalid value: "string": spec\.default in body must be of type boolean: "string"\n\* spec\.subnet: Required value/);
    assert.deepEqual(k.server.objects('ippools'), [], 'nothing stored');
    // kubectl sends fieldValidation=Strict only because /openapi/v3 lists it for PATCH; else it would validate on its own.
    const strict = await k.fails('apply', '-f', k.file('extra.json', pool('x', { subnet: '10.0.0.0/24', foo: 1 })));
    assert.match(strict, /Error from server \(BadRequest\): error when creating ".*extra\.json": IPPool in version "v1alpha1" cannot be handled as a IPPool: strict decoding error: unknown field "spec\.foo"/);
    assert.deepEqual(k.server.objects('ippools'), [], 'nothing stored');
    const out = await k('apply', '--validate=warn', '-f', k.file('extra.json', pool('x', { subnet: '10.0.0.0/24', foo: 1 })));
    assert.equal(out, 'ippool.tidepool.dev/x created\n');
    assert.equal((k.server.objects('ippools')[0]?.['spec'] as Record<string, unknown> | undefined)?.['foo'], undefined, 'pruned');
    assert.equal(await k('apply', '--validate=false', '-f', k.file('extra2.json', pool('y', { subnet: '10.0.1.0/24', bar: true }))), 'ippool.tidepool.dev/y created\n');
    assert.deepEqual(k.server.objects('ippools').map((o) => o['spec']), [{ subnet: '10.0.0.0/24' }, { subnet: '10.0.1.0/24' }]);
  });
});

test('kubectl get prints the CRD\'s printer columns, -o wide those of priority above 0; defaults show', { skip }, async () => {
  await withKubectl({ tidepoolKinds: true }, async (k) => {
    await k('apply', '-f', k.file('pool.json', pool('lan', { subnet: '10.0.0.0/24', default: true })));
    const table = (await k('get', 'ippools')).split('\n');
    assert.match(table[0]!, /^NAME\s+SUBNET\s+TOTAL\s+ALLOCATED\s+DEFAULT\s+DISABLE\s+AGE$/);
    // Columns whose path has no value are blank; Default is true.
    assert.match(table[1]!, /^lan\s+10\.0\.0\.0\/24\s+true\s+\d+s$/);
    const at = (h: string) => table[0]!.indexOf(h);
    assert.equal(table[1]!.slice(at('DEFAULT'), at('DISABLE')).trim(), 'true');
    await k('apply', '-f', k.file('widget-crd.json', widgetCrd()));
    await k('apply', '-f', k.file('widget.json', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { size: 3 } }));
    assert.match((await k('get', 'widgets')).split('\n')[0]!, /^NAME\s+SIZE\s+AGE$/);
    const wide = (await k('get', 'wd', '-o', 'wide')).split('\n');
    assert.match(wide[0]!, /^NAME\s+SIZE\s+COLOR\s+AGE$/);
    assert.match(wide[1]!, /^w\s+3\s+red\s+\d+s$/, 'the schema default shows');
  });
});

test('kubectl explain renders the published schema of a CRD-served kind', { skip }, async () => {
  await withKubectl({ tidepoolKinds: true }, async (k) => {
    const out = await k('explain', 'ippool.spec');
    assert.match(out, /^GROUP:\s+tidepool\.dev\nKIND:\s+IPPool\nVERSION:\s+v1alpha1\n/);
    assert.match(out, /FIELD: spec <Object>/);
    assert.match(out, /\n {2}subnet\t<string> -required-\n {4}Network address in CIDR form; the pool IP family follows it\./);
    assert.match(await k('explain', 'tpool.spec.nodeAffinity.matchExpressions.operator'), /FIELD: operator <string>\nENUM:\n {4}In\n {4}NotIn\n {4}Exists\n {4}DoesNotExist/);
  });
});
