// How the server reaches a webhook, as the real one does: `url`, or
// `service` as https://<name>.<namespace>.svc:<port><path>, with `?timeout=`
// the call's deadline; TLS verified against the configuration's caBundle
// (the system's roots when it is empty) under that host name; and failures
// worded as the real server's Go client words them, since they end up in
// the message tidepool's users read. Where a Service is reached is the host's
// business (the real server's ServiceResolver): the test server maps a
// Service to an address on loopback; without a mapping the name does not
// resolve.
import { X509Certificate } from 'node:crypto';
import { Agent, request } from 'node:https';
import { isIP } from 'node:net';
import type { ValidatingWebhook } from './configuration.ts';

/** Where a Service's port is served: host and port, or undefined when nothing serves it. */
export type ServiceResolver = (namespace: string, name: string, port: number) => { readonly host: string; readonly port: number } | undefined;

/** A webhook's endpoint, resolved. */
export interface WebhookTarget {
  /** The URL as the real server names it in errors. */
  readonly url: string;
  /** Where to connect, or why nothing can be. */
  readonly connect: { readonly host: string; readonly port: number } | { readonly error: string };
  /** The name the serving certificate must be valid for. */
  readonly servername: string;
  /** PEM certificates the serving certificate must chain to; undefined: the system's roots. */
  readonly ca: string | undefined;
  readonly path: string;
}

export function resolveTarget(hook: ValidatingWebhook, resolveService: ServiceResolver): WebhookTarget {
  const cc = hook.clientConfig;
  const timeout = `?timeout=${hook.timeoutSeconds ?? 10}s`;
  const ca = cc.caBundle ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined;
  if (cc.service) {
    const { namespace = '', name = '', port = 443, path = '' } = cc.service;
    const servername = `${name}.${namespace}.svc`;
    const at = resolveService(namespace, name, port);
    const connect = at ?? { error: `dial tcp: lookup ${servername}: no such host` };
    return { url: `https://${servername}:${port}${path}${timeout}`, connect, servername, ca, path: `${path || '/'}${timeout}` };
  }
  const u = new URL(cc.url ?? '');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { url: `${u.origin}${u.pathname}${timeout}`, connect: { host, port: Number(u.port || 443) }, servername: host, ca, path: `${u.pathname}${timeout}` };
}

const UNKNOWN_AUTHORITY = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE']);

/** Node's connection and TLS errors in the words of the real server's Go client. */
function goError(e: NodeJS.ErrnoException & { cert?: { subjectaltname?: string } }, target: WebhookTarget): string {
  const code = e.code ?? '';
  const verify = 'tls: failed to verify certificate: x509: ';
  if (UNKNOWN_AUTHORITY.has(code)) return `${verify}certificate signed by unknown authority`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `${verify}certificate has expired or is not yet valid`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const ip = isIP(target.servername) !== 0;
    const names = (e.cert?.subjectaltname ?? '').split(', ').filter((n) => n.startsWith(ip ? 'IP Address:' : 'DNS:')).map((n) => n.replace(/^(IP Address|DNS):/, ''));
    return `${verify}certificate is valid for ${names.join(', ')}, not ${target.servername}`;
  }
  if (code === 'ECONNREFUSED' && 'host' in target.connect) return `dial tcp ${target.connect.host}:${target.connect.port}: connect: connection refused`;
  return e.message;
}

/** A transport failure: the request never got an HTTP answer. */
export class CallError extends Error {}

/** POSTs `body` and resolves with the HTTP answer; rejects with a CallError worded as the real server's. */
export function post(agent: Agent, target: WebhookTarget, body: string, timeoutMs: number): Promise<{ status: number; contentType: string; text: string }> {
  return new Promise((resolve, reject) => {
    if ('error' in target.connect) return reject(new CallError(target.connect.error));
    const { host, port } = target.connect;
    const sni = isIP(target.servername) === 0 ? { servername: target.servername } : {};
    const headers = { 'content-type': 'application/json', accept: 'application/json, */*', 'content-length': Buffer.byteLength(body) };
    const req = request({ host, port, path: target.path, method: 'POST', agent, headers, ...sni, ...(target.ca ? { ca: target.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (e) => reject(new CallError(goError(e, target))));
    });
    const timer = setTimeout(() => req.destroy(new CallError('context deadline exceeded')), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e instanceof CallError ? e : new CallError(goError(e, target)));
    });
    req.end(body);
  });
}

/** Whether `pem` holds at least one certificate Node can read; a bundle that holds none trusts nothing. */
export function readableBundle(pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.some((b) => {
    try {
      new X509Certificate(b);
      return true;
    } catch {
      return false;
    }
  });
}
