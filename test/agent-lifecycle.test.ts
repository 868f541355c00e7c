// The agent as a real process when it is stopped, and when its clients hang up.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PLUGIN_DIR, poolYaml, startAgent, type AgentProcess } from './helpers/agent-process.ts';
import { execPlugin } from './helpers/netns.ts';

// One IP, so a second ADD finds the pool full and waits (--exhausted-wait).
const ONE = poolYaml('one', { subnet: '10.31.0.0/24', ips: ['10.31.0.10'] });
// The agent's own namespace, as it resolves the path: a real namespace without root or `ip netns`.
const NETNS = '/proc/self/ns/net';

/** A raw connection to the agent: what it received, and a promise of its closing. */
async function open(socket: string): Promise<{ conn: Socket; received: () => string; closed: Promise<void>; waitFor: (text: string) => Promise<void> }> {
  const conn = connect(socket);
  let received = '';
  const listeners = new Set<() => void>();
  conn.on('data', (c: Buffer) => {
    received += c.toString();
    for (const l of listeners) l();
  });
  conn.on('error', () => {});
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  return {
    conn,
    received: () => received,
    closed,
    waitFor: (text) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => received.includes(text) && resolve();
          listeners.add(check);
          check();
        }),
        `the agent to send ${JSON.stringify(text)} (received ${JSON.stringify(received)})`,
      ),
  };
}

/** Fails after a generous 60 s instead of hanging the run. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after 60 s waiting for ${what}`)), 60_000)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A request the agent is in the middle of reading: the headers ask for
 * `100 Continue`, which Node sends as it hands the request to the handler,
 * so once it arrives the handler is certainly running; the body never ends.
 */
async function busyConnection(agent: AgentProcess) {
  const c = await open(agent.socket);
  c.conn.write('POST /v1/allocate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
  await c.waitFor('HTTP/1.1 100 Continue\r\n\r\n');
  c.conn.write('{"containerId"');
  return c;
}

/** Waits (up to 60 s) until `count` log lines match. */
async function linesMatching(agent: AgentProcess, match: RegExp, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (agent.logs.filter((l) => match.test(l)).length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} log lines match ${match} after 60 s; the agent's log:\n${agent.logs.join('\n')}`);
    await delay(20);
  }
}

const errorLines = (agent: AgentProcess) => agent.logs.filter((l) => /"level":"error"/.test(l));

describe('graceful stop', () => {
  test('SIGTERM: waiting ADDs get AGENT_STOPPING, new connections are refused, idle ones closed, and the agent exits 0', async () => {
    const agent = await startAgent({ pools: ONE, args: ['--gc-interval', '1h', '--exhausted-wait', '8s', '--shutdown-timeout', '50s', '--log-level', 'debug'] });
    try {
      assert.equal((await agent.call('POST', '/v1/allocate', { containerId: 'holder', ifname: 'eth0', netns: '', ipv4Pools: ['one'] })).status, 200);
      // An idle keep-alive connection, as a CLI or a monitoring probe leaves behind.
      const idle = await open(agent.socket);
      idle.conn.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
      await idle.waitFor('{"ok":true}');

      // Two ADDs waiting for the full pool: one through the plugin binary, then (quicker to send) one over HTTP.
      const viaPlugin = execPlugin(
        join(PLUGIN_DIR, 'tidepool'),
        { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'waiter-cni', CNI_IFNAME: 'eth0', CNI_NETNS: NETNS },
        { cniVersion: '1.0.0', name: 'n', ipam: { type: 'tidepool', socket: agent.socket, ipv4Pools: ['one'] } },
      );
      await agent.waitForLog(/pools full: waiting.*"containerId":"waiter-cni"/);
      const viaHttp = agent.call('POST', '/v1/allocate', { containerId: 'waiter-http', ifname: 'eth0', netns: '', ipv4Pools: ['one'] });
      await agent.waitForLog(/pools full: waiting.*"containerId":"waiter-http"/);

      agent.proc.kill('SIGTERM');
      // Without the cut, these would be POOL_EXHAUSTED 8 s later, or a broken connection.
      const http = await viaHttp;
      assert.equal(http.status, 503, JSON.stringify(http.body));
      assert.equal(http.body.error.code, 'AGENT_STOPPING');
      assert.match(http.body.error.message, /^the tidepool agent is stopping: no free IPv4 address in pool "one" and it cannot wait for one to come free; try again$/);
      assert.equal(http.headers['connection'], 'close', 'the last answer on its connection');
      const cni = await viaPlugin;
      assert.equal(cni.code, 1, cni.stdout + cni.stderr);
      assert.equal(cni.json?.code, 11, cni.stdout);
      assert.match(cni.json.details, /^AGENT_STOPPING /);
      assert.match(cni.json.msg, /agent is stopping/);

      // The listener closed before those answers went out: a new client finds no agent.
      const refused = await new Promise<string | undefined>((resolve) => {
        const c = connect(agent.socket);
        c.once('connect', () => (c.destroy(), resolve(undefined)));
        c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
      });
      assert.ok(refused === 'ENOENT' || refused === 'ECONNREFUSED', `a connection after the signal: ${refused ?? 'accepted'}`);

      await within(idle.closed, 'the agent to close the idle keep-alive connection');
      assert.equal(await agent.exited(), 0);
      assert.ok(agent.logs.some((l) => /"msg":"tidepool agent stopping".*"signal":"SIGTERM"/.test(l)), agent.logs.join('\n'));
      assert.ok(agent.logs.some((l) => /"msg":"tidepool agent stopped"/.test(l)), agent.logs.join('\n'));
      assert.ok(!agent.logs.some((l) => /still in flight at the shutdown timeout/.test(l)), 'nothing was left to cut at the bound');
      assert.deepEqual(errorLines(agent), []);
    } finally {
      await agent.cleanup();
    }
  });

  test('a request still busy at --shutdown-timeout has its connection closed, and the agent exits 0', async () => {
    const agent = await startAgent({ pools: ONE, args: ['--gc-interval', '1h', '--shutdown-timeout', '1s'] });
    try {
      const busy = await busyConnection(agent);
      agent.proc.kill('SIGTERM');
      assert.equal(await agent.exited(), 0);
      await within(busy.closed, 'the busy connection to be closed');
      assert.equal(busy.received(), 'HTTP/1.1 100 Continue\r\n\r\n', 'no answer: it never sent its body');
      assert.ok(agent.logs.some((l) => /"level":"warn".*still in flight at the shutdown timeout.*"connections":1/.test(l)), agent.logs.join('\n'));
      assert.ok(agent.logs.some((l) => /"msg":"tidepool agent stopped"/.test(l)), agent.logs.join('\n'));
    } finally {
      await agent.cleanup();
    }
  });

  test('a second SIGTERM during the drain exits at once', async () => {
    const agent = await startAgent({ pools: ONE, args: ['--gc-interval', '1h', '--shutdown-timeout', '10m'] });
    try {
      await busyConnection(agent);
      agent.proc.kill('SIGTERM');
      await agent.waitForLog(/"msg":"tidepool agent stopping"/);
      agent.proc.kill('SIGTERM');
      // Well inside the 10 minute drain; agent.exited() gives up after 60 s.
      assert.equal(await agent.exited(), 1);
      assert.ok(agent.logs.some((l) => /"level":"warn".*second signal during the graceful stop: exiting at once/.test(l)), agent.logs.join('\n'));
    } finally {
      await agent.cleanup();
    }
  });
});

describe('client hang-ups', () => {
  test('a client that hangs up before or while the agent answers is one debug line, never an error, and the agent keeps serving', async () => {
    const agent = await startAgent({ pools: ONE, args: ['--gc-interval', '1h', '--exhausted-wait', '1s', '--log-level', 'debug'] });
    try {
      assert.equal((await agent.call('POST', '/v1/allocate', { containerId: 'holder', ifname: 'eth0', netns: '', ipv4Pools: ['one'] })).status, 200);

      // Half a request line.
      const half = await open(agent.socket);
      half.conn.write('POST /v1/allocate HTT');
      half.conn.destroy();
      await agent.waitForLog(/"msg":"connection closed before a complete request"/);

      // Headers and part of the body: the handler is reading it.
      const reading = await busyConnection(agent);
      reading.conn.destroy();

      // A whole request, then gone while the ADD waits for a free IP.
      const waiting = await open(agent.socket);
      const body = JSON.stringify({ containerId: 'gone', ifname: 'eth0', netns: '', ipv4Pools: ['one'] });
      waiting.conn.write(`POST /v1/allocate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      await agent.waitForLog(/pools full: waiting.*"containerId":"gone"/);
      waiting.conn.destroy();

      // Both handlers end (the second when its 1 s wait runs out) with nobody to answer.
      await linesMatching(agent, /"msg":"request".*"status":499/, 2);
      const closedLines = agent.logs.filter((l) => /connection closed before/.test(l));
      assert.equal(closedLines.length, 3, closedLines.join('\n'));
      for (const l of closedLines) {
        assert.match(l, /"level":"debug"/);
        assert.doesNotMatch(l, /stack/);
      }
      assert.equal(agent.logs.filter((l) => /"msg":"connection closed before the answer was sent".*"by":"client"/.test(l)).length, 2);
      assert.deepEqual(errorLines(agent), []);
      assert.ok(!agent.logs.some((l) => /"level":"(warn|error)"|stack/.test(l)), agent.logs.join('\n'));

      assert.equal((await agent.call('GET', '/healthz')).status, 200);
      assert.equal((await agent.call('POST', '/v1/release', { containerId: 'holder', ifname: 'eth0' })).body.released.length, 1);
      assert.equal((await agent.call('POST', '/v1/allocate', { containerId: 'after', ifname: 'eth0', netns: NETNS, ipv4Pools: ['one'] })).status, 200);
    } finally {
      await agent.cleanup();
    }
  });
});
