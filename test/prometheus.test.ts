// tidepool's alert rules and dashboard judged by a real Prometheus scraping
// real tidepool processes: a standalone agent, a Kubernetes agent and a
// controller against the test API server, plus an agent target nobody
// answers on. After some traffic (allocations, a pool at 90%, a full pool,
// an ADD that waits in vain, a reclaim by each collector), every dashboard
// query and every alert expression must be valid PromQL; the queries with
// something to show must show it; exactly the alerts this situation calls
// for must be pending, and Prometheus must evaluate every rule without error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parse } from 'yaml';
import { startObservedSystem, type ObservedSystem } from './helpers/observed-system.ts';
import { freePort, startPrometheus, type PrometheusProcess, type QueryAnswer } from './helpers/prometheus-process.ts';

const FILES = join(import.meta.dirname, '..', 'deploy', 'tidepool', 'files');
const RULES = join(FILES, 'prometheus-rules.yaml');
/** Generous: Prometheus scrapes every second, but a loaded machine may lag; a bound on waiting, never on speed. */
const LIMIT_MS = 60_000;

interface Target {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}
/** Every query of the dashboard, with Grafana's `$__rate_interval` made a window that still holds the traffic when asked. */
const dashboardTargets: Target[] = (JSON.parse(readFileSync(join(FILES, 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ refId: string; expr: string }> }> }).panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr.replaceAll('$__rate_interval', '10m') })),
);
/**
 * What each query must show after the traffic: by default some value above
 * 0 (rates, latencies, counts of things that happened). Exceptions: nothing
 * where no host on the test LAN answers for a pool's IP; zero where nothing
 * may wait; any number for a forecast.
 */
type Expect = 'positive' | 'nothing' | 'zero' | 'number';
const EXPECT: Readonly<Record<string, Expect>> = {
  'IP conflicts and held IPs/A': 'nothing',
  'IP conflicts and held IPs/B': 'nothing',
  'Oldest pending reclaim/A': 'zero',
  "Pool use in 24 h at the last 6 h's pace/A": 'number',
};
const shows: Record<Expect, (a: QueryAnswer) => boolean> = {
  positive: (a) => a.series.some((s) => Number(s.value) > 0),
  nothing: (a) => a.series.length === 0,
  zero: (a) => a.series.length > 0 && a.series.every((s) => s.value === '0'),
  number: (a) => a.series.some((s) => s.value !== 'NaN'),
};

const alertRules = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> }).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
/** What this situation calls for: which label tells the series that must fire, and its value. */
const EXPECTED_ALERTS: Readonly<Record<string, { label: string; value: (dead: string) => string }>> = {
  TidepoolPoolNearlyExhausted: { label: 'pool', value: () => 'snug' },
  TidepoolPoolExhausted: { label: 'pool', value: () => 'tiny' },
  TidepoolAgentDown: { label: 'instance', value: (dead) => dead },
};

/** Asks `expr` until the answer satisfies `done`, for up to LIMIT_MS; returns the last answer. */
async function ask(prometheus: PrometheusProcess, expr: string, done: (a: QueryAnswer) => boolean): Promise<QueryAnswer> {
  const deadline = Date.now() + LIMIT_MS;
  for (;;) {
    const answer = await prometheus.query(expr);
    if (answer.status !== 'success' || done(answer) || Date.now() > deadline) return answer;
    await delay(250);
  }
}

describe('alert rules and dashboard on a real Prometheus', () => {
  let system: ObservedSystem;
  let prometheus: PrometheusProcess;
  let dead: string;

  before(async () => {
    system = await startObservedSystem();
    dead = `127.0.0.1:${await freePort()}`;
    const { standalone, kubeAgent, controller } = system.targets;
    prometheus = await startPrometheus({ jobs: { 'tidepool-agent': [standalone, kubeAgent, dead], 'tidepool-controller': [controller] }, ruleFiles: [RULES] });
    // Traffic only once every target has been scraped, so rates and latencies see it happen.
    const up = await ask(prometheus, 'up', (a) => a.series.length === 4);
    assert.equal(up.series.length, 4, `Prometheus scraped ${JSON.stringify(up.series)}; its log:\n${prometheus.log()}`);
    await system.drive();
    const seen = await ask(prometheus, 'sum(tidepool_gc_reclaims_total)', (a) => Number(a.series[0]?.value) >= 2);
    assert.ok(Number(seen.series[0]?.value) >= 2, `Prometheus did not see both reclaims: ${JSON.stringify(seen)}`);
  });

  after(async () => {
    await prometheus?.stop();
    await system?.close();
  });

  for (const t of dashboardTargets) {
    const expect = EXPECT[`${t.panel}/${t.refId}`] ?? 'positive';
    test(`dashboard "${t.panel}" ${t.refId}: valid, and shows ${expect === 'positive' ? 'a value above 0' : expect === 'number' ? 'a value' : expect}`, async () => {
      const answer = await ask(prometheus, t.expr, shows[expect]);
      assert.equal(answer.status, 'success', `${t.expr}: ${answer.error}`);
      assert.ok(shows[expect](answer), `${t.expr} should show ${expect}: ${JSON.stringify(answer.series)}`);
    });
  }

  for (const rule of alertRules) {
    const expected = EXPECTED_ALERTS[rule.alert!];
    test(`alert ${rule.alert}: valid, and ${expected ? `fires for ${expected.label} ${expected.value('the dead target')}` : 'quiet'}`, async () => {
      const want = expected?.value(dead);
      const answer = await ask(prometheus, rule.expr, (a) => (expected ? a.series.some((s) => s.labels[expected.label] === want) : true));
      assert.equal(answer.status, 'success', `${rule.expr}: ${answer.error}`);
      const firing = answer.series.map((s) => (expected ? s.labels[expected.label] : JSON.stringify(s.labels)));
      assert.deepEqual(firing, want === undefined ? [] : [want], rule.expr);
    });
  }

  test('Prometheus evaluates every rule without error; exactly the expected alerts are pending or firing', async () => {
    type Rules = { groups: Array<{ rules: Array<{ name: string; type: string; health: string; lastError?: string; state?: string }> }> };
    const active = new Set(Object.keys(EXPECTED_ALERTS));
    const deadline = Date.now() + LIMIT_MS;
    let rules: Rules['groups'][number]['rules'];
    for (;;) {
      rules = (await prometheus.api<Rules>('/api/v1/rules')).groups.flatMap((g) => g.rules);
      const settled = rules.every((r) => r.health === 'ok' && (active.has(r.name) ? r.state !== 'inactive' : true));
      if (settled || Date.now() > deadline) break;
      await delay(250);
    }
    assert.equal(rules.length, alertRules.length);
    for (const r of rules) {
      assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
      assert.equal(r.state !== 'inactive', active.has(r.name), `${r.name} is ${r.state}`);
    }
  });
});
