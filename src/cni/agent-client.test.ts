import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TidepoolError } from '../ipam/errors.ts';
import type { ErrorCode } from '../ipam/errors.ts';
import { createAgentClient, parseHttpResponse, planAgentError, planHttpRequest } from './agent-client.ts';
import { createFakeAgent } from '../../test/helpers/fake-agent.ts';

function fails(code: ErrorCode, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TidepoolError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  };
}

const bytes = (s: string) => Buffer.from(s, 'latin1');

test('planHttpRequest writes a complete HTTP/1.1 request with a byte-accurate length', () => {
  const json = '{"name":"é"}';
  assert.equal(
    planHttpRequest('/v1/allocate', json),
    'POST /v1/allocate HTTP/1.1\r\nHost: tidepool\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{"name":"é"}',
  );
});

test('parseHttpResponse reads length-delimited, chunked and close-delimited bodies', () => {
  const cases: Array<[string, string, number, string]> = [
    ['content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}', 200, '{}'],
    ['content-length ignores extra bytes', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}garbage', 200, '{}'],
    ['chunked', 'HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4;ext=1\r\n":1}\r\n0\r\n\r\n', 409, '{"a":1}'],
    ['chunked uppercase hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n', 200, '0123456789'],
    ['until close', 'HTTP/1.0 200 OK\r\n\r\n{"x":true}', 200, '{"x":true}'],
    ['status without reason', 'HTTP/1.1 204\r\n\r\n', 204, ''],
  ];
  for (const [name, raw, status, body] of cases) {
    const r = parseHttpResponse(bytes(raw));
    assert.equal(r.status, status, name);
    assert.equal(r.body, body, name);
  }
  assert.equal(parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"n":"ü€"}')).body, '{"n":"ü€"}');
});

test('parseHttpResponse rejects malformed responses as IO_FAILURE', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /closed without a response/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n', /no end of headers/],
    ['SSH-2.0-OpenSSH\r\n\r\n', /bad status line/],
    ['HTTP/1.1 200 OK\r\nbroken\r\n\r\n', /bad header line "broken"/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}', /body has 2 of 10 bytes/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}', /bad content-length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}', /unsupported transfer-encoding gzip/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size "zz"/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc', /truncated chunk/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n', /truncated chunk size/],
  ];
  for (const [raw, message] of cases) assert.throws(() => parseHttpResponse(bytes(raw)), fails('IO_FAILURE', message), JSON.stringify(raw));
});

test('planAgentError keeps known codes, wraps unknown ones as INTERNAL and survives non-JSON bodies', () => {
  const response = (status: number, body: string) => ({ status, headers: new Map<string, string>(), body });
  const known = planAgentError(response(409, JSON.stringify({ error: { code: 'POOL_EXHAUSTED', message: 'pool blue is full', details: { pool: 'blue' } } })));
  assert.equal(known.code, 'POOL_EXHAUSTED');
  assert.equal(known.message, 'pool blue is full');
  assert.deepEqual(known.details, { pool: 'blue' });

  const unknown = planAgentError(response(500, JSON.stringify({ error: { code: 'NEW_THING', message: 'later code', details: { a: 1 } } })));
  assert.equal(unknown.code, 'INTERNAL');
  assert.deepEqual(unknown.details, { a: 1, agentCode: 'NEW_THING' });

  const noMessage = planAgentError(response(404, JSON.stringify({ error: { code: 'UNKNOWN_CONTAINER' } })));
  assert.equal(noMessage.message, 'agent error UNKNOWN_CONTAINER');

  const html = planAgentError(response(502, '<html>bad gateway</html>'));
  assert.equal(html.code, 'INTERNAL');
  assert.match(html.message, /HTTP 502 without an error body: <html>bad gateway<\/html>/);
});

test('createAgentClient posts JSON and returns the parsed body, plain or chunked', async () => {
  const agent = await createFakeAgent({
    '/v1/echo': (body) => ({ body: { got: body } }),
    '/v1/chunked': () => ({ body: { released: [] }, chunked: true }),
  });
  try {
    const client = createAgentClient({ socket: agent.socket, timeoutMs: 2000 });
    assert.deepEqual(await client.post('/v1/echo', { containerId: 'c', ifname: 'eth0' }), { got: { containerId: 'c', ifname: 'eth0' } });
    assert.deepEqual(await client.post('/v1/chunked', {}), { released: [] });
    const recorded = agent.requests[0];
    assert.equal(recorded?.method, 'POST');
    assert.equal(recorded?.headers['content-type'], 'application/json');
    assert.equal(recorded?.headers['connection'], 'close');
  } finally {
    await agent.close();
  }
});

test('createAgentClient maps error bodies, bad JSON, resets and timeouts', async () => {
  const agent = await createFakeAgent({
    '/v1/full': () => ({ status: 409, body: { error: { code: 'POOL_EXHAUSTED', message: 'pool blue has no free IP' } } }),
    '/v1/notjson': () => ({ raw: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' }),
    '/v1/truncated': () => ({ raw: 'HTTP/1.1 200 OK\r\nContent-Le' }),
    '/v1/slow': () => ({ delayMs: 500, body: {} }),
  });
  try {
    const client = createAgentClient({ socket: agent.socket, timeoutMs: 150 });
    await assert.rejects(client.post('/v1/full', {}), fails('POOL_EXHAUSTED', /pool blue has no free IP/));
    await assert.rejects(client.post('/v1/notjson', {}), fails('IO_FAILURE', /answered \/v1\/notjson with a body that is not JSON/));
    // Part of an answer, then the end: a broken exchange, not a restart.
    await assert.rejects(client.post('/v1/truncated', {}), fails('IO_FAILURE', /malformed HTTP response: no end of headers/));
    await assert.rejects(client.post('/v1/slow', {}), fails('IO_FAILURE', /did not answer within 150 ms/));
    await assert.rejects(client.post('/v1/nowhere', {}), fails('NOT_FOUND', /no route/));
  } finally {
    await agent.close();
  }
});

test('createAgentClient reports an agent that closed the connection without answering as AGENT_STOPPING, retryable', async () => {
  // After reading the request (an agent killed mid-request), and without reading it (an agent closing idle connections as it stops).
  const agent = await createFakeAgent({ '/v1/allocate': () => ({ raw: '' }) });
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cni-'));
  const rude = join(dir, 'rude.sock');
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(rude, resolve));
  try {
    for (const socket of [agent.socket, rude]) {
      await assert.rejects(createAgentClient({ socket, timeoutMs: 5000 }).post('/v1/allocate', {}), (err: unknown) => {
        assert.ok(err instanceof TidepoolError, String(err));
        assert.equal(err.code, 'AGENT_STOPPING', `${socket}: ${err.message}`);
        assert.equal(err.message, `the tidepool agent at ${socket} closed the connection without answering (it is probably restarting); try again`);
        assert.equal(err.spec.cni, 11);
        assert.equal(err.spec.retry, 'later');
        return true;
      });
    }
  } finally {
    server.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('createAgentClient reports a missing socket and a refused one as AGENT_UNREACHABLE naming the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cni-'));
  try {
    const missing = join(dir, 'missing.sock');
    await assert.rejects(createAgentClient({ socket: missing, timeoutMs: 1000 }).post('/v1/status', {}), (err: unknown) => {
      assert.ok(err instanceof TidepoolError);
      assert.equal(err.code, 'AGENT_UNREACHABLE');
      assert.ok(err.message.includes(missing));
      assert.equal(err.details?.['errno'], 'ENOENT');
      return true;
    });

    // A socket file whose listener died without unlinking it, as after a crash.
    const stale = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await new Promise((resolve) => child.on('exit', resolve));
    assert.ok(existsSync(stale));
    await assert.rejects(createAgentClient({ socket: stale, timeoutMs: 1000 }).post('/v1/status', {}), (err: unknown) => {
      assert.ok(err instanceof TidepoolError);
      assert.equal(err.code, 'AGENT_UNREACHABLE');
      assert.equal(err.details?.['errno'], 'ECONNREFUSED');
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
