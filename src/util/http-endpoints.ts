import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { TidepoolError } from '../ipam/errors.ts';

/** A TCP listen address from a `HOST:PORT` flag. */
export type Listen = { readonly host: string; readonly port: number };

/** Parses `HOST:PORT` (`[v6]:PORT` too) or `off`; an empty host means `defaultHost`. Errors name `flag`. */
export function parseListen(flag: string, text: string, defaultHost: string): Listen | undefined {
  if (text === 'off') return undefined;
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TidepoolError('INVALID_CONFIG', `${flag}: "${text}" must be HOST:PORT or off`, { field: flag });
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || defaultHost, port };
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (the process answers) and
 * `/readyz` (200 when `ready()`, else 503 with `notReadyText`). A listen
 * failure is an INVALID_CONFIG error naming `flag`.
 */
export async function startMetricsServer(opts: { registry: Registry; listen: Listen; ready: () => boolean; notReadyText: string; flag: string }): Promise<Server> {
  const { registry, listen } = opts;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (req.url === '/readyz') {
      const ok = opts.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : `not ready: ${opts.notReadyText}\n`);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new TidepoolError('INVALID_CONFIG', `${opts.flag} ${listen.host}:${listen.port}: ${err.message}`, { field: opts.flag })));
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}

/** `host:port` of a listening server, IPv6 in brackets. */
export function formatServerAddress(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === 'string') return String(a);
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
