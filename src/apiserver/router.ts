// The one request router, shared by every transport (the HTTP front in
// test/apiserver/ and the simulator's in-process link). A request goes
// through the same pipeline the real server's handler chain has:
//
//   parse (RequestInfo, resolved against the kind registry)
//   → authentication (401)  → authorization (403)
//   → filters (the host's: stats, injected faults, later priority and fairness or audit)
//   → dispatch: discovery and health for non-resource paths, else the kind's handler
//     for the verb (or its subresource's), which calls admission where the real server does.
//
// Every stage is synchronous unless a plugged-in stage waits (awaitable.ts).
// Errors thrown anywhere become Status answers; the router never throws.
import { admissionChain, type AdmissionPlugin } from './admission.ts';
import { attempt, then, type Awaitable } from './awaitable.ts';
import { unauthorized, type Authenticator, type UserInfo } from './authentication.ts';
import { authorizationAttributes, forbiddenError, type Authorizer } from './authorization.ts';
import { discovery } from './discovery.ts';
import { decodeBody, fieldValidation } from './field-validation.ts';
import { createBinding } from './handlers/binding.ts';
import type { Handler, HandlerContext, Target } from './handlers/context.ts';
import { del, deleteCollection } from './handlers/delete.ts';
import { get, list } from './handlers/read.ts';
import { watch } from './handlers/watch.ts';
import { create, patch, update } from './handlers/write.ts';
import type { KindRegistry } from './registry.ts';
import { jsonResponse, type ApiRequest, type ApiResult } from './request.ts';
import { parseRequestInfo, type RequestInfo, type Verb } from './request-info.ts';
import { ApiError, badRequest, failure, methodNotAllowed, pageNotFound } from './status.ts';
import type { Store } from './store.ts';
import type { WatchCache } from './watch-cache.ts';

/** A request once parsed, authenticated and authorized. `target` is unset for non-resource paths and unknown resources. */
export interface RequestContext {
  readonly req: ApiRequest;
  readonly info: RequestInfo;
  readonly target: Target | undefined;
  readonly user: UserInfo;
}

/** A stage of the host's between authorization and dispatch: answers itself, or calls `next`. */
export type Filter = (ctx: RequestContext, next: () => Awaitable<ApiResult>) => Awaitable<ApiResult>;

/** Handlers by verb for a kind's main resource, and by subresource for its subresources. */
export interface HandlerTable {
  readonly main: Readonly<Partial<Record<Verb, Handler>>>;
  readonly subresources: Readonly<Record<string, Readonly<Partial<Record<Verb, Handler>>>>>;
}

export const DEFAULT_HANDLERS: HandlerTable = {
  main: { get, list, watch, create, update, patch, delete: del, deletecollection: deleteCollection },
  subresources: {
    status: { get, watch, update, patch },
    binding: { create: createBinding },
    finalize: { update },
  },
};

export interface RouterDeps {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly watchCache: WatchCache;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly admission: readonly AdmissionPlugin[];
  readonly filters: readonly Filter[];
  readonly handlers: HandlerTable;
  /** host:port the server is reached at, for /api's serverAddressByClientCIDRs. */
  readonly address: () => string;
}

export interface Router {
  handle(req: ApiRequest): Awaitable<ApiResult>;
}

/** What a resource request targets, or undefined when nothing is served there (404). */
function resolveTarget(registry: KindRegistry, info: RequestInfo): Target | undefined {
  if (!info.isResourceRequest || info.parts.length > 3) return undefined;
  const kind = registry.resolve(info.apiGroup, info.apiVersion, info.resource);
  if (!kind) return undefined;
  if (kind.spec.namespaced) return { kind, namespace: info.namespace, name: info.name, subresource: info.subresource };
  // A cluster-scoped kind is not served under /namespaces/{ns}/, a namespace's own path aside.
  if (info.namespace !== undefined && !(kind.spec.group === '' && kind.spec.plural === 'namespaces')) return undefined;
  return { kind, namespace: undefined, name: info.name, subresource: info.subresource };
}

function errorResult(e: unknown): ApiResult {
  if (e instanceof ApiError) return jsonResponse(e.status.code, e.status);
  const status = failure(500, 'InternalError', `Internal error occurred: ${(e as Error)?.stack ?? String(e)}`).status;
  return jsonResponse(500, status);
}

/** `299 - "<text>"` per distinct warning, as the real server's Warning headers carry them (one header here, comma-joined). */
function withWarnings(result: ApiResult, warnings: readonly string[]): ApiResult {
  if (warnings.length === 0 || result.kind === 'no-answer') return result;
  const value = [...new Set(warnings)].map((w) => `299 - "${w.replace(/["\\]/g, '\\$&')}"`).join(', ');
  return { ...result, headers: { ...result.headers, warning: value } };
}

export function createRouter(deps: RouterDeps): Router {
  const admit = admissionChain(deps.admission);

  function dispatch(ctx: RequestContext): Awaitable<ApiResult> {
    const { req, info, target } = ctx;
    if (!target) {
      const answer = req.method === 'GET' ? discovery(deps.registry, info.path, deps.address()) : undefined;
      if (answer) return answer;
      throw pageNotFound();
    }
    const verb = info.verb as Verb | undefined;
    if (!verb) throw methodNotAllowed();
    const spec = target.kind.spec;
    if (target.subresource !== undefined && !spec.subresources.includes(target.subresource)) throw pageNotFound();
    if (target.name === undefined && spec.namespaced && target.namespace === undefined && verb !== 'list' && verb !== 'watch') throw methodNotAllowed();
    if (req.query.getAll('dryRun').some((v) => v !== '')) throw badRequest('dryRun is not supported by the tidepool fake API server');
    const table = target.subresource === undefined ? deps.handlers.main : deps.handlers.subresources[target.subresource];
    const handler = table?.[verb];
    if (!handler) throw methodNotAllowed();
    // Admission's warnings (and unknown fields') reach the client whether the request succeeds or not.
    const warnings: string[] = [];
    const admitAs = (a: Parameters<HandlerContext['admit']>[0]) => admit({ ...a, user: ctx.user, warn: (w) => void warnings.push(w) });
    const decode = (body: unknown) => decodeBody(spec, body, fieldValidation(req.query, verb), (w) => warnings.push(w));
    return attempt(
      () => then(handler({ req, info, target, user: ctx.user, store: deps.store, watchCache: deps.watchCache, admit: admitAs, decode }), (r) => withWarnings(r, warnings)),
      (e) => withWarnings(errorResult(e), warnings),
    );
  }

  function filtered(ctx: RequestContext, i: number): Awaitable<ApiResult> {
    const filter = deps.filters[i];
    return filter ? filter(ctx, () => filtered(ctx, i + 1)) : dispatch(ctx);
  }

  function authorized(req: ApiRequest, info: RequestInfo, user: UserInfo | undefined): Awaitable<ApiResult> {
    if (!user) throw unauthorized();
    const attributes = authorizationAttributes(user, info, req.query);
    return then(deps.authorizer(attributes), (decision) => {
      if (!decision.allowed) throw forbiddenError(attributes, decision.reason);
      return filtered({ req, info, target: resolveTarget(deps.registry, info), user }, 0);
    });
  }

  return {
    handle: (req) =>
      attempt(() => {
        const info = parseRequestInfo(req.method, req.path, req.query);
        return then(req.user ?? deps.authenticator(req), (user) => authorized(req, info, user));
      }, errorResult),
  };
}
