// get and list: single objects, and lists with selectors, paging and
// reads at an exact resourceVersion.
import { apiVersionOf, type KindSpec, type KubeObject } from '../kinds.ts';
import { parseCount, parseFilter, parseRv } from '../query.ts';
import { jsonResponse, type ApiResponse } from '../request.ts';
import { badRequest, notFound, tooLargeResourceVersion } from '../status.ts';
import type { HandlerContext } from './context.ts';

/** Built-in lists carry no per-item kind/apiVersion on the wire; custom resource lists do. */
export function listItem(spec: KindSpec, obj: KubeObject): unknown {
  if (spec.customResource) return obj;
  const { kind: _k, apiVersion: _a, ...rest } = obj;
  return rest;
}

export function get(ctx: HandlerContext): ApiResponse {
  const { kind, namespace, name } = ctx.target;
  const obj = ctx.store.get(kind, namespace, name!);
  if (!obj) throw notFound(kind.spec, name!);
  return jsonResponse(200, obj);
}

interface ListStart {
  atRv?: number;
  startAfter?: string;
}

/** Where a list starts: a continue token's snapshot and key, or an exact resourceVersion. */
function listStart(ctx: HandlerContext): ListStart {
  const { query } = ctx.req;
  const rvParam = query.get('resourceVersion') ?? '';
  const cont = query.get('continue') ?? '';
  if (cont) {
    if (rvParam) throw badRequest('specifying resource version is not allowed when using continue');
    let token: { v?: unknown; rv?: unknown; start?: unknown };
    try {
      token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as typeof token;
    } catch {
      throw badRequest('continue key is not valid: illegal base64 data');
    }
    if (token.v !== 'meta.k8s.io/v1' || typeof token.rv !== 'number' || typeof token.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    return { atRv: token.rv, startAfter: token.start };
  }
  if (rvParam && query.get('resourceVersionMatch') === 'Exact') {
    const atRv = parseRv(rvParam);
    if (atRv > ctx.store.resourceVersion) throw tooLargeResourceVersion(atRv, ctx.store.resourceVersion);
    return { atRv };
  }
  if (rvParam) parseRv(rvParam);
  return {};
}

export function list(ctx: HandlerContext): ApiResponse {
  const { kind, namespace } = ctx.target;
  const spec = kind.spec;
  const filter = parseFilter(ctx.store, kind, namespace, ctx.req.query);
  const limit = parseCount(ctx.req.query, 'limit');
  const page = ctx.store.list(kind, filter, { ...listStart(ctx), ...(limit !== undefined ? { limit } : {}) });
  const metadata: Record<string, unknown> = { resourceVersion: String(page.rv) };
  if (page.more) {
    const last = page.items[page.items.length - 1]!;
    const key = spec.namespaced ? `${last.metadata.namespace}/${last.metadata.name}` : last.metadata.name!;
    metadata['continue'] = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: page.rv, start: key })).toString('base64');
    // Like the real server, the remaining count is only known without selectors.
    if (!filter.label && filter.fields.length === 0 && filter.namespace === undefined) metadata['remainingItemCount'] = page.remaining;
  }
  return jsonResponse(200, { kind: `${spec.kind}List`, apiVersion: apiVersionOf(spec), metadata, items: page.items.map((o) => listItem(spec, o)) });
}
