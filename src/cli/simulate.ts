import { readFileSync, writeFileSync } from 'node:fs';
import { TidepoolError } from '../ipam/errors.ts';
import { formatDuration } from '../util/duration.ts';
import { parseCommandFlags } from '../util/flags.ts';
import { createProgress } from '../util/progress.ts';
import type { Plant } from '../sim/plant.ts';
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
`;

/** What the command may do beyond what ships: only tests and `npm run sim` pass these. */
export interface SimulateOptions {
  /** Known bugs `--plant NAME` may plant (test/sim/plants.ts), for testing the simulator itself. */
  readonly plants?: Readonly<Record<string, Plant>>;
}

function usageText(opts: SimulateOptions): string {
  if (!opts.plants) return SIMULATE_USAGE;
  return `${SIMULATE_USAGE}
Options:
  --plant NAME   plant a known bug (${Object.keys(opts.plants).join(', ')}); for testing the simulator itself
`;
}

function usageError(text: string): (message: string, field: string) => TidepoolError {
  return (message, field) => new TidepoolError('INVALID_CONFIG', `${message}\n\n${text}`, { field });
}

type UsageError = (message: string, field: string) => TidepoolError;

function positiveInt(usage: UsageError, text: string | undefined, flag: string, fallback: number, min = 0): number {
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

/** A parsed command line: its flags, the scenario file if any, and the bug to plant if any. */
interface Invocation {
  readonly values: Record<string, string | boolean | undefined>;
  readonly file: string | undefined;
  readonly plant: Plant | undefined;
  /** ` --plant NAME` for replay commands, or ''. */
  readonly plantFlag: string;
  readonly usage: UsageError;
}

/** `tidepool simulate`: see SIMULATE_USAGE. Exit 0 when every invariant held, 1 on a violation, 2 on bad input. */
export async function simulateCommand(argv: readonly string[], io: CliIo, opts: SimulateOptions = {}): Promise<number> {
  const text = usageText(opts);
  const usage = usageError(text);
  const flags = { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, long: { type: 'boolean' }, report: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } as const;
  const { values, positionals } = parseCommandFlags(argv, opts.plants ? { ...flags, plant: { type: 'string' } } : flags, { usage: text, allowPositionals: true });
  if (values['help']) {
    io.out(text);
    return 0;
  }
  if (positionals.length > 1) throw usage(`one scenario file at most, got ${positionals.length}`, 'SCENARIO');
  const plantName = values['plant'] as string | undefined;
  const plants = opts.plants ?? {};
  if (plantName !== undefined && !Object.hasOwn(plants, plantName)) throw usage(`--plant: unknown bug "${plantName}" (known: ${Object.keys(plants).join(', ')})`, '--plant');
  const plant = plantName === undefined ? undefined : plants[plantName];
  const run: Invocation = { values, file: positionals[0], plant, plantFlag: plant ? ` --plant ${plantName}` : '', usage };
  if (run.file !== undefined) return runScenarioFile(run, run.file, io);
  if (values['report'] !== undefined || values['json'] !== undefined) throw usage('--report and --json apply with a scenario file', values['report'] !== undefined ? '--report' : '--json');
  if (values['seed'] !== undefined) return replaySeed(run, io);
  return sweep(run, io);
}

async function runScenarioFile(run: Invocation, file: string, io: CliIo): Promise<number> {
  const { values, usage } = run;
  for (const flag of ['seeds', 'from', 'long'] as const) if (values[flag] !== undefined) throw usage(`--${flag} applies to the random sweep, not to a scenario file`, `--${flag}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { field: 'SCENARIO' });
  }
  const scenario = parseScenario(text, file);
  const seed = positiveInt(usage, values['seed'] as string | undefined, '--seed', 1);
  const report = (values['report'] as string | undefined) ?? 'tidepool-simulation.html';
  const total = scenario.durationMs + scenario.settleMs;
  const bar = createProgress(`simulating ${scenario.name}`, Math.round(total / 1000), 24);
  const result = await runSimulation({ scenario, seed, plant: run.plant, stopOnViolation: false, onProgress: (done) => bar.update(Math.round((done * total) / 1000), 's virtual') });
  bar.done('s virtual');
  // A planted bug only exists in the development runner.
  const replay = `${run.plant ? 'npm run sim --' : 'tidepool simulate'} ${file} --seed ${seed}${run.plantFlag}`;
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

async function replaySeed(run: Invocation, io: CliIo): Promise<number> {
  const { values, usage } = run;
  if (values['seeds'] !== undefined || values['from'] !== undefined) throw usage('--seed replays one seed; it does not combine with --seeds or --from', '--seed');
  const long = values['long'] === true;
  const seed = positiveInt(usage, values['seed'] as string, '--seed', 1);
  const result = await runSimulation({ scenario: planRandomScenario(createRng(seed), { long }), seed, plant: run.plant, traceLimit: 1_000_000 });
  if (result.violations.length > 0) {
    io.out(describeViolation(result, `npm run sim -- --seed ${seed}${long ? ' --long' : ''}${run.plantFlag}`));
    return 1;
  }
  io.out(`seed ${seed}: every invariant held (${formatDuration(result.virtualMs)} of virtual time, ${result.steps} events, ${result.allocations} IPs allocated, ${result.reclaims.length} reclaimed by the garbage collector)\n`);
  return 0;
}

async function sweep(run: Invocation, io: CliIo): Promise<number> {
  const { values, usage } = run;
  const long = values['long'] === true;
  const count = positiveInt(usage, values['seeds'] as string | undefined, '--seeds', long ? 100 : 1000, 1);
  const from = positiveInt(usage, values['from'] as string | undefined, '--from', 1);
  const bar = createProgress('seeds', count, 8, { write: io.err, isTTY: process.stderr.isTTY });
  const started = performance.now();
  let events = 0;
  let virtual = 0;
  for (let i = 0; i < count; i++) {
    const seed = from + i;
    const result = await runSimulation({ scenario: planRandomScenario(createRng(seed), { long }), seed, plant: run.plant });
    events += result.steps;
    virtual += result.virtualMs;
    bar.update(i + 1, `seed ${seed}`);
    if (result.violations.length > 0) {
      bar.done(`stopped at seed ${seed}`);
      io.out(describeViolation(result, `npm run sim -- --seed ${seed}${long ? ' --long' : ''}${run.plantFlag}`));
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
