import { readFileSync, writeFileSync } from 'node:fs';
import { TidepoolError } from '../ipam/errors.ts';
import { formatDuration } from '../util/duration.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { createProgress } from '../util/progress.ts';
import { PLANTS, type PlantName } from '../sim/plants.ts';
import { planFailedAddRows, planSummaryRows, renderHtmlReport } from '../sim/report.ts';
import { createRng } from '../sim/rng.ts';
import { runSimulation, SIM_EPOCH, type SimResult } from '../sim/run.ts';
import { parseScenario, planRandomScenario } from '../sim/scenario.ts';
import type { CliIo } from './main.ts';
import { formatTable } from './table.ts';

export const SIMULATE_USAGE = `Usage:
  tidepool simulate SCENARIO.yaml [--seed N] [--report FILE|off] [--json]
      Runs the scenario once in virtual time (the real agent, controller and
      store code against a simulated cluster), prints a summary and writes a
      self-contained HTML report (default tidepool-simulation.html).
  tidepool simulate [--seeds N] [--from N] [--long]
      Sweeps random small clusters with every fault on, one per seed (default
      1000 seeds from 1), and stops at the first invariant violation.
  tidepool simulate --seed N [--long]
      Replays one seed of the sweep and prints its trace.

Options:
  --plant NAME   plant a known bug (${Object.keys(PLANTS).join(', ')}); for testing the simulator itself
`;

function usage(message: string, field: string): TidepoolError {
  return new TidepoolError('INVALID_CONFIG', `${message}\n\n${SIMULATE_USAGE}`, { field });
}

function positiveInt(text: string | undefined, flag: string, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) throw usage(`${flag}: "${text}" is not an integer of at least ${min}`, flag);
  return Number(text);
}

function describeViolation(result: SimResult, replay: string): string {
  const v = result.violations[0]!;
  return [
    `seed ${result.seed}: invariant ${v.invariant} violated at ${formatDuration(v.at - SIM_EPOCH)} of virtual time`,
    `  ${v.message}`,
    '',
    'trace (lines about the IPs and pods involved, then the last lines):',
    ...result.trace.map((l) => `  ${l}`),
    '',
    `replay: ${replay}`,
    '',
  ].join('\n');
}

/** `tidepool simulate`: see SIMULATE_USAGE. Exit 0 when every invariant held, 1 on a violation, 2 on bad input. */
export async function simulateCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandFlags(
    argv,
    { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, long: { type: 'boolean' }, report: { type: 'string' }, json: { type: 'boolean' }, plant: { type: 'string' }, help: { type: 'boolean' } },
    { usage: SIMULATE_USAGE, allowPositionals: true },
  );
  const { values, positionals } = parsed;
  if (values['help']) {
    io.out(SIMULATE_USAGE);
    return 0;
  }
  if (positionals.length > 1) throw usage(`one scenario file at most, got ${positionals.length}`, 'SCENARIO');
  const plantName = values['plant'] as string | undefined;
  if (plantName !== undefined && !(plantName in PLANTS)) throw usage(`--plant: unknown bug "${plantName}" (known: ${Object.keys(PLANTS).join(', ')})`, '--plant');
  const plant = plantName as PlantName | undefined;
  const plantFlag = plant ? ` --plant ${plant}` : '';
  const file = positionals[0];

  if (file !== undefined) {
    for (const flag of ['seeds', 'from', 'long'] as const) if (values[flag] !== undefined) throw usage(`--${flag} applies to the random sweep, not to a scenario file`, `--${flag}`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TidepoolError('INVALID_CONFIG', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { field: 'SCENARIO' });
    }
    const scenario = parseScenario(text, file);
    const seed = positiveInt(values['seed'] as string | undefined, '--seed', 1);
    const report = (values['report'] as string | undefined) ?? 'tidepool-simulation.html';
    const total = scenario.durationMs + scenario.settleMs;
    const bar = createProgress(`simulating ${scenario.name}`, Math.round(total / 1000), 24);
    const result = await runSimulation({ scenario, seed, plant, stopOnViolation: false, onProgress: (done) => bar.update(Math.round((done * total) / 1000), 's virtual') });
    bar.done('s virtual');
    const replay = `tidepool simulate ${file} --seed ${seed}${plantFlag}`;
    if (values['json']) {
      const { trace: _t, samples: _s, ...summary } = result;
      io.out(JSON.stringify({ ...summary, summary: Object.fromEntries(planSummaryRows(result)) }, null, 2) + '\n');
    } else {
      io.out(`scenario ${scenario.name}, seed ${seed}: ${formatDuration(result.virtualMs)} of virtual time in ${formatDuration(result.realMs)}\n\n`);
      io.out(formatTable(['metric', 'value'], planSummaryRows(result)));
      const failed = planFailedAddRows(result);
      if (failed.length > 0) io.out('\n' + formatTable(['failed ADDs', 'code', 'message'], failed));
      if (result.violations.length > 0) io.out('\n' + describeViolation(result, replay));
    }
    if (report !== 'off') {
      writeFileSync(report, renderHtmlReport(result, scenario, replay));
      io.err(`report written to ${report}\n`);
    }
    return result.violations.length > 0 ? 1 : 0;
  }

  if (values['report'] !== undefined || values['json'] !== undefined) throw usage('--report and --json apply with a scenario file', values['report'] !== undefined ? '--report' : '--json');
  const long = values['long'] === true;
  const longFlag = long ? ' --long' : '';
  if (values['seed'] !== undefined) {
    if (values['seeds'] !== undefined || values['from'] !== undefined) throw usage('--seed replays one seed; it does not combine with --seeds or --from', '--seed');
    const seed = positiveInt(values['seed'] as string, '--seed', 1);
    const result = await runSimulation({ scenario: planRandomScenario(createRng(seed), { long }), seed, plant, traceLimit: 1_000_000 });
    const replay = `npm run sim -- --seed ${seed}${longFlag}${plantFlag}`;
    if (result.violations.length > 0) {
      io.out(describeViolation(result, replay));
      return 1;
    }
    io.out(`seed ${seed}: every invariant held (${formatDuration(result.virtualMs)} of virtual time, ${result.steps} events, ${result.allocations} IPs allocated, ${result.reclaims.length} reclaimed by the garbage collector)\n`);
    return 0;
  }
  const count = positiveInt(values['seeds'] as string | undefined, '--seeds', long ? 100 : 1000, 1);
  const from = positiveInt(values['from'] as string | undefined, '--from', 1);
  const bar = createProgress('seeds', count, 8, { write: io.err, isTTY: process.stderr.isTTY });
  const started = performance.now();
  let events = 0;
  let virtual = 0;
  for (let i = 0; i < count; i++) {
    const seed = from + i;
    const result = await runSimulation({ scenario: planRandomScenario(createRng(seed), { long }), seed, plant });
    events += result.steps;
    virtual += result.virtualMs;
    bar.update(i + 1, `seed ${seed}`);
    if (result.violations.length > 0) {
      bar.done(`stopped at seed ${seed}`);
      io.out(describeViolation(result, `npm run sim -- --seed ${seed}${longFlag}${plantFlag}`));
      return 1;
    }
  }
  bar.done();
  const seconds = (performance.now() - started) / 1000;
  io.out(
    `${count} seeds (${from}–${from + count - 1}): every invariant held. ${formatDuration(virtual)} of virtual time, ${events} events in ${seconds.toFixed(1)} s: ` +
      `${Math.round(events / seconds)} events/s, ${Math.round((count / seconds) * 60)} seeds/min\n`,
  );
  return 0;
}
