import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';

/** A kubeconfig user's `exec` section (client.authentication.k8s.io). */
export interface ExecConfig {
  readonly command: string;
  readonly args?: readonly string[] | null;
  readonly env?: ReadonlyArray<{ readonly name: string; readonly value: string }> | null;
  readonly apiVersion?: string;
  readonly provideClusterInfo?: boolean;
}

/** What one run of the plugin gave. */
export interface ExecCredential {
  readonly token?: string | undefined;
  /** PEM client certificate and key, always both or neither. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** Epoch ms; undefined when the plugin gave no expirationTimestamp (valid until refused). */
  readonly expiresAt?: number | undefined;
}

/** A plugin that has not answered in this long is killed and the run fails. */
export const EXEC_TIMEOUT_MS = 30_000;

const DEFAULT_API_VERSION = 'client.authentication.k8s.io/v1';

/**
 * Runs a kubeconfig exec credential plugin as client-go does: not
 * interactive, with the section's env on top of ours and
 * KUBERNETES_EXEC_INFO describing the request; a relative command with a
 * path separator is taken relative to the kubeconfig (`dir`). Its stdout
 * must be an ExecCredential of the configured apiVersion with a token or a
 * certificate and key. Rejects with the plugin's name and its stderr.
 */
export function runExecPlugin(exec: ExecConfig, opts: { dir?: string | undefined; cluster?: Record<string, unknown> | undefined; timeoutMs?: number } = {}): Promise<ExecCredential> {
  const apiVersion = exec.apiVersion || DEFAULT_API_VERSION;
  const info = { apiVersion, kind: 'ExecCredential', spec: { interactive: false, ...(exec.provideClusterInfo && opts.cluster ? { cluster: opts.cluster } : {}) } };
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  env['KUBERNETES_EXEC_INFO'] = JSON.stringify(info);
  const command = exec.command.includes('/') && !isAbsolute(exec.command) && opts.dir ? join(opts.dir, exec.command) : exec.command;
  return new Promise((resolve, reject) => {
    const proc = spawn(command, [...(exec.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? EXEC_TIMEOUT_MS);
    const fail = (why: string) => reject(new Error(`exec plugin ${exec.command} ${why}`));
    proc.on('error', (err) => {
      clearTimeout(timer);
      fail(`could not run: ${err.message}`);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') return fail(`gave no credential within ${Math.round((opts.timeoutMs ?? EXEC_TIMEOUT_MS) / 1000)} s`);
      if (code !== 0) return fail(`exited with ${code ?? signal}: ${stderr.trim()}`);
      try {
        resolve(parseExecCredential(stdout, apiVersion));
      } catch (err) {
        fail((err as Error).message);
      }
    });
  });
}

/** Checks and reads an ExecCredential as client-go does; throws saying what is wrong. */
export function parseExecCredential(stdout: string, apiVersion: string): ExecCredential {
  let doc: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> | null };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw new Error('printed no JSON ExecCredential');
  }
  if (doc.apiVersion !== apiVersion) throw new Error(`is configured for ${apiVersion} but printed ${String(doc.apiVersion)}`);
  if (doc.kind !== 'ExecCredential') throw new Error(`printed a ${String(doc.kind)}, not an ExecCredential`);
  const status = doc.status;
  if (typeof status !== 'object' || status === null) throw new Error('printed no status');
  const str = (k: string) => (typeof status[k] === 'string' && status[k] !== '' ? (status[k] as string) : undefined);
  const token = str('token');
  const cert = str('clientCertificateData');
  const key = str('clientKeyData');
  if (!token && !cert && !key) throw new Error('printed neither a token nor a client certificate and key');
  if (!cert !== !key) throw new Error('printed a client certificate or key without the other');
  const stamp = str('expirationTimestamp');
  const expiresAt = stamp === undefined ? undefined : Date.parse(stamp);
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) throw new Error(`printed an expirationTimestamp that is not a time: ${stamp}`);
  return { token, cert, key, expiresAt };
}
