import { runCli } from './main.ts';

runCli(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t), env: process.env, now: Date.now }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tidepool: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
