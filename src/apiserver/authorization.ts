// The pipeline's authorization stage: may this user do this? Servers allow
// everything by default; a server with authentication gives anonymous
// requests only the public health and version paths, as a cluster with only
// its bootstrap roles does. RBAC from stored Roles and bindings is another
// Authorizer.
import type { Awaitable } from './awaitable.ts';
import type { UserInfo } from './authentication.ts';
import type { RequestInfo } from './request-info.ts';
import { failure, type ApiError } from './status.ts';

/** What an authorizer decides from: the user and the request's RequestInfo. */
export interface AuthorizationAttributes {
  readonly user: UserInfo;
  readonly info: RequestInfo;
}

export type Decision = { readonly allowed: true } | { readonly allowed: false; readonly reason?: string };

export type Authorizer = (a: AuthorizationAttributes) => Awaitable<Decision>;

export const allowAll: Authorizer = () => ({ allowed: true });

/** Paths every client may read, even unauthenticated (the system:public-info-viewer role). */
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

/** Anonymous requests may read only the public paths; every authenticated user may do anything. */
export const anonymousPublicOnly: Authorizer = ({ user, info }) =>
  user.username !== 'system:anonymous' || (!info.isResourceRequest && PUBLIC_PATHS.has(info.path)) ? { allowed: true } : { allowed: false };

/** The 403 for a refused request, worded as the test server has always worded it. */
export function forbiddenError(a: AuthorizationAttributes, reason?: string): ApiError {
  const { user, info } = a;
  const why = reason ? `: ${reason}` : '';
  if (!info.isResourceRequest) return failure(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${info.verb ?? ''} path "${info.path}"${why}`);
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  const qualified = info.apiGroup ? `${resource}.${info.apiGroup}` : resource;
  const scope = info.namespace !== undefined ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
  return failure(403, 'Forbidden', `${qualified} is forbidden: User "${user.username}" cannot ${info.verb ?? ''} resource "${resource}" in API group "${info.apiGroup}" ${scope}${why}`);
}
