import { runCli } from './main.ts';

// A reader that stops early (`tidepool allocations | head -1`) closes the pipe: the rest of the output has no one
// to read it, so the command ends quietly, as programs killed by SIGPIPE do, instead of crashing with a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(0);
  process.stderr.write(`tidepool: writing the output failed: ${err.message}\n`);
  process.exit(1);
});
// Nowhere to report a failure to write the report of a failure: drop it.
process.stderr.on('error', () => {});

runCli(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, now: Date.now }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tidepool: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
