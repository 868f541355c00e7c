// The pipeline's authorization stage: may this user do this? Servers allow
// everything by default; servers with authentication plug in RBAC from the
// stored Roles and bindings (rbac/authorizer.ts). Authorizers decide from
// the same attributes the real server's authorizers get, including the name
// a list or watch names through its field selector.
import type { Awaitable } from './awaitable.ts';
import type { UserInfo } from './authentication.ts';
import type { RequestInfo } from './request-info.ts';
import { parseFieldSelector, SelectorError } from './selectors.ts';
import { failure, type ApiError, type StatusDetails } from './status.ts';

/** What an authorizer decides from: the user, the request's RequestInfo, and the object name as authorization sees it. */
export interface AuthorizationAttributes {
  readonly user: UserInfo;
  readonly info: RequestInfo;
  /** The name in the path; for a list or watch, the one an exact `metadata.name` field selector names. */
  readonly name: string | undefined;
}

export type Decision = { readonly allowed: true; readonly reason?: string } | { readonly allowed: false; readonly reason?: string };

export type Authorizer = (a: AuthorizationAttributes) => Awaitable<Decision>;

export const allowAll: Authorizer = () => ({ allowed: true });

/**
 * The attributes the real RequestInfoFactory gives authorizers: a list or
 * watch with a field selector `metadata.name=x` (or `==`) is about object x,
 * so a rule limited by resourceNames can allow it.
 */
export function authorizationAttributes(user: UserInfo, info: RequestInfo, query: URLSearchParams): AuthorizationAttributes {
  if (info.name !== undefined || (info.verb !== 'list' && info.verb !== 'watch')) return { user, info, name: info.name };
  return { user, info, name: selectedName(query.get('fieldSelector') ?? '') };
}

function selectedName(selector: string): string | undefined {
  let terms;
  try {
    terms = parseFieldSelector(selector);
  } catch (e) {
    if (e instanceof SelectorError) return undefined;
    throw e;
  }
  const term = terms.find((t) => t.field === 'metadata.name');
  if (!term || term.op !== '=') return undefined;
  // Only a name that could be a path segment counts, as in the real server.
  return term.value === '' || term.value === '.' || term.value === '..' || /[/%]/.test(term.value) ? undefined : term.value;
}

/**
 * The real server's 403 (ForbiddenStatusError): the resource, qualified by
 * group but without subresource, and the name when there is one; then the
 * user, verb, resource with subresource, group and scope; then the
 * authorizer's reason, if it gave one.
 */
export function forbiddenError(a: AuthorizationAttributes, reason?: string): ApiError {
  const { user, info, name } = a;
  const why = reason ? `: ${reason}` : '';
  if (!info.isResourceRequest) return failure(403, 'Forbidden', `forbidden: ${sanitize(`User "${user.username}" cannot ${info.verb ?? ''} path "${info.path}"`)}${why}`, {});
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  const qualified = info.apiGroup ? `${info.resource}.${info.apiGroup}` : info.resource;
  const scope = info.namespace !== undefined ? `in the namespace "${info.namespace}"` : 'at the cluster scope';
  const what = name !== undefined ? `${qualified} "${name}"` : qualified;
  const details: StatusDetails = {};
  if (name !== undefined) details.name = name;
  if (info.apiGroup) details.group = info.apiGroup;
  details.kind = info.resource;
  const message = sanitize(`User "${user.username}" cannot ${info.verb ?? ''} resource "${resource}" in API group "${info.apiGroup}" ${scope}`);
  return failure(403, 'Forbidden', `${what} is forbidden: ${message}${why}`, details);
}

/** The real server escapes what could read as HTML in the part it words itself. */
const sanitize = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
