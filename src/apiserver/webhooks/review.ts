// The AdmissionReview a webhook is sent and how its answer is read, as the
// real server does it (CreateV1AdmissionReview, VerifyAdmissionResponse,
// ToStatusErr): the request's fields, the checks on the response (its uid,
// and for v1 its apiVersion and kind; a validating webhook may not patch),
// and the Status a denial becomes.
import { randomUUID } from 'node:crypto';
import type { AdmissionAttributes } from '../admission.ts';
import { ApiError, type StatusObject } from '../status.ts';
import { REVIEW_VERSIONS } from './configuration.ts';
import { admissionNamespace } from './match.ts';

/** What a webhook answered, once its envelope checked out. */
export interface ReviewResult {
  readonly allowed: boolean;
  readonly status?: Partial<StatusObject>;
  readonly warnings: readonly string[];
}

/** A review to send: its uid, the version the webhook is sent, the body. */
export interface Review {
  readonly uid: string;
  readonly version: string;
  readonly body: string;
}

/** The first version in the webhook's list this server speaks; undefined if none. */
export function reviewVersion(accepted: readonly string[] | undefined): string | undefined {
  return (accepted ?? []).find((v) => REVIEW_VERSIONS.includes(v));
}

export function createReview(a: AdmissionAttributes, version: string): Review {
  const uid = randomUUID();
  const kind = { group: a.spec.group, version: a.spec.version, kind: a.spec.kind };
  const resource = { group: a.spec.group, version: a.spec.version, resource: a.spec.plural };
  const userInfo: Record<string, unknown> = { username: a.user.username };
  if (a.user.uid) userInfo['uid'] = a.user.uid;
  if (a.user.groups.length) userInfo['groups'] = a.user.groups;
  const request: Record<string, unknown> = { uid, kind, resource, requestKind: kind, requestResource: resource, name: a.name };
  if (a.subresource) Object.assign(request, { subResource: a.subresource, requestSubResource: a.subresource });
  const namespace = admissionNamespace(a);
  if (namespace) request['namespace'] = namespace;
  Object.assign(request, { operation: a.operation, userInfo, object: a.object ?? null, oldObject: a.oldObject ?? null, dryRun: false, options: a.options ?? null });
  return { uid, version, body: JSON.stringify({ apiVersion: `admission.k8s.io/${version}`, kind: 'AdmissionReview', request }) };
}

/** Checks a decoded response against the review sent; throws the real server's reason when it does not check out. */
export function verifyResponse(review: Review, decoded: unknown): ReviewResult {
  const r = (decoded ?? {}) as { apiVersion?: unknown; kind?: unknown; response?: Record<string, unknown> | null };
  const response = r.response;
  if (!response) throw new Error('webhook response was absent');
  // A v1beta1 answer was never checked for its uid or type.
  if (review.version === 'v1') {
    if (response['uid'] !== review.uid) throw new Error(`expected response.uid=${JSON.stringify(review.uid)}, got ${JSON.stringify(String(response['uid'] ?? ''))}`);
    if (r.apiVersion !== 'admission.k8s.io/v1' || r.kind !== 'AdmissionReview') {
      const [group, version] = typeof r.apiVersion === 'string' && r.apiVersion.includes('/') ? r.apiVersion.split('/') : ['', String(r.apiVersion ?? '')];
      throw new Error(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${group}/${version}, Kind=${String(r.kind ?? '')}`);
    }
    if (response['patch'] !== undefined && response['patch'] !== null && response['patch'] !== '') throw new Error('validating webhook may not return response.patch');
    if (response['patchType'] !== undefined && response['patchType'] !== null) throw new Error('validating webhook may not return response.patchType');
  }
  const warnings = Array.isArray(response['warnings']) ? response['warnings'].map(String) : [];
  const status = response['status'] as Partial<StatusObject> | undefined;
  return { allowed: response['allowed'] === true, ...(status ? { status } : {}), warnings };
}

/** A webhook's rejection as the real server words it: code defaults to 403, reason is the webhook's own. */
export function denial(name: string, status: Partial<StatusObject> | undefined): ApiError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const code = typeof status?.code === 'number' && status.code >= 400 ? status.code : 403;
  const message = status?.message ? `${deniedBy}: ${status.message}` : status?.reason ? `${deniedBy}: ${status.reason}` : `${deniedBy} without explanation`;
  const s: StatusObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (status?.reason) s.reason = status.reason;
  if (status?.details) s.details = status.details;
  return new ApiError(s);
}
