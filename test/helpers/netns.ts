import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cleanEnv, PLUGIN_DIR } from './agent-process.ts';

export const CNI_BIN = '/usr/lib/cni';

/** Why real-namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const p of ['bridge', 'macvlan', 'host-local']) if (!existsSync(`${CNI_BIN}/${p}`)) return `needs ${CNI_BIN}/${p} (apt-get install containernetworking-plugins)`;
  if (!existsSync(`${PLUGIN_DIR}/tidepool`)) return 'needs dist/cni/tidepool (npm run build)';
  return undefined;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

/** Runs a command, ignoring failure: for cleanup of things that may already be gone. */
export function ipQuiet(...args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

export interface PluginRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly json: any;
}

/** Invokes a CNI plugin binary the way a runtime does: CNI_* env and the netconf on stdin. */
export function execPlugin(binary: string, env: Record<string, string>, netconf: unknown): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(binary, [], { env: cleanEnv({ CNI_PATH: `${PLUGIN_DIR}:${CNI_BIN}`, ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('error', reject);
    // 'close', not 'exit': 'exit' can come before the last of stdout has been read, which under load looks like an empty result.
    proc.on('close', (code) => {
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
    proc.stdin.end(typeof netconf === 'string' ? netconf : JSON.stringify(netconf));
  });
}

/** CNI_* environment for ADD/DEL/CHECK of one attachment. */
export function cniEnv(command: string, containerId: string, netnsName: string, ifname = 'eth0'): Record<string, string> {
  return { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${netnsName}`, CNI_IFNAME: ifname };
}
