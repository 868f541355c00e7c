// Serves the test API server in the foreground, for people and other tools
// (kubectl, client libraries, tidepool binaries under test):
//   npm run kube-apiserver -- --kubeconfig FILE [--port N] [--tidepool-crds] [--http] [--history-size N]
// Serves HTTPS with a certificate from a fresh CA, writes a kubeconfig that
// trusts that CA, prints `listening https://127.0.0.1:PORT` once ready, and
// exits 0 on SIGTERM or SIGINT.
import { parseArgs } from 'node:util';
import { createFakeApiServer } from './server.ts';

const USAGE = `usage: npm run kube-apiserver -- --kubeconfig FILE [options]
  --kubeconfig FILE   where to write a kubeconfig for this server (required)
  --port N            TCP port on 127.0.0.1; default 0, any free port
  --tidepool-crds     create the CRDs of deploy/tidepool/crds/ at start (what kubectl apply -f deploy/tidepool/crds/ does)
  --http              plain HTTP instead of HTTPS (the kubeconfig then skips TLS verification)
  --history-size N    writes that watches and paged lists can resume from; default 10000
`;

function fail(message: string): never {
  process.stderr.write(`kube-apiserver: ${message}\n\n${USAGE}`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      port: { type: 'string', default: '0' },
      'tidepool-crds': { type: 'boolean', default: false },
      http: { type: 'boolean', default: false },
      'history-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (e) {
  fail((e as Error).message);
}
if (values['help']) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const kubeconfig = values['kubeconfig'];
if (typeof kubeconfig !== 'string' || kubeconfig === '') fail('--kubeconfig FILE is required');
const port = Number(values['port']);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: "${String(values['port'])}" is not a port number`);
const historySize = values['history-size'] === undefined ? undefined : Number(values['history-size']);
if (historySize !== undefined && !(Number.isInteger(historySize) && historySize > 0)) fail(`--history-size: "${String(values['history-size'])}" is not a positive integer`);

const server = await createFakeApiServer({ port, tls: !values['http'], tidepoolKinds: values['tidepool-crds'] === true, ...(historySize ? { historySize } : {}) });
server.writeKubeconfig(kubeconfig);
process.stdout.write(`listening ${server.url}\n`);
process.stderr.write(`kubeconfig written to ${kubeconfig}; try: kubectl --kubeconfig ${kubeconfig} get namespaces\n`);

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
