// The alert rules are judged by Prometheus' own tool: promtool checks the
// file and runs the unit tests of test/prometheus/, in which every alert
// must have a case where it fires and one where it stays quiet. Each alert
// links to its runbook in docs/alerts.md.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..');
const RULES = join(ROOT, 'deploy/tidepool/files/prometheus-rules.yaml');
const UNIT_TESTS = join(ROOT, 'test/prometheus/rules.test.yaml');
const PROMTOOL = '/usr/bin/promtool';
const RUNBOOKS = 'https://tidepool.dev/docs/alerts#';

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alerts = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

function promtool(...args: string[]): { code: number | null; out: string } {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is needed (Debian's prometheus package; scripts/setup.sh installs it)`);
  const r = spawnSync(PROMTOOL, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('alert rules', () => {
  test('promtool check rules accepts the file', () => {
    const r = promtool('check', 'rules', RULES);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  test('promtool test rules: every unit test passes', () => {
    const r = promtool('test', 'rules', UNIT_TESTS);
    assert.equal(r.code, 0, r.out);
  });

  test('every alert has a unit test where it fires and one where it does not', () => {
    const tests = (parse(readFileSync(UNIT_TESTS, 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> }).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const cases = tests.filter((t) => t.alertname === alert);
      assert.ok(cases.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: no case where it fires`);
      assert.ok(cases.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: no case where it stays quiet`);
    }
  });

  test('every alert has a severity, a summary, a description and a runbook in docs/alerts.md; every runbook has its alert', () => {
    const doc = readFileSync(join(ROOT, 'docs/alerts.md'), 'utf8');
    const runbooks = [...doc.matchAll(/^## (Tidepool\w+)$/gm)].map((m) => m[1]!);
    for (const a of alerts) {
      assert.ok(['warning', 'critical'].includes(a.labels?.['severity'] ?? ''), `${a.alert}: severity`);
      assert.ok(a.annotations?.['summary'] && a.annotations['description'], `${a.alert}: summary and description`);
      assert.equal(a.annotations?.['runbook_url'], `${RUNBOOKS}${a.alert!.toLowerCase()}`, `${a.alert}: runbook_url`);
      assert.ok(runbooks.includes(a.alert!), `docs/alerts.md has no section ## ${a.alert}`);
    }
    assert.deepEqual(runbooks.sort(), alerts.map((a) => a.alert!).sort(), 'a runbook without its alert');
  });
});
