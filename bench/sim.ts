// The simulator's own speed, which decides how many schedules CI explores:
//  1. the random sweep (the CI shape): seeds per minute and simulated events per second;
//  2. the two shipped example scenarios: events per second and virtual time per real second.
// Run: npm run bench:sim -- [--seeds N] [--from N]
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { eachFlag, parseBenchFlags, parseCount } from './flags.ts';
import { createProgress } from '../src/util/progress.ts';
import { createRng } from '../src/sim/rng.ts';
import { runSimulation } from '../src/sim/run.ts';
import { parseScenario, planRandomScenario } from '../src/sim/scenario.ts';
import { formatTable } from '../src/cli/table.ts';
import { formatDuration } from '../src/util/duration.ts';

const USAGE = `usage: npm run bench:sim -- [options]
  --seeds N   seeds of the random sweep     default 300
  --from N    first seed                    default 1`;

function parse(argv: readonly string[]): { seeds: number; from: number } {
  let seeds = 300;
  let from = 1;
  eachFlag(argv, (f) => {
    if (f.name === '--seeds') seeds = parseCount('--seeds', f.value(), 1, 100_000, 'more seeds than a benchmark needs; use npm run sim');
    else if (f.name === '--from') from = parseCount('--from', f.value(), 0, 2 ** 31, 'seeds are 32-bit');
    else return false;
    return true;
  });
  return { seeds, from };
}

async function main(): Promise<number> {
  const opts = parseBenchFlags('bench:sim', USAGE, () => parse(process.argv.slice(2)));
  if (typeof opts === 'number') return opts;
  const { seeds, from } = opts;
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  const bar = createProgress('sweep', seeds, 10);
  let events = 0;
  let virtual = 0;
  let violations = 0;
  const started = performance.now();
  for (let i = 0; i < seeds; i++) {
    const r = await runSimulation({ scenario: planRandomScenario(createRng(from + i)), seed: from + i });
    events += r.steps;
    virtual += r.virtualMs;
    violations += r.violations.length;
    bar.update(i + 1);
  }
  bar.done();
  const sweepSeconds = (performance.now() - started) / 1000;
  const rows: string[][] = [
    [`sweep: ${seeds} random seeds`, sweepSeconds.toFixed(1), formatDuration(virtual), String(events), String(Math.round(events / sweepSeconds)), `${Math.round((seeds / sweepSeconds) * 60)} seeds/min`, String(violations)],
  ];
  for (const file of ['examples/simulate/churn.yaml', 'examples/simulate/spiderpool-1000.yaml']) {
    const scenario = parseScenario(readFileSync(file, 'utf8'), file);
    const total = scenario.durationMs + scenario.settleMs;
    const b = createProgress(scenario.name, Math.round(total / 1000), 16);
    const r = await runSimulation({ scenario, seed: 1, stopOnViolation: false, onProgress: (d) => b.update(Math.round((d * total) / 1000)) });
    b.done();
    const secs = r.realMs / 1000;
    rows.push([`scenario ${scenario.name}`, secs.toFixed(1), formatDuration(r.virtualMs), String(r.steps), String(Math.round(r.steps / secs)), `${Math.round(r.virtualMs / r.realMs)}x real time`, String(r.violations.length)]);
  }
  console.log('\n' + formatTable(['run', 'real s', 'virtual', 'events', 'events/s', 'rate', 'violations'], rows));
  return violations > 0 ? 1 : 0;
}

main().then(
  (status) => (process.exitCode = status),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
