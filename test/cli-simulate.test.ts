// `tidepool simulate` as users run it: scenario files, the sweep, replays,
// the report, and precise refusals of bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/main.ts';
import { runPlantedSimulate } from './sim/cli.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['simulate', ...argv], { out: (t) => void (out += t), err: (t) => void (err += t), env: {}, now: Date.now });
  return { code, out, err };
}

/** `npm run sim`: the same command with the planted bugs available. */
async function planted(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runPlantedSimulate(argv, { out: (t) => void (out += t), err: (t) => void (err += t), env: {}, now: Date.now });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'tidepool-sim-'));
const small = join(dir, 'small.yaml');
writeFileSync(
  small,
  `name: small
duration: 3m
settle: 1m
nodes: 2
pools:
  - { name: lan, subnet: 10.9.0.0/24, ips: [10.9.0.10-10.9.0.21], default: true }
workloads:
  - { kind: Deployment, name: web, replicas: 6, replicasRange: [4, 10], churn: { scale: 2/m, evict: 2/m } }
  - { kind: StatefulSet, name: db, replicas: 2, churn: { restart: 1/m } }
faults: { delLost: 0.3, agentKill: 0.5/m }
`,
);

test('a scenario run prints the summary and writes one self-contained HTML report', async () => {
  const report = join(dir, 'report.html');
  const r = await cli(small, '--seed', '3', '--report', report);
  assert.equal(r.code, 0, r.out + r.err);
  for (const row of ['IPs allocated (ADD)', 'IPs reclaimed by the garbage collector', 'reclaim latency p50 / p99', 'peak leaked IPs', 'failed ADDs for lack of IPs', 'invariant violations']) assert.match(r.out, new RegExp(`^${row.replace(/[()/]/g, '\\$&')}\\s+\\S`, 'm'));
  assert.match(r.out, /^invariant violations\s+0$/m);
  assert.match(r.err, /report written to /);
  const html = readFileSync(report, 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /Pool lan: IPs over virtual time/);
  assert.ok((html.match(/<svg /g) ?? []).length >= 2, 'a chart per pool and the reclaim chart');
  assert.doesNotMatch(html, /<script|<link|src="http/, 'nothing loaded from elsewhere');
  assert.match(html, /tidepool simulate .*small\.yaml --seed 3/);
});

test('the same scenario and seed print the same figures', async () => {
  const strip = (s: string) => s.replace(/^(scenario|simulated events).*$/gm, '');
  const a = await cli(small, '--seed', '5', '--report', 'off');
  const b = await cli(small, '--seed', '5', '--report', 'off');
  assert.equal(strip(a.out), strip(b.out));
});

test('--json gives the figures for scripts', async () => {
  const r = await cli(small, '--seed', '2', '--report', 'off', '--json');
  assert.equal(r.code, 0);
  const j = JSON.parse(r.out) as { seed: number; violations: unknown[]; allocations: number; summary: Record<string, string> };
  assert.equal(j.seed, 2);
  assert.deepEqual(j.violations, []);
  assert.ok(j.allocations > 0);
  assert.equal(j.summary['invariant violations'], '0');
});

test('a replayed seed with a planted bug fails with the seed, the trace and the replay command', async () => {
  const r = await planted('--seed', '1', '--plant', 'trust-cache');
  assert.equal(r.code, 1);
  assert.match(r.out, /^seed 1: invariant (live-pod-keeps-ip|unique-ip) violated at /);
  assert.match(r.out, /VIOLATION/);
  assert.match(r.out, /replay: npm run sim -- --seed 1 --plant trust-cache\n/);
});

test('npm run sim refuses an unknown bug, and lists the known ones in its usage; tidepool simulate has no --plant', async () => {
  const r = await planted('--plant', 'typo');
  assert.equal(r.code, 2);
  assert.match(r.err, /--plant: unknown bug "typo" \(known: release-ignores-owner, /);
  assert.match((await planted('--help')).out, /--plant NAME {3}plant a known bug \(release-ignores-owner, trust-cache, /);
  assert.doesNotMatch((await cli('--help')).out, /plant/);
});

test('a clean seed replays and says so', async () => {
  const r = await cli('--seed', '2');
  assert.equal(r.code, 0);
  assert.match(r.out, /^seed 2: every invariant held \(/);
});

const refusals: Array<[string[], RegExp]> = [
  [['--plant', 'trust-cache'], /Unknown option '--plant'/],
  [['--seeds', '0'], /--seeds: "0" is not an integer of at least 1/],
  [['--seeds', '10', '--seed', '3'], /--seed replays one seed; it does not combine with --seeds or --from/],
  [['--report', 'x.html'], /--report and --json apply with a scenario file/],
  [[small, '--seeds', '5'], /--seeds applies to the random sweep, not to a scenario file/],
  [[small, small], /one scenario file at most, got 2/],
  [['/nonexistent/s.yaml'], /\/nonexistent\/s\.yaml: no such file/],
  [['--frobnicate'], /Unknown option '--frobnicate'/],
];

for (const [argv, message] of refusals) {
  test(`refused with exit 2: simulate ${argv.join(' ').replace(dir, '<dir>')}`, async () => {
    const r = await cli(...argv);
    assert.equal(r.code, 2);
    assert.match(r.err, message);
  });
}

test('a scenario with a bad field names it and writes no report', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(small, 'utf8').replace('replicas: 6', 'replicas: -1'));
  const report = join(dir, 'never.html');
  const r = await cli(bad, '--report', report);
  assert.equal(r.code, 2);
  assert.match(r.err, /workloads\[0\]\.replicas: must be an integer from 0 to 5000, got -1/);
  assert.equal(existsSync(report), false);
});

const flaky = join(dir, 'flaky.yaml');
writeFileSync(
  flaky,
  `name: flaky
duration: 4m
settle: 1m
nodes: 2
pools:
  - { name: lan, subnet: 10.9.0.0/24, ips: [10.9.0.10-10.9.0.60], default: true }
workloads:
  - { kind: Deployment, name: web, replicas: 8, churn: { restart: 6/m, evict: 6/m } }
faults: { agentKill: 1/m, agentKillDuringCall: 0.2, apiError: 0.05 }
`,
);

test('failed ADDs are grouped by code and message, counted; an agent that is down or dies mid-call fails them as the real plugin does', async () => {
  const r = await cli(flaky, '--seed', '1', '--report', 'off', '--json');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { failedAdds: Array<{ code: string; message: string; count: number }> };
  assert.ok(j.failedAdds.length > 0, 'the scenario makes ADDs fail');
  for (const f of j.failedAdds) {
    assert.notEqual(f.code, 'INTERNAL', `INTERNAL means a bug in tidepool: ${f.message}`);
    assert.ok(f.message.length > 0 && f.count > 0, JSON.stringify(f));
  }
  const codes = new Set(j.failedAdds.map((f) => f.code));
  assert.ok(codes.has('AGENT_UNREACHABLE'), `a plugin that cannot connect reports AGENT_UNREACHABLE: ${[...codes].join(', ')}`);
  assert.ok(codes.has('IO_FAILURE'), `a plugin whose agent dies mid-call reports IO_FAILURE: ${[...codes].join(', ')}`);
  const keys = j.failedAdds.map((f) => `${f.code} ${f.message}`);
  assert.equal(new Set(keys).size, keys.length, 'one entry per code and message');

  const text = await cli(flaky, '--seed', '1', '--report', 'off');
  assert.match(text.out, /^failed ADDs\s+code\s+message$/m);
  const top = j.failedAdds[0]!;
  assert.match(text.out, new RegExp(`^${top.count}\\s+${top.code}\\s+${top.message.slice(0, 40).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
});
