import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, cleanEnv, collectLines } from './agent-process.ts';
import { waitUntilReady } from './readiness.ts';

/** A `tidepool controller` started from dist/ as a real process. */
export interface ControllerProcess {
  readonly identity: string;
  readonly proc: ChildProcess;
  readonly logs: string[];
  /** HOST:PORT of the webhook and of /metrics, from the start-up log line. */
  readonly webhook: string;
  readonly metrics: string;
  readonly exited: Promise<number | null>;
  /** `tidepool_controller_leader` from /metrics; undefined while it cannot be read. */
  leaderGauge(): Promise<number | undefined>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `tidepool controller --namespace kube-system` with its webhook and
 * metrics on free loopback ports, and waits for its start-up log line.
 * `onSpawn` sees the process before the wait, so a caller can kill it even
 * if it never comes up.
 */
export async function startControllerProcess(opts: { kubeconfig: string; identity: string; args?: readonly string[]; onSpawn?: (p: { proc: ChildProcess; exited: Promise<number | null> }) => void }): Promise<ControllerProcess> {
  const args = ['controller', '--namespace', 'kube-system', '--kubeconfig', opts.kubeconfig, '--identity', opts.identity, '--webhook-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...(opts.args ?? [])];
  const proc = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const stderr = collectLines(proc.stderr!, logs);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  opts.onSpawn?.({ proc, exited });
  const startedLine = () => logs.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as { msg?: string; webhook?: string; metrics?: string }] : [])).find((l) => l.msg === 'tidepool controller started');
  let started: { webhook: string; metrics: string };
  try {
    const line = await waitUntilReady(`controller ${opts.identity}`, proc, () => logs.join('\n') + stderr.partial(), startedLine);
    started = { webhook: line.webhook ?? '', metrics: line.metrics ?? '' };
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    identity: opts.identity,
    proc,
    logs,
    webhook: started.webhook,
    metrics: started.metrics,
    exited,
    async leaderGauge() {
      try {
        const text = await (await fetch(`http://${started.metrics}/metrics`)).text();
        const m = /^tidepool_controller_leader (\d+)$/m.exec(text);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
