// The processes, links and namespaces one run owns, and the synchronous
// cleanup that removes them however the run ends (error, SIGINT, SIGTERM).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { buildSync } from 'esbuild';
import { copyCliBundle } from '../cli-bundle.ts';
import type { RuntimeRequest, RuntimeResult } from './runtime-shim.ts';
import { callSocket, cleanEnv, CLI, collectLines, PLUGIN_DIR, ROOT } from '../../test/helpers/agent-process.ts';
import { waitUntilReady } from '../../test/helpers/readiness.ts';

/** Everything a run created; all of it is removable synchronously. */
export class Owned {
  readonly namespaces = new Set<string>();
  readonly links = new Set<string>();
  readonly dirs = new Set<string>();
  readonly children = new Set<ChildProcess>();

  /** Kills every child, deletes every namespace and link, removes temp dirs. Idempotent. */
  cleanupSync(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.children.clear();
    deleteNamespacesSync([...this.namespaces]);
    this.namespaces.clear();
    // Deleting one end of a veth removes its peer too.
    for (const l of this.links) quietSync('ip', ['link', 'del', l]);
    this.links.clear();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}

function quietSync(cmd: string, args: string[], input?: string): void {
  try {
    execFileSync(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'], input });
  } catch {
    /* already gone */
  }
}

/** One `ip -batch` for many namespaces; -force keeps going past ones already gone. */
export function deleteNamespacesSync(names: readonly string[]): void {
  for (let i = 0; i < names.length; i += 500) {
    quietSync('ip', ['-force', '-batch', '-'], names.slice(i, i + 500).map((n) => `netns del ${n}\n`).join(''));
  }
}

export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

export async function deleteNamespaces(owned: Owned, names: readonly string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    await run('ip', ['-force', '-batch', '-'], chunk.map((n) => `netns del ${n}\n`).join('')).catch(() => '');
    for (const n of chunk) owned.namespaces.delete(n);
  }
}

/** Names of existing namespaces and links that start with `prefix`: for the leftover check. */
export function leftovers(prefix: string): { namespaces: string[]; links: string[] } {
  let namespaces: string[] = [];
  try {
    namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
  } catch {
    /* none */
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(prefix));
  return { namespaces, links };
}

/** Per node a veth pair, both ends up and without IPv6 of their own: the macvlan master and a peer that only receives. */
export function createMasters(owned: Owned, prefix: string, nodes: number): string[] {
  const masters: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const master = `${prefix}m${i}`;
    const peer = `${prefix}p${i}`;
    execFileSync('ip', ['link', 'add', master, 'type', 'veth', 'peer', 'name', peer], { stdio: 'ignore' });
    owned.links.add(master);
    for (const l of [master, peer]) {
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${l}/disable_ipv6`, '1');
      } catch {
        /* IPv6 off in this kernel: nothing to quiet */
      }
      execFileSync('ip', ['link', 'set', l, 'up'], { stdio: 'ignore' });
    }
    masters.push(master);
  }
  return masters;
}

/** The private copy of the build a run uses. */
export interface Build {
  readonly cli: string;
  readonly cniDir: string;
  /** The bundled runtime shim (bench/e2e/runtime-shim.ts). */
  readonly runtime: string;
}

/**
 * A private copy of the build: the CLI (with node_modules linked beside it)
 * and the plugin. Other work rebuilds dist/ (npm test builds first); a
 * rebuild while agents restart or plugins run would mix builds or make a
 * file vanish mid-run.
 */
export async function snapshotBuild(owned: Owned): Promise<Build> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-e2e-build-'));
  owned.dirs.add(dir);
  mkdirSync(join(dir, 'cni'));
  const runtime = bundleRuntime(dir);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  let last = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const before = readFileSync(join(PLUGIN_DIR, 'build-info.json'), 'utf8');
      copyCliBundle(dirname(CLI), dir);
      copyFileSync(join(PLUGIN_DIR, 'tidepool'), join(dir, 'cni/tidepool'));
      chmodSync(join(dir, 'cni/tidepool'), 0o755);
      if (readFileSync(join(PLUGIN_DIR, 'build-info.json'), 'utf8') !== before) throw new Error('dist changed during the copy');
      const env = cleanEnv({ CNI_COMMAND: 'VERSION' });
      const res = execFileSync(join(dir, 'cni/tidepool'), [], { input: '{"cniVersion":"1.0.0"}', env, encoding: 'utf8', timeout: 10_000 });
      const help = execFileSync(process.execPath, [join(dir, 'tidepool.mjs'), '--help'], { env: cleanEnv(), encoding: 'utf8', timeout: 20_000 });
      if (res.includes('supportedVersions') && help.includes('daemon')) return { cli: join(dir, 'tidepool.mjs'), cniDir: join(dir, 'cni'), runtime };
      throw new Error(`the copy does not answer: ${res.slice(0, 200)}`);
    } catch (err) {
      last = (err as Error).message;
    }
    await delay(1000);
  }
  throw new Error(`could not take a working copy of dist/ (is a build running?): ${last}`);
}

/** A tidepool process (agent or controller) and what its log said. */
export interface TidepoolProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly metrics: string | undefined;
  readonly logs: string[];
  readonly exited: Promise<void>;
}


/** Spawns `node [nodeArgs] cli args...` and waits for the log line `startedMsg`, whose `metrics` field is the bound address. */
export async function startTidepool(owned: Owned, opts: { name: string; cli: string; args: string[]; nodeArgs?: string[]; startedMsg: string; socket?: string }): Promise<TidepoolProcess> {
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cli, ...opts.args], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  owned.children.add(proc);
  const logs: string[] = [];
  collectLines(proc.stderr!, logs, 20_000);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let seen = 0;
  let metrics: string | undefined;
  const started = async (): Promise<true | undefined> => {
    for (; seen < logs.length; seen++) {
      try {
        const e = JSON.parse(logs[seen]!) as { msg?: string; metrics?: string };
        if (e.msg === opts.startedMsg) metrics = e.metrics && e.metrics !== 'off' ? e.metrics : '';
      } catch {
        /* not JSON */
      }
    }
    if (metrics === undefined) return undefined;
    if (!opts.socket) return true;
    return (existsSync(opts.socket) && (await callSocket(opts.socket, 'GET', '/healthz').catch(() => undefined))?.status === 200) || undefined;
  };
  try {
    await waitUntilReady(opts.name, proc, () => logs.slice(-10).join('\n'), started);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return { name: opts.name, proc, metrics: metrics || undefined, logs, exited };
}

export async function kill(p: TidepoolProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill(signal);
  const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => p.proc.kill('SIGKILL'), 10_000);
  await p.exited;
  if (timer) clearTimeout(timer);
}

export function httpGet(address: string, path: string, timeoutMs = 5000): Promise<string> {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) return Promise.reject(new Error(`not HOST:PORT: ${address}`));
  return new Promise((resolve, reject) => {
    const req = request({ host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]), path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Prometheus text → `name{labels}` → value (labels as written). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Sum of a metric's samples whose labels include `where` (e.g. `reason="del"`), by the value of `by`. */
export function sumBy(metrics: Map<string, number>, name: string, by: string, where?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of metrics) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (where && !key.includes(where)) continue;
    const label = new RegExp(`${by}="([^"]*)"`).exec(key)?.[1] ?? '';
    out[label] = (out[label] ?? 0) + v;
  }
  return out;
}

/** Bundles bench/e2e/runtime-shim.ts into `dir`: plain JavaScript, so a runtime starts without the TypeScript loader and stays small. */
export function bundleRuntime(dir: string): string {
  const out = join(dir, 'runtime-shim.mjs');
  buildSync({ entryPoints: [join(ROOT, 'bench/e2e/runtime-shim.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
  return out;
}

/** A node's container runtime (bench/e2e/runtime-shim.ts): runs that node's sandbox commands. */
export interface Runtime {
  readonly pid: number | undefined;
  /** Runs `file`; never rejects for the command's own failure (see `code`), only when the runtime died. */
  exec(file: string, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<RuntimeResult>;
  /** Like `exec`, but a non-zero exit rejects with the command and its stderr. */
  run(file: string, args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export function startRuntime(owned: Owned, shim: string, name: string): Runtime {
  const proc = spawn(process.execPath, [shim], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  owned.children.add(proc);
  const stderr: string[] = [];
  collectLines(proc.stderr!, stderr, 50);
  const pending = new Map<number, { resolve: (r: RuntimeResult) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  let buf = '';
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const res = JSON.parse(buf.slice(0, i)) as RuntimeResult;
      buf = buf.slice(i + 1);
      pending.get(res.id)?.resolve(res);
      pending.delete(res.id);
    }
  });
  const exited = new Promise<void>((r) =>
    proc.once('exit', (code, signal) => {
      dead = new Error(`${name} runtime exited (${code ?? signal}): ${stderr.slice(-5).join(' | ')}`);
      for (const p of pending.values()) p.reject(dead);
      pending.clear();
      r();
    }),
  );
  proc.stdin!.on('error', () => undefined);
  const exec: Runtime['exec'] = (file, args, opts = {}) => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    const req: RuntimeRequest = { id, file, args, input: opts.input, env: opts.env as Record<string, string> | undefined };
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      proc.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  };
  return {
    pid: proc.pid,
    exec,
    async run(file, args) {
      const r = await exec(file, args);
      if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
      return r.stdout;
    },
    async stop() {
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      owned.children.delete(proc);
    },
  };
}
