// The table in Spiderpool's shape, the ratios beside the published ones, the
// goal, a markdown report and one self-contained HTML file (inline SVG).
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { CPU_ROLES } from './cpu.ts';
import type { Options, Shape } from './options.ts';
import type { PhaseName, PhaseResult, VariantResult } from './run.ts';
import { PHASES } from './run.ts';

/** Spiderpool's IPAM report 1 (v0.4.1, IPv4, 1:1), as quoted in ../shared/design/anchors.md: creation / re-creation / recovery / deletion in seconds. */
export const PUBLISHED: Record<string, Record<'1x1000' | '100x10', [number, number, number, number] | 'failed'>> = {
  Spiderpool: { '1x1000': [138, 401, 181, 97], '100x10': [64, 203, 183, 83] },
  Calico: { '1x1000': [101, 213, 222, 87], '100x10': [99, 205, 264, 87] },
  'Kube-OVN': { '1x1000': [212, 427, 581, 107], '100x10': [216, 434, 532, 101] },
  whereabouts: { '1x1000': 'failed', '100x10': 'failed' },
};
/** The rounded re-creation ÷ creation ratios anchors.md gives. */
export const PUBLISHED_RATIO = 'Spiderpool ~2.9, Calico ~2.1, Kube-OVN ~2.0, whereabouts never finishes';
export const GOAL_RATIO = 1.0;

export function mmss(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}`;
}

const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function phaseOf(v: VariantResult, p: PhaseName): PhaseResult | undefined {
  return v.phases.find((x) => x.phase === p);
}

export function ratios(v: VariantResult): { recreation: number; deletion: number } {
  const c = phaseOf(v, 'creation')?.wallMs ?? NaN;
  return { recreation: (phaseOf(v, 're-creation')?.wallMs ?? NaN) / c, deletion: (phaseOf(v, 'deletion')?.wallMs ?? NaN) / c };
}

export function failedPods(v: VariantResult): number {
  return v.phases.reduce((n, p) => n + p.failedPods, 0) + (v.phases.length < PHASES.length ? v.pods : 0);
}

/** IPs released in re-creation by the garbage collectors (controller, and the agents' netns collector) rather than DEL. */
export function gcShare(v: VariantResult): { gc: number; del: number; share: number; detail: string } {
  const r = phaseOf(v, 're-creation')?.releasedBy ?? {};
  let gc = 0;
  let del = 0;
  for (const [k, n] of Object.entries(r)) {
    if (k === 'agent:del') del += n;
    else if (k.startsWith('gc:') || k === 'agent:netns-gc') gc += n;
  }
  const detail = Object.entries(r).map(([k, n]) => `${k}=${n}`).join(' ') || '-';
  return { gc, del, share: gc / (gc + del), detail };
}

export interface Goal {
  readonly met: boolean;
  readonly lines: string[];
}

export function goal(results: readonly VariantResult[]): Goal {
  const lines: string[] = [];
  let met = true;
  for (const v of results) {
    const r = ratios(v).recreation;
    if (v.variant.factor === 1) {
      // Compared as printed, to two decimals: paced, both phases take the pace's time, and re-creation's first
      // create waits for the user's first delete, so 1.00 is the floor to within a few hundredths (ADR 0007).
      const ok = Math.round(r * 100) / 100 <= GOAL_RATIO;
      met &&= ok;
      const cr = phaseOf(v, 'creation')?.wallMs ?? NaN;
      const re = phaseOf(v, 're-creation')?.wallMs ?? NaN;
      lines.push(`goal: ${v.variant.id} re-creation ÷ creation <= ${GOAL_RATIO.toFixed(1)} at 1:1: ${ok ? 'MET' : 'NOT MET'} (${f(r)}: ${f(re / 1000)} s ÷ ${f(cr / 1000)} s = ${f(r, 3)})`);
    }
    const failed = failedPods(v);
    const dups = v.duplicates.length;
    const problems = v.problems.length + v.phases.reduce((n, p) => n + p.problems.length, 0);
    const ok = failed === 0 && dups === 0 && problems === 0;
    met &&= ok;
    lines.push(`goal: ${v.variant.id} zero failed pods and zero duplicate IPs: ${ok ? 'MET' : 'NOT MET'} (failed ${failed}, duplicates ${dups}${problems ? `, ${problems} other problem(s)` : ''})`);
  }
  lines.push(`GOAL ${met ? 'MET' : 'NOT MET'}`);
  return { met, lines };
}

function shapeKey(shape: Shape): '1x1000' | '100x10' | undefined {
  const k = `${shape.deployments}x${shape.replicas}`;
  return k === '1x1000' || k === '100x10' ? k : undefined;
}

export function table(results: readonly VariantResult[], o: Pick<Options, 'shape' | 'nodes' | 'concurrency' | 'lostDel' | 'controllerQps' | 'nodeNice'>): string {
  const lines: string[] = [];
  const { shape } = o;
  const shapeText = `${shape.deployments} Deployment${shape.deployments > 1 ? 's' : ''} x ${shape.replicas}`;
  lines.push(`tidepool end to end, Spiderpool's benchmark shape: ${shapeText} on ${o.nodes} nodes (${o.concurrency} sandboxes in flight per node), macvlan, lost DELs ${(o.lostDel * 100).toFixed(0)}%`);
  const pace = o.controllerQps.qps > 0 ? `paced like kube-controller-manager: ${o.controllerQps.qps} pod creates and ${o.controllerQps.qps} pod deletes a second, burst ${o.controllerQps.burst}` : 'unpaced: pods are created and deleted as fast as the API server answers';
  lines.push(`${pace}; node processes at nice ${o.nodeNice}`);
  lines.push('');
  lines.push('cells: creation / re-creation / recovery / deletion (wall time)');
  lines.push(`${'variant'.padEnd(8)} ${'pods'.padStart(5)} ${'IPs'.padStart(6)}  ${'creation / re-creation / recovery / deletion'.padEnd(44)} ${'re÷cr'.padStart(6)} ${'del÷cr'.padStart(6)} ${'failed'.padStart(6)} ${'dups'.padStart(4)}`);
  for (const v of results) {
    const cells = PHASES.map((p) => {
      const r = phaseOf(v, p);
      return r ? `${mmss(r.wallMs)}${r.ok ? '' : '!'}` : 'failed';
    }).join(' / ');
    const r = ratios(v);
    lines.push(`${v.variant.id.padEnd(8)} ${String(v.pods).padStart(5)} ${String(v.poolIps).padStart(6)}  ${cells.padEnd(44)} ${f(r.recreation).padStart(6)} ${f(r.deletion).padStart(6)} ${String(failedPods(v)).padStart(6)} ${String(v.duplicates.length).padStart(4)}`);
  }
  lines.push('IPs: per family; "!" marks a phase with a correctness problem (listed below)');
  lines.push('');
  lines.push(`${'variant'.padEnd(8)} ${'phase'.padEnd(11)} ${'wall s'.padStart(7)} ${'ADD p50'.padStart(7)} ${'ADD p99'.padStart(7)} ${'ADDs'.padStart(5)} ${'DEL p50'.padStart(7)} ${'DELs'.padStart(5)} ${'lost'.padStart(4)} ${'409s'.padStart(5)} ${'409/alloc'.padStart(9)} ${'API req'.padStart(7)}  failed ADD attempts`);
  for (const v of results) {
    for (const p of v.phases) {
      const fails = Object.entries(p.addFailures).map(([k, n]) => `${n}x ${k}`).join('; ') || '-';
      lines.push(
        `${v.variant.id.padEnd(8)} ${p.phase.padEnd(11)} ${f(p.wallMs / 1000).padStart(7)} ${f(p.addP50Ms, 1).padStart(7)} ${f(p.addP99Ms, 1).padStart(7)} ${String(p.adds).padStart(5)} ${f(p.delP50Ms, 1).padStart(7)} ${String(p.dels).padStart(5)} ${String(p.lostDels).padStart(4)} ${String(p.conflicts).padStart(5)} ${f(p.conflictsPerAllocation, 3).padStart(9)} ${String(p.apiRequests).padStart(7)}  ${fails}`,
      );
    }
  }
  lines.push('ADD/DEL ms: macvlan plugin spawn to exit (it runs tidepool\'s plugin); 409s: Conflict + AlreadyExists on ipallocations (fake API server); 409/alloc: per IP allocated in the phase');
  lines.push('');
  lines.push(...cpuLines(results));
  lines.push('');
  for (const v of results) {
    const g = gcShare(v);
    lines.push(`${v.variant.id}: re-creation IPs freed by GC rather than DEL: ${g.gc} of ${g.gc + g.del} (${f(g.share * 100, 1)}%)  [${g.detail}]`);
    for (const p of v.phases) {
      const { del, gc } = p.freed;
      const cell = (x: typeof del) => (x.n ? `${x.n} IPs, p50 ${f(x.p50, 0)} ms, p99 ${f(x.p99, 0)} ms` : 'none');
      if (del.n + gc.n > 0) lines.push(`${v.variant.id} ${p.phase}: IP free after its pod's delete: by DEL ${cell(del)}; by GC (lost DEL) ${cell(gc)}`);
      const w = p.exhaustedWaits;
      if (p.phase === 're-creation' || Object.keys(w).length > 0) {
        lines.push(`${v.variant.id} ${p.phase}: ADDs that found the pool full and waited for an IP (--exhausted-wait): ${w['allocated'] ?? 0} got one, ${w['exhausted'] ?? 0} gave up`);
      }
    }
    for (const p of v.phases) {
      for (const [msg, n] of Object.entries(p.logged).slice(0, 12)) lines.push(`${v.variant.id} ${p.phase}: logged ${n}x ${msg}`);
      const gm = Object.entries(p.gcMetrics).map(([k, n]) => `${k.replace('tidepool_gc_', '')}=${Number.isInteger(n) ? n : n.toFixed(2)}`).join(' ');
      if (gm && p.phase === 're-creation') lines.push(`${v.variant.id} ${p.phase}: controller GC ${gm}`);
    }
    const rec = phaseOf(v, 'recovery')?.recovery;
    if (rec) lines.push(`${v.variant.id}: recovery: IPAllocation objects ${rec.allocationsBefore} → ${rec.allocationsAfter}, new allocations ${rec.newAllocations}, pods with a different IP ${rec.changedIps}`);
  }
  lines.push('');
  const key = shapeKey(shape);
  lines.push('ratios (machine-independent): re-creation ÷ creation and deletion ÷ creation');
  for (const v of results) {
    const r = ratios(v);
    lines.push(`  tidepool ${v.variant.id.padEnd(8)} measured   ${f(r.recreation).padStart(5)}   ${f(r.deletion).padStart(5)}`);
  }
  if (key) {
    for (const [name, cells] of Object.entries(PUBLISHED)) {
      const c = cells[key];
      if (c === 'failed') lines.push(`  ${name.padEnd(17)} published  never finishes (re-creation failed)`);
      else lines.push(`  ${name.padEnd(17)} published  ${f(c[1] / c[0]).padStart(5)}   ${f(c[3] / c[0]).padStart(5)}   (${c.map((s) => mmss(s * 1000)).join(' / ')})`);
    }
    lines.push(`  published: Spiderpool IPAM report 1 (v0.4.1, IPv4, 1:1, ${key}), from anchors.md; rounded there as ${PUBLISHED_RATIO}`);
  } else {
    lines.push(`  published (anchors.md, re-creation ÷ creation): ${PUBLISHED_RATIO}`);
  }
  return lines.join('\n');
}

/** Where each phase's CPU went: ms of CPU per pod, by role, and how busy the machine was. */
export function cpuLines(results: readonly VariantResult[]): string[] {
  const lines = [`CPU ms per pod, by role (bench/e2e/cpu.ts); busy: share of all ${cpus().length} cores over the phase`];
  lines.push(`${'variant'.padEnd(8)} ${'phase'.padEnd(11)} ${'total'.padStart(6)} ${'busy'.padStart(5)}  ${CPU_ROLES.map((r) => r.padStart(Math.max(7, r.length))).join(' ')}`);
  for (const v of results) {
    for (const p of v.phases) {
      const perPod = (s: number) => f((s * 1000) / v.pods, 1);
      const busy = p.cpu.busy / (cpus().length * (p.wallMs / 1000));
      lines.push(`${v.variant.id.padEnd(8)} ${p.phase.padEnd(11)} ${perPod(p.cpu.busy).padStart(6)} ${`${f(busy * 100, 0)}%`.padStart(5)}  ${CPU_ROLES.map((r) => perPod(p.cpu.byRole[r]).padStart(Math.max(7, r.length))).join(' ')}`);
    }
  }
  lines.push('plugins + ip: every ip, macvlan and tidepool plugin process the runtimes ran; kernel + other: the rest of the machine (netns teardown runs in kernel threads)');
  return lines;
}

export function problemLines(results: readonly VariantResult[]): string[] {
  const out: string[] = [];
  for (const v of results) {
    for (const p of v.problems) out.push(`${v.variant.id}: ${p}`);
    for (const ph of v.phases) for (const p of ph.problems) out.push(`${v.variant.id} ${ph.phase}: ${p}`);
    for (const d of v.duplicates.slice(0, 10)) out.push(`${v.variant.id}: DUPLICATE ${d.ip} held by ${d.pods.join(', ')} (${d.where})`);
  }
  return out;
}

// ---- CPU profiles -----------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  readonly top: Array<{ fn: string; where: string; selfMs: number; pct: number }>;
}

/** Self time by function (name + file:line), from the samples and their time deltas. */
export function summarizeProfile(file: string, n = 15): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const node = byId.get(id);
    const us = prof.timeDeltas[i + 1] ?? prof.timeDeltas[i] ?? 0;
    if (!node) return;
    const cf = node.callFrame;
    const fn = cf.functionName || '(anonymous)';
    if (fn === '(idle)') return;
    total += us;
    const url = cf.url.replace(/^file:\/\//, '');
    const where = url ? `${url.includes('node_modules') ? url.slice(url.lastIndexOf('node_modules') + 13) : basename(url)}:${cf.lineNumber + 1}` : '';
    const key = `${fn}|${where}`;
    const e = self.get(key) ?? { fn, where, us: 0 };
    e.us += us;
    self.set(key, e);
  });
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, pct: (e.us / total) * 100 }));
  return { file, totalMs: total / 1000, top };
}

export function profileText(s: ProfileSummary): string {
  const lines = [`${basename(s.file)}: ${f(s.totalMs / 1000, 2)} s of CPU (not idle) sampled`];
  for (const t of s.top) lines.push(`  ${f(t.pct, 1).padStart(5)}%  ${f(t.selfMs, 0).padStart(6)} ms  ${t.fn}  ${t.where}`);
  return lines.join('\n');
}

// ---- reports ----------------------------------------------------------------

export function markdown(opts: { results: readonly VariantResult[]; tableText: string; goalLines: string[]; problems: string[]; profiles: ProfileSummary[]; command: string; machine: string }): string {
  const out: string[] = [];
  out.push(`# tidepool end to end (Spiderpool's benchmark shape)`, '', `Command: \`${opts.command}\`  `, `Machine: ${opts.machine}`, '');
  out.push('| variant | pods | IPs/family | creation | re-creation | recovery | deletion | re÷cr | del÷cr | failed | duplicates | GC share |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const v of opts.results) {
    const cell = (p: PhaseName) => {
      const r = phaseOf(v, p);
      return r ? mmss(r.wallMs) + (r.ok ? '' : ' (!)') : 'failed';
    };
    const r = ratios(v);
    const g = gcShare(v);
    out.push(`| ${v.variant.id} | ${v.pods} | ${v.poolIps} | ${PHASES.map(cell).join(' | ')} | ${f(r.recreation)} | ${f(r.deletion)} | ${failedPods(v)} | ${v.duplicates.length} | ${f(g.share * 100, 1)}% |`);
  }
  out.push('', '```', opts.tableText, '', ...opts.goalLines, '```', '');
  if (opts.problems.length) out.push('## Problems', '', ...opts.problems.map((p) => `- ${p}`), '');
  if (opts.profiles.length) out.push('## CPU profiles (re-creation)', '', '```', ...opts.profiles.map(profileText), '```', '');
  return out.join('\n');
}

const COLORS = { running: '#2563eb', allocated: '#ea580c' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One phase's chart: pods Running and IPs allocated over seconds since the phase started. */
function chart(v: VariantResult, phase: PhaseName): string {
  const span = v.phaseSpans.find((s) => s.phase === phase);
  if (!span) return `<p>${phase}: not run</p>`;
  const from = span.startT - 500;
  const to = span.endT + 1500;
  const pts = v.timeline.filter((s) => s.t >= from && s.t <= to);
  const W = 520;
  const H = 220;
  const L = 50;
  const B = 30;
  const maxT = Math.max(1, (to - span.startT) / 1000);
  const minT = (from - span.startT) / 1000;
  const maxY = Math.max(1, v.pods * (v.variant.dual ? 2 : 1), ...pts.map((p) => Math.max(p.running, p.allocated)));
  const x = (t: number) => L + ((t / 1000 - minT) / (maxT - minT)) * (W - L - 10);
  const y = (n: number) => H - B - (n / maxY) * (H - B - 10);
  const line = (key: 'running' | 'allocated') => pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t - span.startT).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
  const ticksX = Array.from({ length: 6 }, (_, i) => minT + ((maxT - minT) * i) / 5);
  const ticksY = Array.from({ length: 5 }, (_, i) => (maxY * i) / 4);
  return `<figure><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${phase}">
<rect x="${L}" y="10" width="${W - L - 10}" height="${H - B - 10}" fill="#fafafa" stroke="#ccc"/>
${ticksX.map((t) => `<text x="${x(t * 1000).toFixed(1)}" y="${H - 12}" font-size="10" text-anchor="middle">${t.toFixed(1)}s</text>`).join('')}
${ticksY.map((n) => `<text x="${L - 4}" y="${(y(n) + 3).toFixed(1)}" font-size="10" text-anchor="end">${Math.round(n)}</text><line x1="${L}" x2="${W - 10}" y1="${y(n).toFixed(1)}" y2="${y(n).toFixed(1)}" stroke="#eee"/>`).join('')}
<line x1="${x(span.endT - span.startT).toFixed(1)}" x2="${x(span.endT - span.startT).toFixed(1)}" y1="10" y2="${H - B}" stroke="#16a34a" stroke-dasharray="4 3"/>
<path d="${line('allocated')}" fill="none" stroke="${COLORS.allocated}" stroke-width="2"/>
<path d="${line('running')}" fill="none" stroke="${COLORS.running}" stroke-width="2"/>
</svg><figcaption>${esc(v.variant.id)} ${phase}: ${mmss(span.endT - span.startT)} (dashed: end of phase)</figcaption></figure>`;
}

export function html(opts: { results: readonly VariantResult[]; tableText: string; goalLines: string[]; problems: string[]; profiles: ProfileSummary[]; command: string; machine: string }): string {
  const sections = opts.results
    .map((v) => `<h2>${esc(v.variant.id)}: ${v.pods} pods, ${v.poolIps} IPs per family</h2><div class="charts">${PHASES.map((p) => chart(v, p)).join('\n')}</div>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tidepool end to end</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:12px}.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-size:12px;color:#444}.key span{display:inline-block;width:1em;height:.3em;margin:0 .3em .2em 1em;vertical-align:middle}</style></head>
<body><h1>tidepool end to end: Spiderpool's benchmark shape</h1>
<p>Command: <code>${esc(opts.command)}</code><br>Machine: ${esc(opts.machine)}</p>
<p class="key"><span style="background:${COLORS.running}"></span>pods Running <span style="background:${COLORS.allocated}"></span>IPs allocated (all families; IPAllocations in state allocated)</p>
<pre>${esc(opts.tableText)}\n\n${esc(opts.goalLines.join('\n'))}</pre>
${opts.problems.length ? `<h2>Problems</h2><pre>${esc(opts.problems.join('\n'))}</pre>` : ''}
${sections}
${opts.profiles.length ? `<h2>CPU profiles during re-creation</h2><pre>${esc(opts.profiles.map(profileText).join('\n\n'))}</pre>` : ''}
</body></html>
`;
}
