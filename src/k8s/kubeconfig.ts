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

/**
 * Loads `file`, or else what kubectl would: the first file of $KUBECONFIG
 * merged with the others, ~/.kube/config, or the in-cluster service account.
 * Throws what client-node throws for a missing or malformed file.
 */
export async function loadKubeConfig(file?: string): Promise<KubeAccess> {
  // Loaded only here: importing the client takes about a second, which commands without a cluster should not pay.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
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
