// SelfSubjectAccessReview and SubjectAccessReview (authorization.k8s.io/v1):
// "may I", and "may this user", answered by the server's own authorizer, as
// `kubectl auth can-i` asks them. They are never stored: a router filter
// answers their create with the review and its status.
import { then, type Awaitable } from '../awaitable.ts';
import type { UserInfo } from '../authentication.ts';
import type { Authorizer, AuthorizationAttributes } from '../authorization.ts';
import { decodeObject } from '../body.ts';
import { builtinKind, isRecord, type KindSpec } from '../kinds.ts';
import { jsonResponse, type ApiResult } from '../request.ts';
import type { RequestInfo } from '../request-info.ts';
import type { Filter, RequestContext } from '../router.ts';
import { invalid, type FieldError } from '../status.ts';

const GROUP = 'authorization.k8s.io';

export function accessReviewKinds(): KindSpec[] {
  return [
    builtinKind({ group: GROUP, version: 'v1', plural: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false }),
    builtinKind({ group: GROUP, version: 'v1', plural: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false }),
  ];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The request a review asks about, as the authorizer would see it. */
function reviewedRequest(spec: Record<string, unknown>): Omit<AuthorizationAttributes, 'user'> {
  const r = isRecord(spec['resourceAttributes']) ? spec['resourceAttributes'] : undefined;
  if (!r) {
    const n = isRecord(spec['nonResourceAttributes']) ? spec['nonResourceAttributes'] : {};
    const info: RequestInfo = { path: str(n['path']), isResourceRequest: false, verb: str(n['verb']), apiGroup: '', apiVersion: '', namespace: undefined, resource: '', name: undefined, subresource: undefined, parts: [] };
    return { info, name: undefined };
  }
  const name = str(r['name']) || undefined;
  const info: RequestInfo = {
    path: '',
    isResourceRequest: true,
    verb: str(r['verb']),
    apiGroup: str(r['group']),
    apiVersion: str(r['version']),
    namespace: str(r['namespace']) || undefined,
    resource: str(r['resource']),
    name,
    subresource: str(r['subresource']) || undefined,
    parts: [],
  };
  return { info, name };
}

function specErrors(spec: Record<string, unknown>, self: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const [res, nonRes] = [spec['resourceAttributes'], spec['nonResourceAttributes']];
  if (res && nonRes) errs.push({ field: 'spec.nonResourceAttributes', type: 'Invalid value', detail: `${JSON.stringify(nonRes)}: cannot be specified in combination with resourceAttributes` });
  if (!res && !nonRes) errs.push({ field: 'spec.resourceAttributes', type: 'Invalid value', detail: 'null: exactly one of nonResourceAttributes or resourceAttributes must be specified' });
  if (!self && !spec['user'] && !(Array.isArray(spec['groups']) && spec['groups'].length))
    errs.push({ field: 'spec.user', type: 'Invalid value', detail: '"": at least one of user or group must be specified' });
  return errs;
}

function review(ctx: RequestContext, authorize: Authorizer): Awaitable<ApiResult> {
  const kind = ctx.target!.kind.spec;
  const self = kind.plural === 'selfsubjectaccessreviews';
  const body = decodeObject(ctx.req, kind);
  const spec = isRecord(body) && isRecord(body['spec']) ? body['spec'] : {};
  const errs = specErrors(spec, self);
  if (errs.length) throw invalid(kind, '', errs);
  const user: UserInfo = self ? ctx.user : { username: str(spec['user']), groups: Array.isArray(spec['groups']) ? spec['groups'].map(String) : [], ...(spec['uid'] ? { uid: str(spec['uid']) } : {}) };
  return then(authorize({ user, ...reviewedRequest(spec) }), (d) => {
    const status: Record<string, unknown> = { allowed: d.allowed };
    if (d.reason) status['reason'] = d.reason;
    return jsonResponse(201, { kind: kind.kind, apiVersion: `${GROUP}/v1`, metadata: { creationTimestamp: null }, spec, status });
  });
}

/** Answers creates of the review kinds with `authorize`'s decision; everything else goes on. */
export function accessReviewFilter(authorize: Authorizer): Filter {
  return (ctx, next) => {
    const spec = ctx.target?.kind.spec;
    if (spec?.group !== GROUP || ctx.info.verb !== 'create' || ctx.target?.subresource) return next();
    return review(ctx, authorize);
  };
}
