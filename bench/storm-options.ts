// Flags of `npm run soak:standalone`: every refusal names the flag, the value and why.
import { TidepoolError } from '../src/ipam/errors.ts';
import { parseDuration } from '../src/util/duration.ts';
import { eachFlag, parseCount, UsageError } from './flags.ts';
export { UsageError } from './flags.ts';

export interface SoakOptions {
  readonly durationMs: number;
  readonly seed: number | undefined;
  readonly workers: number;
  readonly poolSize: number;
  readonly lostDelRatio: number;
  readonly killEveryMs: readonly [number, number];
  readonly gcIntervalMs: number;
  readonly gcGraceMs: number;
  readonly jsonFile: string | undefined;
}

export const DEFAULTS = { durationMs: 600_000, workers: 8, poolSize: 40, lostDelRatio: 0.07, killEveryMs: [5000, 15000], gcIntervalMs: 5000, gcGraceMs: 10000 } as const;

export const USAGE = `usage: npm run soak:standalone -- [options]
Kills the standalone agent (SIGKILL) at random and restarts it while pods are
created and deleted through the bridge plugin, some without a DEL; checks that
no IP is held twice, no pod gives up, every leak is reclaimed within its bound
and the state file is sound. Needs root, iproute2 and containernetworking-plugins.

  --duration DUR       how long the storm runs                      default 10m
  --seed N             seed of every random choice (0-4294967295)   default random, printed
  --workers N          pods created concurrently (1-64)             default ${DEFAULTS.workers}
  --pool-size N        IPv4 addresses in the pool (1-240)           default ${DEFAULTS.poolSize}
  --lost-del F         share of pods deleted without a DEL (0..1)   default ${DEFAULTS.lostDelRatio}
  --kill-every A-B     agent uptime before each SIGKILL, uniform    default 5s-15s
  --gc-interval DUR    the agent's --gc-interval                    default 5s
  --gc-grace DUR       the agent's --gc-grace                       default 10s
  --json FILE          also write the result as JSON

Exit status: 0 no violation, 1 a violation (or the run failed), 2 bad flags.`;

function duration(flag: string, raw: string): number {
  try {
    return parseDuration(raw, flag);
  } catch (err) {
    throw new UsageError(err instanceof TidepoolError ? err.message : String(err));
  }
}

export function parseArgs(argv: readonly string[]): SoakOptions {
  let durationMs: number = DEFAULTS.durationMs;
  let seed: number | undefined;
  let workers: number = DEFAULTS.workers;
  let poolSize: number = DEFAULTS.poolSize;
  let lostDelRatio: number = DEFAULTS.lostDelRatio;
  let killEveryMs: readonly [number, number] = DEFAULTS.killEveryMs;
  let gcIntervalMs: number = DEFAULTS.gcIntervalMs;
  let gcGraceMs: number = DEFAULTS.gcGraceMs;
  let jsonFile: string | undefined;
  eachFlag(argv, (f) => {
    switch (f.name) {
      case '--duration':
        durationMs = duration('--duration', f.text('a duration, e.g. 10m'));
        if (durationMs < 1000) throw new UsageError(`--duration ${durationMs}ms is less than 1s`);
        return true;
      case '--seed':
        seed = parseCount('--seed', f.value(), 0, 0xffff_ffff, 'seeds are 32-bit');
        return true;
      case '--workers':
        workers = parseCount('--workers', f.value(), 1, 64, 'each worker runs plugins and namespaces of its own; more would measure the machine, not the agent');
        return true;
      case '--pool-size':
        poolSize = parseCount('--pool-size', f.value(), 1, 240, 'the pool is one /24');
        return true;
      case '--lost-del': {
        const raw = f.text('a number from 0 to 1');
        if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(raw)) throw new UsageError(`--lost-del must be a number from 0 to 1 (the share of pods deleted without a DEL), got "${raw}"`);
        lostDelRatio = Number(raw);
        return true;
      }
      case '--kill-every': {
        const raw = f.text('a range of durations, e.g. 5s-15s');
        const m = /^([^-]+)-([^-]+)$/.exec(raw);
        if (!m) throw new UsageError(`--kill-every must be MIN-MAX, e.g. 5s-15s, got "${raw}"`);
        const range: [number, number] = [duration('--kill-every', m[1]!), duration('--kill-every', m[2]!)];
        if (range[0] > range[1]) throw new UsageError(`--kill-every ${raw}: the minimum is more than the maximum`);
        if (range[0] < 500) throw new UsageError(`--kill-every ${raw}: the agent must live at least 500ms between kills`);
        killEveryMs = range;
        return true;
      }
      case '--gc-interval':
        gcIntervalMs = duration('--gc-interval', f.text('a duration, e.g. 5s'));
        if (gcIntervalMs < 100) throw new UsageError('--gc-interval must be at least 100ms (the agent refuses less)');
        return true;
      case '--gc-grace':
        gcGraceMs = duration('--gc-grace', f.text('a duration, e.g. 10s'));
        return true;
      case '--json':
        jsonFile = f.text('a file name');
        return true;
      default:
        return false;
    }
  });
  return { durationMs, seed, workers, poolSize, lostDelRatio, killEveryMs, gcIntervalMs, gcGraceMs, jsonFile };
}
