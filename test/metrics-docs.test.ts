// docs/metrics.md and what tidepool's processes export agree: a standalone
// agent, a Kubernetes agent and a controller run as real processes against
// the test API server, get some traffic, and their /metrics are read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseExposition, type Exposition } from './helpers/exposition.ts';
import { startObservedSystem, type ObservedSystem } from './helpers/observed-system.ts';

type Process = 'standalone' | 'kubernetes agent' | 'controller';
const PROCESSES: readonly Process[] = ['standalone', 'kubernetes agent', 'controller'];

interface Documented {
  readonly type: string;
  readonly labels: ReadonlySet<string>;
  readonly exporters: ReadonlySet<Process>;
}

/** The table of docs/metrics.md: `| \`name\` | type | labels | exported by | meaning |`. */
function documented(): Map<string, Documented> {
  const doc = readFileSync(new URL('../docs/metrics.md', import.meta.url), 'utf8');
  const rows = new Map<string, Documented>();
  for (const m of doc.matchAll(/^\| `(tidepool_[a-z_]+)` \| (counter|gauge|histogram) \| ([^|]*) \| ([^|]*) \| .* \|$/gm)) {
    const labels = m[3]!.trim() === '—' ? [] : m[3]!.split(',').map((l) => l.trim());
    // "controller (leader only)": the qualifier says when series appear, not whether the family is exported.
    const exporters = m[4]!.split(',').map((e) => e.replace(/\(.*\)/, '').trim());
    for (const e of exporters) assert.ok((PROCESSES as readonly string[]).includes(e), `${m[1]}: unknown exporter "${e}"`);
    assert.ok(!rows.has(m[1]!), `${m[1]} is listed twice`);
    rows.set(m[1]!, { type: m[2]!, labels: new Set(labels), exporters: new Set(exporters as Process[]) });
  }
  return rows;
}

describe('docs/metrics.md lists exactly what the processes export', () => {
  let system: ObservedSystem;
  const exported = new Map<Process, Exposition>();
  const docs = documented();

  before(async () => {
    system = await startObservedSystem();
    await system.drive();
    const read = async (target: string) => parseExposition(await (await fetch(`http://${target}/metrics`)).text());
    exported.set('standalone', await read(system.targets.standalone));
    exported.set('kubernetes agent', await read(system.targets.kubeAgent));
    exported.set('controller', await read(system.targets.controller));
  });
  after(async () => {
    await system?.close();
  });

  test('the table is there and parses', () => {
    assert.ok(docs.size >= 30, `found ${docs.size} rows`);
  });

  for (const process of PROCESSES) {
    test(`${process}: every tidepool_ family it exports is documented for it, and every one documented for it is exported`, () => {
      const families = [...exported.get(process)!.types.keys()].filter((n) => n.startsWith('tidepool_')).sort();
      const listed = [...docs].filter(([, d]) => d.exporters.has(process)).map(([n]) => n).sort();
      assert.deepEqual(families, listed);
    });

    test(`${process}: types agree`, () => {
      for (const [name, type] of exported.get(process)!.types) if (name.startsWith('tidepool_')) assert.equal(type, docs.get(name)?.type, name);
    });

    test(`${process}: series carry exactly the documented labels`, () => {
      for (const [name, labels] of exported.get(process)!.labels) {
        if (!name.startsWith('tidepool_')) continue;
        assert.deepEqual([...labels].sort(), [...(docs.get(name)?.labels ?? [])].sort(), name);
      }
    });
  }

  test('the traffic gave most documented families a series to check labels on', () => {
    const seen = new Set<string>();
    for (const e of exported.values()) for (const name of e.labels.keys()) seen.add(name);
    const without = [...docs.keys()].filter((n) => !seen.has(n));
    // Those the traffic cannot reach here: no conflicting host on the LAN, no webhook, no refused pools file, ...
    assert.deepEqual(without.sort(), [
      'tidepool_held_ips',
      'tidepool_ip_conflicts_total',
      'tidepool_ip_probe_duration_seconds',
      'tidepool_orphaned_ips',
      'tidepool_webhook_requests_total',
    ]);
  });
});
