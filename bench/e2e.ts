// End to end, Spiderpool's benchmark shape: 10 nodes (a real agent process and
// a veth master each), two controllers, the fake API server in its own
// process, and a kubelet/ReplicaSet driver that runs Debian's macvlan with
// tidepool as IPAM in real network namespaces. Phases: creation, re-creation
// (10% of DELs lost), recovery (every process SIGKILLed, every sandbox
// re-created), deletion. Code in bench/e2e/; the CI preset is
// test/e2e-preset.test.ts.
// Run: npm run bench:e2e -- [--variants v4-1x,v4-2x,dual-1x,dual-2x] [--shape 100x10|1x1000] [...]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_REPORT_DIR, environmentProblems, parseArgs, totalPods, USAGE, type Options } from './e2e/options.ts';
import { parseBenchFlags } from './flags.ts';
import { goal, html, markdown, problemLines, profileText, summarizeProfile, table, type ProfileSummary } from './e2e/report.ts';
import { runVariant, type VariantResult } from './e2e/run.ts';
import { Owned, leftovers, snapshotBuild } from './e2e/system.ts';

const owned = new Owned();

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\n${signal}: removing namespaces, veths and processes\n`);
  owned.cleanupSync();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Progress on stderr: redrawn in place on a terminal, a line per 10% otherwise. */
function progressBar(): (label: string, done: number, total: number) => void {
  const width = 40;
  let lastLabel = '';
  let lastStep = -1;
  return (label, done, total) => {
    const tty = process.stderr.isTTY === true;
    const frac = Math.max(0, Math.min(1, done / total));
    const step = Math.floor(frac * 10);
    if (!tty && label === lastLabel && step === lastStep) return;
    if (label !== lastLabel && lastLabel && tty) process.stderr.write('\n');
    lastLabel = label;
    lastStep = step;
    const filled = Math.round(frac * width);
    process.stderr.write(`${tty ? '\r' : ''}${label.padEnd(24)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${tty ? '' : '\n'}`);
  };
}

async function main(): Promise<number> {
  const opts = parseBenchFlags('bench:e2e', USAGE, () => parseArgs(process.argv.slice(2)));
  if (typeof opts === 'number') return opts;
  const problems = environmentProblems(opts);
  if (problems.length > 0) {
    console.error(`bench:e2e cannot run here:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 1;
  }
  delete process.env['NODE_EXTRA_CA_CERTS'];
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.once('uncaughtException', (err) => {
    owned.cleanupSync();
    console.error(`\nbench:e2e failed: ${err.stack ?? err.message}`);
    process.exit(1);
  });

  // Ends in a letter, so one run's prefix is never the start of another's (tp12e vs tp123e).
  const prefix = `tp${process.pid % 100_000}e`;
  const reportDir = opts.reportDir ?? DEFAULT_REPORT_DIR;
  const results: VariantResult[] = [];
  const bar = progressBar();
  try {
    const build = await snapshotBuild(owned);
    if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
    for (const variant of opts.variants) {
      results.push(
        await runVariant(
          {
            variant,
            shape: opts.shape,
            nodes: opts.nodes,
            ips: opts.ips,
            lostDel: opts.lostDel,
            concurrency: opts.concurrency,
            controllerQps: opts.controllerQps,
            nodeNice: opts.nodeNice,
            phaseTimeoutS: opts.phaseTimeoutS,
            prefix,
            build,
            cpuProf: opts.cpuProf,
            onProgress: (label, done, total) => bar(`${variant.id} ${label}`, done, total),
            log: (line) => process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}${line}\n`),
          },
          owned,
        ),
      );
    }
  } finally {
    owned.cleanupSync();
  }
  const left = leftovers(prefix);
  const tableText = table(results, opts);
  const g = goal(results);
  const probs = problemLines(results);
  if (left.namespaces.length || left.links.length) probs.push(`cleanup left ${left.namespaces.length} namespaces and ${left.links.length} links with prefix ${prefix}`);
  const profiles: ProfileSummary[] = [];
  for (const v of results) for (const file of v.profiles) if (existsSync(file)) profiles.push(summarizeProfile(file));
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), kernel ${release()}, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
  const command = `npm run bench:e2e -- ${process.argv.slice(2).join(' ')}`.trim();

  console.log(tableText);
  console.log('');
  for (const l of g.lines) console.log(l);
  if (profiles.length) {
    console.log('');
    for (const p of profiles) console.log(profileText(p));
  }
  for (const p of probs) console.error(`PROBLEM: ${p}`);
  console.log(`\n${totalPods(opts)} pods per variant; ${machine}`);

  mkdirSync(reportDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const report = { results, tableText, goalLines: g.lines, problems: probs, profiles, command, machine };
  writeFileSync(join(reportDir, `e2e-${stamp}.md`), markdown(report));
  writeFileSync(join(reportDir, `e2e-${stamp}.html`), html(report));
  console.log(`report: ${join(reportDir, `e2e-${stamp}.md`)} and .html`);
  if (opts.jsonFile) writeFileSync(opts.jsonFile, JSON.stringify({ options: opts, machine, goal: g, problems: probs, profiles, results }, null, 1));
  return g.met ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    owned.cleanupSync();
    console.error(`bench:e2e failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
