import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/logger.ts';
import type { ControllerMetrics } from './metrics.ts';
import { admissionAllocationsPool, admissionNeedsPools, parseAdmissionReview, planAdmission, planAdmissionResponse, type AdmissionDecision } from './webhook-plan.ts';

/** The path the ValidatingWebhookConfiguration calls. */
export const WEBHOOK_PATH = '/validate';
// The API server never sends more than its own request limit plus the review envelope.
const MAX_BODY = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  readonly listen: { readonly host: string; readonly port: number };
  readonly certPem: string;
  readonly keyPem: string;
  /**
   * Every IPPool object. A consistent read rather than a cache: two pools
   * created one right after the other must see each other, and a cache may
   * not have caught up with the first yet.
   */
  readonly readPools: () => Promise<readonly unknown[]>;
  /** The IPAllocation objects of one pool, read the same way. */
  readonly readAllocations: (pool: string) => Promise<readonly unknown[]>;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
}

export interface WebhookServer {
  /** `host:port` actually bound (the port is known only after listening on 0). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

class BadRequest extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BadRequest(`body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Serves `POST /validate` (admission.k8s.io/v1 AdmissionReview) over HTTPS.
 * Decisions are webhook-plan.ts's; this layer reads the request, gathers
 * the pools and allocations a decision needs, and answers. A failure to
 * read them refuses the request: letting an unchecked pool through is the
 * one outcome the webhook exists to prevent.
 */
export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const { log, metrics } = opts;

  async function decide(body: string): Promise<{ status: number; body: unknown }> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new BadRequest('body is not JSON');
    }
    const req = parseAdmissionReview(parsed);
    if (typeof req === 'string') throw new BadRequest(req);
    const resource = req.resource.resource + (req.subResource ? `/${req.subResource}` : '');
    let decision: AdmissionDecision;
    let checked = true;
    try {
      const pool = admissionAllocationsPool(req);
      const [pools, allocations] = await Promise.all([admissionNeedsPools(req) ? opts.readPools() : [], pool === undefined ? undefined : opts.readAllocations(pool)]);
      decision = planAdmission(req, { pools, ...(allocations === undefined ? {} : { allocations }) });
    } catch (err) {
      const message = `tidepool could not check this change: ${err instanceof Error ? err.message : String(err)}; try again`;
      log.warn('admission review failed', { resource, operation: req.operation, name: req.name, err: message });
      decision = { allowed: false, code: 503, reason: 'ServiceUnavailable', message };
      checked = false;
    }
    metrics.webhookRequest(resource, req.operation, !checked ? 'error' : decision.allowed ? 'allowed' : 'denied');
    if (decision.allowed) log.debug('admission allowed', { resource, operation: req.operation, name: req.name });
    else log.info('admission denied', { resource, operation: req.operation, name: req.name, message: decision.message });
    return { status: 200, body: planAdmissionResponse(req.uid, decision) };
  }

  const server: Server = createServer({ cert: opts.certPem, key: opts.keyPem }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WEBHOOK_PATH) return send(res, 404, { error: `not found: ${path}; the webhook is POST ${WEBHOOK_PATH}` });
    if (req.method !== 'POST') return send(res, 405, { error: `${req.method} not allowed; the webhook is POST ${WEBHOOK_PATH}` });
    readBody(req)
      .then(decide)
      .then(
        (r) => send(res, r.status, r.body),
        (err: unknown) => {
          // Nothing of the review could be read: its resource and operation are unknown.
          metrics.webhookRequest('unknown', 'unknown', 'error');
          if (err instanceof BadRequest) return send(res, 400, { error: `malformed AdmissionReview: ${err.message}` });
          log.error('webhook request failed', { err });
          return send(res, 500, { error: 'internal error' });
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen.port, opts.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    port: a.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
