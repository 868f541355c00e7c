// Runs the fake API server as its own process, for tests that start tidepool
// binaries which need a kubeconfig:
//   node --import tsx test/apiserver/main.ts --port 0 --kubeconfig FILE
// Prints `listening http://127.0.0.1:PORT` once ready and exits 0 on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { createFakeApiServer } from './server.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    kubeconfig: { type: 'string' },
    'history-size': { type: 'string' },
  },
  strict: true,
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid --port ${values.port}\n`);
  process.exit(2);
}
const server = await createFakeApiServer({
  port,
  ...(values['history-size'] ? { historySize: Number(values['history-size']) } : {}),
});
if (values.kubeconfig) server.writeKubeconfig(values.kubeconfig);
process.stdout.write(`listening ${server.url}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`close failed: ${String(e)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
