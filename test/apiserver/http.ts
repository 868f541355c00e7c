// The HTTP transport: puts the router behind HTTP/1.1 (or HTTPS) on
// loopback, so @kubernetes/client-node, kubectl and raw HTTP clients can be
// used against it unchanged. It maps the wire onto ApiRequest and
// ApiResult back onto the wire, and owns what only a connection has: body
// size limits, watch streams and their timeouts, broken connections.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { isPromise } from '../../src/apiserver/awaitable.ts';
import { JSON_HEADERS, type ApiRequest, type ApiResult, type WatchResponse } from '../../src/apiserver/request.ts';
import type { Router } from '../../src/apiserver/router.ts';
import { failure, type ApiError } from '../../src/apiserver/status.ts';

const MAX_BODY = 3 * 1024 * 1024;

export interface HttpFrontOptions {
  /** TCP port on 127.0.0.1; 0 for any free one. */
  readonly port: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Told of every answer sent (not of requests that got none). */
  readonly onReply?: (req: ApiRequest, status: number, body: unknown) => void;
}

export interface HttpFront {
  readonly url: string;
  readonly port: number;
  /** Ends every open watch, cleanly or by destroying its connection; returns how many. */
  dropWatches(abrupt: boolean): number;
  watchCount(): number;
  close(): Promise<void>;
}

interface OpenWatch {
  end(abrupt: boolean): void;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function toApiRequest(req: IncomingMessage, body: Buffer): ApiRequest {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const r: { -readonly [K in keyof ApiRequest]: ApiRequest[K] } = {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    contentType: (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
    body: { bytes: body },
  };
  if (req.headers.authorization !== undefined) r.authorization = req.headers.authorization;
  if (req.headers.accept !== undefined) r.accept = req.headers.accept;
  if (req.headers['user-agent'] !== undefined) r.userAgent = req.headers['user-agent'];
  return r;
}

/** Serves `router` over HTTP(S) on 127.0.0.1. */
export async function serveHttp(router: Router, opts: HttpFrontOptions): Promise<HttpFront> {
  const watches = new Set<OpenWatch>();
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  function send(req: ApiRequest, res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, body: unknown): void {
    const text = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    opts.onReply?.(req, status, body);
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  function stream(req: ApiRequest, res: ServerResponse, w: WatchResponse): void {
    opts.onReply?.(req, w.status, undefined);
    res.writeHead(w.status, w.headers);
    res.flushHeaders();
    const started = w.start({ write: (line) => void res.write(line) });
    if (!started) return void res.end();
    let timer: NodeJS.Timeout | undefined;
    const open: OpenWatch = {
      end(abrupt) {
        started.stop();
        if (timer) clearTimeout(timer);
        watches.delete(open);
        if (abrupt) res.socket?.destroy();
        else if (!res.writableEnded) res.end();
      },
    };
    watches.add(open);
    if (w.timeoutMs !== undefined) timer = setTimeout(() => open.end(false), w.timeoutMs);
    // The response's close covers both a client that goes away and our own end().
    res.on('close', () => open.end(false));
  }

  function answer(req: ApiRequest, httpReq: IncomingMessage, res: ServerResponse, result: ApiResult): void {
    if (result.kind === 'response') return send(req, res, result.status, result.headers, result.body);
    if (result.kind === 'watch') return stream(req, res, result);
    if (result.how === 'reset') return void httpReq.socket.destroy();
    hanging.add(res);
    res.on('close', () => hanging.delete(res));
  }

  async function handle(httpReq: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(httpReq);
    } catch (e) {
      const status = (e as ApiError).status;
      return send(toApiRequest(httpReq, Buffer.alloc(0)), res, status.code, JSON_HEADERS, status);
    }
    const req = toApiRequest(httpReq, body);
    const result = router.handle(req);
    answer(req, httpReq, res, isPromise(result) ? await result : result);
  }

  const onRequest = (httpReq: IncomingMessage, res: ServerResponse): void => {
    handle(httpReq, res).catch(() => res.destroy());
  };
  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : createHttpServer(onRequest);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let closed = false;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    dropWatches(abrupt) {
      const all = [...watches];
      for (const w of all) w.end(abrupt);
      return all.length;
    },
    watchCount: () => watches.size,
    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...watches]) w.end(false);
      for (const res of hanging) res.destroy();
      hanging.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
