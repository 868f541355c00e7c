/**
 * A real Prometheus (Debian's `prometheus` package) for tests: its own
 * config and TSDB in a temp dir, its web API on a free loopback port, ready
 * when /-/ready says so. `query` asks the HTTP API as a dashboard would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { collectLines } from './agent-process.ts';
import { waitUntilReady } from './readiness.ts';

export const PROMETHEUS = '/usr/bin/prometheus';

export interface PrometheusOptions {
  /** Job name to HOST:PORT targets. */
  readonly jobs: Readonly<Record<string, readonly string[]>>;
  readonly ruleFiles: readonly string[];
  /** Scrape and rule evaluation interval; default 1s. */
  readonly interval?: string;
}

/** One query's answer: `status` success or error; for a vector, each series' labels and value. */
export interface QueryAnswer {
  readonly status: string;
  readonly error?: string;
  readonly series: ReadonlyArray<{ readonly labels: Record<string, string>; readonly value: string }>;
}

export interface PrometheusProcess {
  readonly url: string;
  readonly proc: ChildProcess;
  query(expr: string): Promise<QueryAnswer>;
  /** GET an API path (e.g. /api/v1/rules) and return its `data`. */
  api<T>(path: string): Promise<T>;
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusProcess> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is needed (Debian's prometheus package; scripts/setup.sh installs it)`);
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-prometheus-'));
  const interval = opts.interval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: opts.ruleFiles,
    scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const url = `http://127.0.0.1:${await freePort()}`;
  const proc = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${url.slice('http://'.length)}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const out = collectLines(proc.stdout!, lines, 2_000);
  const err = collectLines(proc.stderr!, lines, 2_000);
  const log = () => `${lines.join('\n')}\n${out.partial()}${err.partial()}`;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady('prometheus', proc, log, async () => ((await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200 ? true : undefined));
  } catch (e) {
    await stop();
    throw e;
  }
  async function api<T>(path: string): Promise<T> {
    const body = (await (await fetch(`${url}${path}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? body.status}`);
    return body.data;
  }
  return {
    url,
    proc,
    api,
    log,
    stop,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      const result = body.data?.resultType === 'vector' ? body.data.result : [];
      return { status: body.status, ...(body.error ? { error: body.error } : {}), series: result.map((r) => ({ labels: r.metric, value: r.value[1] })) };
    },
  };
}

/** A loopback port nothing listens on at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
