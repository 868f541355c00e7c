import type { ReclaimReason } from '../ipam/gc-rules.ts';
import { formatDuration } from '../util/duration.ts';
import { SIM_EPOCH, type SimResult } from './run.ts';
import type { Scenario } from './scenario.ts';

/** Nearest-rank percentile of `values` (sorted here); undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface ReasonSummary {
  readonly reason: ReclaimReason;
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Reclaims per reason with their latency percentiles, most frequent first. */
export function planReasonSummary(result: SimResult): ReasonSummary[] {
  const by = new Map<ReclaimReason, number[]>();
  for (const r of result.reclaims) {
    const list = by.get(r.reason) ?? [];
    list.push(r.latencyMs);
    by.set(r.reason, list);
  }
  return [...by.entries()]
    .map(([reason, lat]) => ({ reason, count: lat.length, p50Ms: percentile(lat, 50)!, p99Ms: percentile(lat, 99)! }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
}

const EXHAUSTED = new Set(['POOL_EXHAUSTED', 'POOLS_EXHAUSTED']);
const ms = (v: number) => (v < 1000 ? `${Math.round(v)} ms` : formatDuration(v));

/** The summary rows `tidepool simulate` prints, as [metric, value]. */
export function planSummaryRows(result: SimResult): Array<[string, string]> {
  const reasons = planReasonSummary(result);
  const lat = result.reclaims.map((r) => r.latencyMs);
  const exhausted = result.failedAdds.filter((f) => EXHAUSTED.has(f.code)).reduce((a, f) => a + f.count, 0);
  const other = new Map<string, number>();
  for (const f of result.failedAdds) if (!EXHAUSTED.has(f.code)) other.set(f.code, (other.get(f.code) ?? 0) + f.count);
  const rows: Array<[string, string]> = [
    ['virtual time', formatDuration(result.virtualMs)],
    ['simulated events', `${result.steps} (${Math.round(result.steps / (result.realMs / 1000))} per second)`],
    ['IPs allocated (ADD)', String(result.allocations)],
    ['IPs released by DEL', String(result.delReleases)],
    ['IPs reclaimed by the garbage collector', String(result.reclaims.length)],
    ...reasons.map((r): [string, string] => [`  ${r.reason}`, `${r.count}, latency p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}`]),
    ['reclaim latency p50 / p99', lat.length ? `${ms(percentile(lat, 50)!)} / ${ms(percentile(lat, 99)!)}` : '-'],
    ['peak leaked IPs', String(result.peakLeaked)],
    ['longest time an IP sat leaked', ms(result.longestLeakMs)],
    ['failed ADDs for lack of IPs', String(exhausted)],
    ['other failed ADDs', other.size ? [...other].map(([c, n]) => `${n} ${c}`).join(', ') : '0'],
    ['API requests (injected errors / timeouts / conflicts)', `${result.api.requests} (${result.api.injectedErrors} / ${result.api.injectedTimeouts} / ${result.api.injectedConflicts})`],
    ['leak bound checked', formatDuration(result.leakBoundMs)],
    ...(result.vms
      ? [
          ['VMs: virt-launcher pods (restarts)', `${result.vms.launchers} (${result.vms.restarts})`] as [string, string],
          ['VMs: live migrations (succeeded / failed)', `${result.vms.migrations} (${result.vms.migrated} / ${result.vms.migrationsFailed})`] as [string, string],
        ]
      : []),
    ['invariant violations', String(result.violations.length)],
  ];
  return rows;
}

/** Rows shown of the failed-ADD table; --json has them all. */
export const FAILED_ADD_ROWS = 20;

/** Failed ADDs as [count, code, message] rows, most frequent first, with a last row for any left out. */
export function planFailedAddRows(result: SimResult): Array<[string, string, string]> {
  const rows = result.failedAdds.slice(0, FAILED_ADD_ROWS).map((f): [string, string, string] => [String(f.count), f.code, f.message]);
  const rest = result.failedAdds.slice(FAILED_ADD_ROWS);
  if (rest.length > 0) rows.push([String(rest.reduce((a, f) => a + f.count, 0)), '', `${rest.length} more messages (--json lists them all)`]);
  return rows;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const COLORS = ['#2b6cb0', '#2f855a', '#c53030', '#b7791f', '#6b46c1', '#2c7a7b', '#97266d', '#4a5568', '#dd6b20'];

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

/** One inline SVG chart: lines (or dots) over virtual time in seconds. */
function svgChart(title: string, yLabel: string, series: readonly Series[], opts: { dots?: boolean; logY?: boolean } = {}): string {
  const W = 760;
  const H = 260;
  const L = 56;
  const R = 12;
  const T = 28;
  const B = 36;
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yRaw = all.map((p) => p[1]);
  const tf = (v: number) => (opts.logY ? Math.log10(Math.max(1, v)) : v);
  const yMax = Math.max(opts.logY ? 1 : 1, ...yRaw.map(tf));
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const y = (v: number) => T + (1 - tf(v) / yMax) * (H - T - B);
  const ticks = 5;
  let grid = '';
  for (let i = 0; i <= ticks; i++) {
    const yv = (yMax * i) / ticks;
    const py = T + (1 - i / ticks) * (H - T - B);
    const label = opts.logY ? ms(10 ** yv) : String(Math.round(yv * 10) / 10);
    grid += `<line x1="${L}" x2="${W - R}" y1="${py}" y2="${py}" stroke="#e2e8f0"/><text x="${L - 6}" y="${py + 4}" text-anchor="end">${esc(label)}</text>`;
    const xv = (xMax * i) / ticks;
    const px = L + (i / ticks) * (W - L - R);
    const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
    grid += `<text x="${px}" y="${H - B + 16}" text-anchor="${anchor}">${esc(formatDuration(xv * 1000))}</text>`;
  }
  const body = series
    .map((s) =>
      opts.dots
        ? s.points.map(([a, b]) => `<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="2.5" fill="${s.color}" fill-opacity="0.7"/>`).join('')
        : `<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${s.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`,
    )
    .join('');
  const legend = series.map((s, i) => `<span class="key"><i style="background:${s.color}"></i>${esc(s.name)}</span>${i < series.length - 1 ? ' ' : ''}`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}"><g font-size="11" fill="#4a5568">${grid}<text x="14" y="${T - 10}">${esc(yLabel)}</text><text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">virtual time</text></g>${body}</svg><div class="legend">${legend}</div></figure>`;
}

function failedAddsTable(result: SimResult): string {
  const rows = planFailedAddRows(result);
  if (rows.length === 0) return '';
  const body = rows.map(([n, code, message]) => `<tr><td>${esc(n)}</td><td><code>${esc(code)}</code></td><td>${esc(message)}</td></tr>`).join('');
  return `<h2>Failed ADDs</h2><table><tr><th>ADDs</th><th>code</th><th>message</th></tr>${body}</table>`;
}

/** One self-contained HTML page: the summary, pool usage over virtual time, and reclaim latency by reason. */
export function renderHtmlReport(result: SimResult, scenario: Scenario, replay: string): string {
  const rows = planSummaryRows(result)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('');
  const pools = [...new Set(result.samples.map((s) => s.pool))];
  const charts = pools
    .map((pool) => {
      const samples = result.samples.filter((s) => s.pool === pool);
      const pts = (pick: (s: (typeof samples)[number]) => number) => samples.map((s) => [s.at / 1000, pick(s)] as const);
      return svgChart(`Pool ${pool}: IPs over virtual time`, 'IPs', [
        { name: 'allocated', color: COLORS[0]!, points: pts((s) => s.allocated) },
        { name: 'free', color: COLORS[1]!, points: pts((s) => s.free) },
        { name: 'leaked (owner gone, not yet reclaimed)', color: COLORS[2]!, points: pts((s) => s.leaked) },
      ]);
    })
    .join('');
  const reasons = planReasonSummary(result);
  const latency =
    result.reclaims.length === 0
      ? '<p>No IP was reclaimed by the garbage collector in this run.</p>'
      : svgChart(
          'Reclaim latency by reason (each dot is one reclaimed IP)',
          'latency (log)',
          reasons.map((r, i) => ({ name: `${r.reason} (${r.count})`, color: COLORS[(i + 3) % COLORS.length]!, points: result.reclaims.filter((x) => x.reason === r.reason).map((x) => [x.at / 1000, x.latencyMs] as const) })),
          { dots: true, logY: true },
        );
  const violations = result.violations.length
    ? `<h2>Invariant violations</h2><ul>${result.violations.map((v) => `<li><b>${esc(v.invariant)}</b> at ${esc(formatDuration(v.at - SIM_EPOCH))} of virtual time: ${esc(v.message)}</li>`).join('')}</ul><h3>Trace</h3><pre>${esc(result.trace.join('\n'))}</pre>`
    : '<p class="ok">Every invariant held at every step.</p>';
  const workloads = scenario.workloads.map((w) => `${w.kind} ${w.namespace}/${w.name} ×${w.replicas}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tidepool simulation: ${esc(result.scenario)} (seed ${result.seed})</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;color:#1a202c;padding:0 16px}
table{border-collapse:collapse;margin:12px 0}th,td{text-align:left;padding:3px 12px 3px 0;border-bottom:1px solid #edf2f7;vertical-align:top}
th{font-weight:500;color:#4a5568}figure{margin:20px 0}figcaption{font-weight:600;margin-bottom:4px}svg{width:100%;height:auto;background:#fff}
.legend{font-size:12px;color:#4a5568}.key{margin-right:14px}.key i{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
pre{background:#f7fafc;padding:10px;overflow:auto;font-size:11px}.ok{color:#2f855a;font-weight:600}
</style></head><body>
<h1>tidepool simulation: ${esc(result.scenario)}</h1>
<p>Seed ${result.seed}${result.plant ? `, planted bug <b>${esc(result.plant)}</b>` : ''}. ${scenario.nodes} nodes, ${scenario.controllers} controller replicas, pools ${esc(scenario.pools.map((p) => p.name).join(', '))}; ${esc(workloads.slice(0, 6).join(', '))}${workloads.length > 6 ? `, and ${workloads.length - 6} more workloads` : ''}.
Replay: <code>${esc(replay)}</code></p>
<table>${rows}</table>
${failedAddsTable(result)}
${violations}
<h2>Pools</h2>${charts}
<h2>Reclaims</h2>${latency}
</body></html>
`;
}
