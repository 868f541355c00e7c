/**
 * Test support only (never imported by main.ts): a stand-in for the agent's
 * HTTP API on a temporary unix socket, scripted per path, recording each request.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeReply {
  readonly status?: number;
  readonly body?: unknown;
  /** Raw bytes written to the socket instead of an HTTP response. */
  readonly raw?: string;
  /** Milliseconds to wait before answering. */
  readonly delayMs?: number;
  /** Send the body with Transfer-Encoding: chunked, split in pieces. */
  readonly chunked?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export type FakeHandler = (body: unknown, request: RecordedRequest) => FakeReply;

export interface FakeAgent {
  readonly socket: string;
  readonly requests: RecordedRequest[];
  /** Replaces the handler of one path; unhandled paths answer 404 NOT_FOUND. */
  on(path: string, handler: FakeHandler): void;
  close(): Promise<void>;
}

export async function createFakeAgent(handlers: Record<string, FakeHandler> = {}): Promise<FakeAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cni-'));
  const socket = join(dir, 'agent.sock');
  const table = new Map(Object.entries(handlers));
  const requests: RecordedRequest[] = [];

  const respond = (res: ServerResponse, reply: FakeReply): void => {
    if (reply.raw !== undefined) {
      res.socket?.end(reply.raw);
      return;
    }
    const text = JSON.stringify(reply.body ?? {});
    if (reply.chunked) {
      res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      const mid = Math.floor(text.length / 2);
      res.write(text.slice(0, mid));
      res.end(text.slice(mid));
      return;
    }
    res.writeHead(reply.status ?? 200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = text;
      }
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const handler = table.get(recorded.path);
      const reply: FakeReply = handler
        ? handler(body, recorded)
        : { status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${recorded.path}` } } };
      if (reply.delayMs) setTimeout(() => respond(res, reply), reply.delayMs);
      else respond(res, reply);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });

  return {
    socket,
    requests,
    on(path, handler) {
      table.set(path, handler);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
