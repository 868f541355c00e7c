// One simulated node's container runtime, as far as the bench needs one: it
// runs the sandbox commands (ip netns, the CNI plugin) that node's kubelet
// asks for, one JSON line per request on stdin, one per result on stdout.
//
// Why a process of its own: Node spawns with fork(), whose cost grows with
// the parent's memory (1.6 ms of CPU per spawn from 53 MB, 11.6 ms from
// 307 MB), and the bench process holds the whole run's state. A real runtime
// (containerd, CRI-O) is a small process that spawns with vfork. This one
// stays small too, at about 60 MB.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A command to run; `input` is written to its stdin. */
export interface RuntimeRequest {
  readonly id: number;
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly input?: string;
}

/** How it ended; `ms` is spawn to exit, measured here. `code` -1: it could not be started. */
export interface RuntimeResult {
  readonly id: number;
  readonly code: number;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

function execute(r: RuntimeRequest): Promise<RuntimeResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const proc = spawn(r.file, [...r.args], { env: r.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.stdin.on('error', () => undefined);
    proc.on('error', (err) => resolve({ id: r.id, code: -1, ms: performance.now() - t0, stdout, stderr: err.message }));
    proc.on('close', (code, signal) => resolve({ id: r.id, code: code ?? (signal ? 128 : -1), ms: performance.now() - t0, stdout, stderr }));
    proc.stdin.end(r.input ?? '');
  });
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const req = JSON.parse(line) as RuntimeRequest;
    void execute(req).then((res) => process.stdout.write(`${JSON.stringify(res)}\n`));
  });
  // The bench went away: a runtime without its kubelet has nothing to do.
  lines.on('close', () => process.exit(0));
}
