import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { AgentOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';

/**
 * A loaded kubeconfig, with what client-node drops from the current user
 * but tidepool needs to keep credentials fresh: the path of its token file
 * (client-node reads the `token-file` key once at load and ignores
 * client-go's `tokenFile`), and the kubeconfig's directory, which relative
 * paths in it are relative to.
 */
export interface KubeAccess {
  readonly kc: KubeConfig;
  /** Absolute path of the current user's bearer token file, if the kubeconfig names one. */
  readonly tokenFile?: string | undefined;
  /** Directory of the kubeconfig file that defines the current user; undefined in a cluster. */
  readonly dir?: string | undefined;
}

/** Where a pod's service account token is; client-node loads the in-cluster config when it exists. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads `file`, or else what kubectl would: the first file of $KUBECONFIG
 * merged with the others, ~/.kube/config, or the in-cluster service account.
 * A missing file is named as missing; with none of them at all this throws
 * rather than let client-node fall back to http://localhost:8080, whose
 * first request would fail with a message about TLS verification. Throws
 * what client-node throws for a malformed file.
 */
export async function loadKubeConfig(file?: string): Promise<KubeAccess> {
  // Loaded only here: importing the client takes about a second, which commands without a cluster should not pay.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) {
    if (!existsSync(file)) throw new Error('no such file');
    kc.loadFromFile(file);
  } else {
    checkDefaultSources();
    kc.loadFromDefault();
  }
  const name = kc.getCurrentUser()?.name;
  for (const path of file ? [file] : defaultFiles()) {
    const user = name === undefined ? undefined : rawUser(path, name);
    if (!user) continue;
    const dir = dirname(resolve(path));
    const tokenFile = typeof user['tokenFile'] === 'string' ? user['tokenFile'] : typeof user['token-file'] === 'string' ? user['token-file'] : undefined;
    return { kc, dir, tokenFile: tokenFile ? (isAbsolute(tokenFile) ? tokenFile : join(dir, tokenFile)) : undefined };
  }
  return { kc };
}

/** Throws, naming what was looked for, when loadFromDefault would find no kubeconfig. */
function checkDefaultSources(): void {
  const env = process.env['KUBECONFIG'];
  if (env) {
    const missing = env.split(delimiter).filter((f) => f !== '' && !existsSync(f));
    if (missing.length > 0) throw new Error(`$KUBECONFIG names ${missing.join(', ')}: no such file`);
    return;
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home) || existsSync(SERVICE_ACCOUNT_TOKEN)) return;
  throw new Error(`no kubeconfig: $KUBECONFIG is not set, ${home} does not exist, and there is no service account token at ${SERVICE_ACCOUNT_TOKEN} (not in a pod); pass --kubeconfig FILE`);
}

/** The files loadFromDefault reads, in its order. */
function defaultFiles(): string[] {
  const env = process.env['KUBECONFIG'];
  if (env) return env.split(delimiter).filter((f) => f !== '');
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

/** The `user` map of user `name` as written in `path`, before client-node reads it. */
function rawUser(path: string, name: string): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const users = (doc as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) return undefined;
  const entry = users.find((u): u is { name: string; user?: unknown } => typeof u === 'object' && u !== null && (u as { name?: unknown }).name === name);
  return typeof entry?.user === 'object' && entry.user !== null ? (entry.user as Record<string, unknown>) : undefined;
}

/**
 * The TLS material of the current cluster and user: CA, client certificate
 * and key (files or inline data), server name, and whether to verify. Read
 * here rather than through client-node's applyToHTTPSOptions, which would
 * also run the user's authenticator (an exec plugin) just to build a socket.
 */
export function tlsOptions(kc: KubeConfig): Pick<AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'> {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const material = (file: string | undefined, data: string | undefined) => (file ? readFileSync(file) : data ? Buffer.from(data, 'base64') : undefined);
  const ca = material(cluster?.caFile, cluster?.caData);
  const cert = material(user?.certFile, user?.certData);
  const key = material(user?.keyFile, user?.keyData);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    rejectUnauthorized: cluster?.skipTLSVerify !== true,
    ...(cluster?.tlsServerName ? { servername: cluster.tlsServerName } : {}),
  };
}
