import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { waitUntilReady } from './readiness.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/tidepool.mjs');
export const PLUGIN_DIR = join(ROOT, 'dist/cni');

/** Environment for spawned tidepool processes: what kubelet would give, minus the shell's CA bundle. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

export interface AgentProcess {
  readonly dir: string;
  readonly socket: string;
  readonly state: string;
  readonly poolsFile: string;
  readonly proc: ChildProcess;
  readonly logs: string[];
  call(method: string, path: string, body?: unknown | string): Promise<{ status: number; body: any; headers: IncomingHttpHeaders }>;
  /** Resolves with the first log line matching `match`; fails after `limitMs` (60 s) with the log so far. */
  waitForLog(match: RegExp, limitMs?: number): Promise<string>;
  /** Resolves with the exit code (null when killed by a signal); fails after `limitMs` (60 s) with the log. */
  exited(limitMs?: number): Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): Promise<void>;
}

/** Starts standalone `tidepool daemon` from dist/ as a real process on a temp socket and waits until it answers. */
export async function startAgent(opts: { pools: string; args?: string[]; dir?: string; wrap?: readonly string[] }): Promise<AgentProcess> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'tidepool-agent-'));
  const poolsFile = join(dir, 'pools.yaml');
  writeFileSync(poolsFile, opts.pools);
  return spawnAgent(dir, ['--pools', poolsFile, '--state', join(dir, 'state.db'), '--node', 'test-node', ...(opts.args ?? [])], opts.wrap);
}

/** Starts `tidepool daemon --store kubernetes` for one node against a (fake) API server. */
export async function startKubeAgent(opts: { kubeconfig: string; node: string; args?: string[] }): Promise<AgentProcess> {
  const dir = mkdtempSync(join(tmpdir(), `tidepool-${opts.node}-`));
  return spawnAgent(dir, ['--store', 'kubernetes', '--kubeconfig', opts.kubeconfig, '--node', opts.node, '--gc-interval', '1h', ...(opts.args ?? [])]);
}

/** `wrap`: a command the agent runs under (e.g. setpriv with fewer capabilities), before node. */
async function spawnAgent(dir: string, args: string[], wrap: readonly string[] = []): Promise<AgentProcess> {
  const socket = join(dir, 'agent.sock');
  const state = join(dir, 'state.db');
  const poolsFile = join(dir, 'pools.yaml');
  const command = [...wrap, process.execPath, CLI, 'daemon', '--socket', socket, '--metrics-listen', 'off', ...args];
  const proc = spawn(command[0]!, command.slice(1), {
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const stderr = collectLines(proc.stderr!, logs);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const logText = () => `${logs.join('\n')}\n${stderr.partial()}`;
  const agent: AgentProcess = {
    dir,
    socket,
    state,
    poolsFile,
    proc,
    logs,
    call: (method, path, body) => callSocket(socket, method, path, body),
    async waitForLog(match, limitMs = 60_000) {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const line = logs.find((l) => match.test(l));
        if (line !== undefined) return line;
        if (Date.now() > deadline) throw new Error(`no log line matching ${match} within ${limitMs} ms; the agent's log:\n${logText()}`);
        await delay(20);
      }
    },
    async exited(limitMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the agent did not exit within ${limitMs} ms; its log:\n${logText()}`)), limitMs);
      });
      try {
        return await Promise.race([exited, limit]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    async cleanup() {
      await agent.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const answers = async () => (existsSync(socket) && (await agent.call('GET', '/healthz').catch(() => undefined))?.status === 200) || undefined;
  try {
    await waitUntilReady(`agent ${args.join(' ')}`, proc, () => logs.join('\n') + stderr.partial(), answers);
  } catch (err) {
    await agent.cleanup();
    throw err;
  }
  return agent;
}

/** The metrics address the agent logged at start-up (started with --metrics-listen). */
export function waitForMetricsAddress(agent: AgentProcess): Promise<string> {
  const logged = () => agent.logs.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as { metrics?: string }] : [])).find((l) => l.metrics && l.metrics !== 'off')?.metrics;
  return waitUntilReady("the agent's metrics address", agent.proc, () => agent.logs.join('\n'), logged);
}

/**
 * One HTTP request over a unix socket; `body` as a string is sent verbatim.
 * Content-Length is always set: node's client sends a DELETE body without
 * it, which a server must read as the start of the next request.
 */
export function callSocket(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: IncomingHttpHeaders }> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers });
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Runs the CLI from dist/ and captures its output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function poolYaml(name: string, spec: Record<string, unknown>): string {
  return `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata:\n  name: ${name}\nspec: ${JSON.stringify(spec)}\n`;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Collects a child's output into `logs`, one entry per complete line; past
 * `cap` lines the older half is dropped. `partial()` is the unfinished last line.
 */
export function collectLines(stream: Readable, logs: string[], cap = Number.POSITIVE_INFINITY): { partial(): string } {
  let buffered = '';
  stream.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    logs.push(...lines);
    if (logs.length > cap) logs.splice(0, logs.length - cap / 2);
  });
  return { partial: () => buffered };
}
