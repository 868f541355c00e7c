/**
 * Probes an address from the pod's own link, inside the pod's network
 * namespace, before the main plugin configures it (docs/adr/0010-probing-addresses.md):
 * IPv4 with an ARP probe (RFC 5227: sender 0.0.0.0, so no neighbour learns
 * anything from it) through iputils `arping -D`; IPv6 with a neighbour
 * solicitation through `ndisc6`, sent from a temporary link-local address
 * (the kernel's own link-local is still tentative for a second after the
 * link comes up). The gateway is asked the same way. Node cannot enter a
 * namespace, so one `nsenter --net` process per family runs a short script.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';

export interface ProbeTarget {
  /** Namespace path, as the agent can open it. */
  readonly netns: string;
  readonly ifname: string;
  readonly family: 4 | 6;
  /** The candidate address. */
  readonly ip: string;
  /** Ask whether another host answers for `ip`. */
  readonly conflict: boolean;
  /** Ask whether this gateway answers. */
  readonly gateway?: string | undefined;
  /** How long each question waits for an answer. */
  readonly timeoutMs: number;
}

export type ProbeOutcome =
  | {
      readonly ok: true;
      /** Set when a host answered for the candidate address. */
      readonly conflictMac?: string | undefined;
      /** Set when the gateway was asked: whether it answered. */
      readonly gatewayReachable?: boolean | undefined;
    }
  /** The probe could not run (no such link, a tool missing, IPv6 disabled on the link, ...). */
  | { readonly ok: false; readonly problem: string };

export interface AddressProber {
  /** Why probing cannot work on this node at all, or undefined. */
  readonly unavailable: string | undefined;
  probe(target: ProbeTarget): Promise<ProbeOutcome>;
}

/** Debian packages that bring each tool, for messages. */
const TOOLS: ReadonlyArray<readonly [tool: string, pkg: string]> = [
  ['nsenter', 'util-linux'],
  ['ip', 'iproute2'],
  ['timeout', 'coreutils'],
  ['arping', 'iputils-arping'],
  ['ndisc6', 'ndisc6'],
  ['sh', 'dash'],
];

function missingTools(path: string): string[] {
  const dirs = path.split(':').filter((d) => d !== '');
  return TOOLS.filter(([tool]) =>
    !dirs.some((d) => {
      try {
        accessSync(`${d}/${tool}`, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  ).map(([tool, pkg]) => `${tool} (${pkg})`);
}

// The link is brought up first: macvlan's link is still down when its IPAM runs (the plugin sets it up when it
// configures the address). Each question prints a marker, the tool's output and its exit status.
// iputils arping only takes whole seconds, so `timeout` ends the wait: in DAD mode arping exits at the first reply.
// The gateway is asked up to GATEWAY_TRIES times: its window includes the tool's start, which a loaded node can
// stretch past a short timeout, and a gateway that answers costs one try; only a silent one pays all of them.
const SCRIPT_V4 = `
ip link set dev "$1" up 2>&1 || { echo "@@link $?"; exit 0; }
if [ "$4" = 1 ]; then echo "@@conflict"; timeout "$3" arping -D -c 1 -w 1 -I "$1" "$2" 2>&1; echo "@@rc $?"; fi
if [ -n "$5" ]; then echo "@@gateway"; for i in 1 2 3; do timeout "$3" arping -D -c 1 -w 1 -I "$1" "$5" 2>&1; rc=$?; [ $rc = 1 ] && break; done; echo "@@rc $rc"; fi
`;
const SCRIPT_V6 = `
ip link set dev "$1" up 2>&1 || { echo "@@link $?"; exit 0; }
ip -6 addr add "$6/64" dev "$1" nodad 2>&1 || { echo "@@source $?"; exit 0; }
trap 'ip -6 addr del "$6/64" dev "$1" 2>/dev/null' EXIT
if [ "$4" = 1 ]; then echo "@@conflict"; ndisc6 -q -1 -r 1 -w "$3" -s "$6" "$2" "$1" 2>&1; echo "@@rc $?"; fi
if [ -n "$5" ]; then echo "@@gateway"; ndisc6 -q -1 -r 3 -w "$3" -s "$6" "$5" "$1" 2>&1; echo "@@rc $?"; fi
`;

/** How many times a silent gateway is asked before it counts as unreachable. */
export const GATEWAY_TRIES = 3;

const MAC = /([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/;

interface Answer {
  readonly rc: number;
  readonly text: string;
}

/** Splits the script's output into its questions' answers. */
export function parseProbeOutput(stdout: string): { link?: string; source?: string; conflict?: Answer; gateway?: Answer } {
  const out: { link?: string; source?: string; conflict?: Answer; gateway?: Answer } = {};
  let section: 'conflict' | 'gateway' | undefined;
  let text: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@(link|source|conflict|gateway|rc)(?: (\d+))?$/.exec(line);
    if (!m) {
      text.push(line);
      continue;
    }
    if (m[1] === 'link' || m[1] === 'source') out[m[1]] = text.join('\n').trim() || `exit status ${m[2]}`;
    else if (m[1] === 'rc' && section) out[section] = { rc: Number(m[2]), text: text.join('\n') };
    else if (m[1] === 'conflict' || m[1] === 'gateway') section = m[1];
    text = [];
  }
  return out;
}

/**
 * What an answer says: `answered` with the MAC, `silent` (no answer within
 * the timeout), or `failed` with the tool's words. arping -D: 1 with a reply
 * line, 124 from timeout when nothing came, 0 when its own 1 s ran out.
 * ndisc6 -q: 0 with the MAC, 2 when nothing came.
 */
export function readAnswer(family: 4 | 6, a: Answer): { kind: 'answered'; mac: string } | { kind: 'silent' } | { kind: 'failed'; why: string } {
  const mac = MAC.exec(a.text)?.[1]?.toLowerCase();
  if (family === 4) {
    if (a.rc === 1 && /reply from/i.test(a.text) && mac) return { kind: 'answered', mac };
    if (a.rc === 124 || a.rc === 0) return { kind: 'silent' };
  } else {
    if (a.rc === 0 && mac) return { kind: 'answered', mac };
    if (a.rc === 2) return { kind: 'silent' };
  }
  return { kind: 'failed', why: a.text.trim().split('\n').pop() || `exit status ${a.rc}` };
}

export interface ProberOptions {
  /** PATH to find the tools in; defaults to the agent's. */
  readonly path?: string | undefined;
  /** Maps a namespace path to one this process can open (a containerised agent sees the host's /proc elsewhere). */
  readonly mapNetns?: ((path: string) => string) | undefined;
}

/** The real prober: nsenter + ip + arping / ndisc6 from Debian's packages. */
export function createAddressProber(opts: ProberOptions = {}): AddressProber {
  const path = opts.path ?? process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const missing = missingTools(path);
  const unavailable = missing.length > 0 ? `missing on this node: ${missing.join(', ')}` : undefined;
  const mapNetns = opts.mapNetns ?? ((p: string) => p);
  return {
    unavailable,
    probe(t) {
      if (unavailable) return Promise.resolve({ ok: false, problem: unavailable });
      const waitArg = t.family === 4 ? (t.timeoutMs / 1000).toFixed(3) : String(t.timeoutMs);
      // A fresh source per probe: two pods probing at once from one fixed address would get each other's answers.
      const source = `fe80::${[...randomBytes(8)].reduce((acc, b, i) => acc + (i % 2 === 0 && i > 0 ? ':' : '') + b.toString(16).padStart(2, '0'), '')}`;
      const args = [`--net=${mapNetns(t.netns)}`, '--', 'sh', '-c', t.family === 4 ? SCRIPT_V4 : SCRIPT_V6, 'tidepool-probe', t.ifname, t.ip, waitArg, t.conflict ? '1' : '0', t.gateway ?? '', source];
      return new Promise((resolve) => {
        const child = spawn('nsenter', args, { env: { PATH: path, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        // A bound on the whole exchange far above the questions' own timeouts: a wedged tool must not hold the ADD forever.
        const cap = setTimeout(() => child.kill('SIGKILL'), (1 + GATEWAY_TRIES) * t.timeoutMs + 5_000);
        child.on('error', (err) => {
          clearTimeout(cap);
          resolve({ ok: false, problem: `nsenter could not be started: ${err.message}` });
        });
        child.on('close', (code, signal) => {
          clearTimeout(cap);
          if (code !== 0) {
            resolve({ ok: false, problem: `nsenter --net=${t.netns} failed (${signal ?? `exit status ${code}`}): ${(stderr || stdout).trim().split('\n').pop() ?? ''}` });
            return;
          }
          const parsed = parseProbeOutput(stdout);
          if (parsed.link !== undefined) {
            resolve({ ok: false, problem: `interface ${t.ifname} cannot be set up in ${t.netns}: ${parsed.link}` });
            return;
          }
          if (parsed.source !== undefined) {
            resolve({ ok: false, problem: `no IPv6 source address can be added to ${t.ifname}: ${parsed.source}` });
            return;
          }
          let conflictMac: string | undefined;
          let gatewayReachable: boolean | undefined;
          if (t.conflict) {
            const a = parsed.conflict ? readAnswer(t.family, parsed.conflict) : { kind: 'failed' as const, why: 'no answer from the probe script' };
            if (a.kind === 'failed') return resolve({ ok: false, problem: `probing ${t.ip} on ${t.ifname} failed: ${a.why}` });
            if (a.kind === 'answered') conflictMac = a.mac;
          }
          if (t.gateway !== undefined) {
            const a = parsed.gateway ? readAnswer(t.family, parsed.gateway) : { kind: 'failed' as const, why: 'no answer from the probe script' };
            if (a.kind === 'failed') return resolve({ ok: false, problem: `probing gateway ${t.gateway} on ${t.ifname} failed: ${a.why}` });
            gatewayReachable = a.kind === 'answered';
          }
          resolve({ ok: true, conflictMac, gatewayReachable });
        });
      });
    },
  };
}
