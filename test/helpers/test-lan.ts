// A LAN of real network namespaces for the underlay tests: a Linux bridge,
// namespaces for pods, and "other hosts" whose eth0 sits on the bridge with
// addresses of their own. Every name carries the test process's tag, so runs
// side by side never collide, and close() removes everything made.
import assert from 'node:assert/strict';
import { ip, ipQuiet } from './netns.ts';

export interface TestLan {
  /** The bridge's name, for a bridge netconf. */
  readonly bridge: string;
  /** Per-process tag for other names the test makes (at most 2 characters). */
  readonly tag: string;
  /** A new, empty network namespace named after `n`. */
  ns(n: string): string;
  /** A namespace on the bridge whose eth0 holds `addresses` (IPv6 without DAD): another host on the LAN. */
  host(n: string, addresses: readonly string[]): { ns: string; mac: string };
  /** Removes `name` at close(): a link the test made itself. */
  track(link: string): void;
  /** The MAC of eth0 in namespace `ns`. */
  macOf(ns: string): string;
  close(): void;
}

/** Creates the bridge; `prefix` (3 characters) starts every name. */
export function createTestLan(prefix: string): TestLan {
  const tag = (process.pid % 10000).toString(36);
  const bridge = `${prefix}b${tag}`;
  const namespaces = new Set<string>();
  const links = new Set<string>([bridge]);
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('link', 'set', bridge, 'up');
  const lan: TestLan = {
    bridge,
    tag,
    ns(n) {
      const name = `${prefix}-${tag}-${n}`;
      ip('netns', 'add', name);
      namespaces.add(name);
      return name;
    },
    host(n, addresses) {
      const ns = lan.ns(n);
      const veth = `${prefix}h${tag}${n}`.slice(0, 15);
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      links.add(veth);
      ip('link', 'set', veth, 'master', bridge, 'up');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      for (const a of addresses) ip('-n', ns, 'addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : []));
      return { ns, mac: lan.macOf(ns) };
    },
    track: (link) => void links.add(link),
    macOf(ns) {
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(ip('-n', ns, 'link', 'show', 'eth0'))?.[1];
      assert.ok(mac, `eth0 in ${ns} has a MAC`);
      return mac;
    },
    close() {
      for (const n of namespaces) ipQuiet('netns', 'del', n);
      for (const l of links) ipQuiet('link', 'del', l);
    },
  };
  return lan;
}
