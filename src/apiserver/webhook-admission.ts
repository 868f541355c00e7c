// Validating admission webhooks, an admission plugin: it POSTs an
// admission.k8s.io/v1 AdmissionReview to each matching webhook and turns
// denials and call failures into the same Status errors the real API server
// returns, so tidepool's webhook server can be tested end to end.
import { randomUUID } from 'node:crypto';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AdmissionAttributes, AdmissionOperation, AdmissionPlugin } from './admission.ts';
import type { StatusObject } from './status.ts';
import { ApiError, internalError } from './status.ts';

/** One rule of a webhook (RuleWithOperations), with the real API's wildcards: `*` for every main resource, `pods/status` or `*\/status` style for subresources. */
export interface AdmissionRule {
  groups: string[];
  resources: string[];
  operations: (AdmissionOperation | '*')[];
  apiVersions?: string[];
}

/** A validating webhook, as in a ValidatingWebhookConfiguration but with a plain URL client config. */
export interface AdmissionWebhook {
  name: string;
  rules: AdmissionRule[];
  /** http(s) URL the AdmissionReview is POSTed to; https certificates are not verified. */
  url: string;
  /** Default `Fail`, as in admissionregistration.k8s.io/v1. */
  failurePolicy?: 'Fail' | 'Ignore';
  /** Default 10, as in admissionregistration.k8s.io/v1. */
  timeoutSeconds?: number;
}

function ruleMatches(rule: AdmissionRule, a: AdmissionAttributes): boolean {
  const any = (list: string[] | undefined, v: string): boolean => list === undefined || list.includes('*') || list.includes(v);
  if (!rule.operations.includes('*') && !rule.operations.includes(a.operation)) return false;
  if (!any(rule.groups, a.spec.group)) return false;
  if (!any(rule.apiVersions, a.spec.version)) return false;
  const resource = a.subresource ? `${a.spec.plural}/${a.subresource}` : a.spec.plural;
  return rule.resources.some((r) => {
    if (r === '*/*') return true;
    if (a.subresource) return r === resource || r === `*/${a.subresource}` || r === `${a.spec.plural}/*`;
    return r === '*' || r === resource;
  });
}

/** Webhooks whose rules select this request. */
export function matchingWebhooks(hooks: readonly AdmissionWebhook[], a: AdmissionAttributes): AdmissionWebhook[] {
  return hooks.filter((h) => h.rules.some((r) => ruleMatches(r, a)));
}

interface ReviewResponse {
  uid?: string;
  allowed?: boolean;
  status?: Partial<StatusObject>;
}

/** The webhook plugin; `close` ends its kept-alive connections. */
export interface WebhookAdmission extends AdmissionPlugin {
  close(): void;
}

/**
 * Calls the webhooks `hooks()` returns at the time of each request. Requests
 * no webhook selects are admitted at once, without waiting. Connections are
 * kept alive across requests.
 */
export function createWebhookAdmission(hooks: () => readonly AdmissionWebhook[]): WebhookAdmission {
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true, rejectUnauthorized: false });

  function post(url: URL, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: isHttps ? httpsAgent : httpAgent,
          headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
          ...(isHttps ? { rejectUnauthorized: false } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
        },
      );
      const timer = setTimeout(() => req.destroy(new Error('context deadline exceeded')), timeoutMs);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });
  }

  async function call(hook: AdmissionWebhook, a: AdmissionAttributes): Promise<ApiError | undefined> {
    const uid = randomUUID();
    const gvk = { group: a.spec.group, version: a.spec.version, kind: a.spec.kind };
    const gvr = { group: a.spec.group, version: a.spec.version, resource: a.spec.plural };
    const request: Record<string, unknown> = {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name: a.name,
      operation: a.operation,
      userInfo: a.user,
      object: a.object ?? null,
      oldObject: a.oldObject ?? null,
      dryRun: false,
      options: a.options ?? null,
    };
    if (a.subresource) {
      request['subResource'] = a.subresource;
      request['requestSubResource'] = a.subresource;
    }
    if (a.namespace) request['namespace'] = a.namespace;
    const review = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
    const timeoutMs = (hook.timeoutSeconds ?? 10) * 1000;
    let response: ReviewResponse;
    try {
      const url = new URL(hook.url);
      const r = await post(url, review, timeoutMs);
      if (r.status < 200 || r.status >= 300) throw new Error(`received status code ${r.status}`);
      const parsed = JSON.parse(r.text) as { response?: ReviewResponse };
      if (!parsed.response) throw new Error('webhook response was absent');
      response = parsed.response;
      if (response.uid !== uid) throw new Error(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(response.uid)}`);
    } catch (e) {
      if ((hook.failurePolicy ?? 'Fail') === 'Ignore') return undefined;
      return internalError(`failed calling webhook "${hook.name}": failed to call webhook: Post "${hook.url}": ${(e as Error).message}`);
    }
    if (response.allowed) return undefined;
    return denial(hook.name, response.status);
  }

  async function callAll(selected: readonly AdmissionWebhook[], a: AdmissionAttributes): Promise<void> {
    // The real server calls validating webhooks in parallel.
    const results = await Promise.all(selected.map((h) => call(h, a)));
    const err = results.find((r) => r !== undefined);
    if (err) throw err;
  }

  return {
    name: 'ValidatingAdmissionWebhook',
    validate(a) {
      const selected = matchingWebhooks(hooks(), a);
      return selected.length === 0 ? undefined : callAll(selected, a);
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** A webhook's rejection as the real server words it: code defaults to 403, reason is the webhook's own. */
function denial(name: string, status: Partial<StatusObject> | undefined): ApiError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const code = typeof status?.code === 'number' && status.code >= 400 ? status.code : 403;
  const message = status?.message ? `${deniedBy}: ${status.message}` : status?.reason ? `${deniedBy}: ${status.reason}` : `${deniedBy} without explanation`;
  const s: StatusObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (status?.reason) s.reason = status.reason;
  if (status?.details) s.details = status.details;
  return new ApiError(s);
}
