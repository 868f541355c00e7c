// Runs the kubectl on PATH against a test API server, for tests of what real
// clients send: each call gets the server's kubeconfig and a private cache
// directory, runs asynchronously (the server answers in this process) and
// resolves with the exit code and output. `kubectlPath` is undefined when no
// kubectl is installed, so tests can skip with a reason.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createFakeApiServer, type FakeApiServer } from './server.ts';

export const kubectlPath = (process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'kubectl')).find((f) => existsSync(f));

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  run(args: string[], stdin?: string): Promise<KubectlResult>;
  /** Runs and fails the test unless kubectl exits 0; resolves with stdout. */
  ok(args: string[], stdin?: string): Promise<string>;
  /** The kubeconfig and environment the calls use, for a kubectl the test starts itself (a watch). */
  readonly kubeconfig: string;
  readonly env: NodeJS.ProcessEnv;
  close(): void;
}

/** A kubectl bound to `server` (which must serve TLS, so the kubeconfig carries its CA). */
export function kubectlFor(server: FakeApiServer): Kubectl {
  if (!kubectlPath) throw new Error('no kubectl on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-kubectl-'));
  const kubeconfig = join(dir, 'kubeconfig');
  server.writeKubeconfig(kubeconfig);
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'cache'), HOME: dir };
  delete env['NODE_EXTRA_CA_CERTS'];
  const run = (args: string[], stdin?: string): Promise<KubectlResult> =>
    new Promise((resolve) => {
      const child = execFile(kubectlPath!, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      child.stdin?.end(stdin ?? '');
    });
  return {
    kubeconfig,
    env,
    run,
    async ok(args, stdin) {
      const r = await run(args, stdin);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs `body` with a kubectl bound to a fresh TLS test server, and closes both. */
export async function withKubectl(body: (k: Kubectl, server: FakeApiServer) => Promise<void>): Promise<void> {
  const server = await createFakeApiServer({ tls: true });
  const k = kubectlFor(server);
  try {
    await body(k, server);
  } finally {
    k.close();
    await server.close();
  }
}
