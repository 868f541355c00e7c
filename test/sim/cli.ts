// `npm run sim`: `tidepool simulate` run from source with the planted bugs
// available (`--plant NAME`), for testing the simulator itself and replaying
// what the sweep and test/sim-plants.test.ts report. The shipped command has
// no --plant.
import { pathToFileURL } from 'node:url';
import type { CliIo } from '../../src/cli/main.ts';
import { simulateCommand } from '../../src/cli/simulate.ts';
import { toTidepoolError } from '../../src/ipam/errors.ts';
import { PLANTS } from './plants.ts';

/** Runs `simulate` with the plants, as the CLI runs a command: resolves to its exit code (0 ok, 1 violation, 2 usage). */
export async function runPlantedSimulate(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await simulateCommand(argv.map((a) => (a === '-h' ? '--help' : a)), io, { plants: PLANTS });
  } catch (err) {
    const e = toTidepoolError(err);
    io.err(`tidepool: ${e.message} (${e.code})\n`);
    return e.code === 'INVALID_CONFIG' ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.on('error', () => process.exit(0));
  process.exitCode = await runPlantedSimulate(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, now: Date.now });
}
