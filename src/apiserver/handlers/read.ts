// get and list: single objects, and lists with selectors and paging, each
// served from the state list-read.ts picks for its resourceVersion.
import { then, type Awaitable } from '../awaitable.ts';
import { apiVersionOf, type KindSpec, type KubeObject } from '../kinds.ts';
import { parseListOptions } from '../list-options.ts';
import { encodeContinue, resolveGetRead, resolveListRead } from '../list-read.ts';
import { parseFilter, parseRv } from '../query.ts';
import { jsonResponse, type ApiResponse } from '../request.ts';
import { notFound } from '../status.ts';
import type { HandlerContext } from './context.ts';

/** Built-in lists carry no per-item kind/apiVersion on the wire; custom resource lists do. */
export function listItem(spec: KindSpec, obj: KubeObject): unknown {
  if (spec.customResource) return obj;
  const { kind: _k, apiVersion: _a, ...rest } = obj;
  return rest;
}

export function get(ctx: HandlerContext): Awaitable<ApiResponse> {
  const { kind, namespace, name } = ctx.target;
  const rv = ctx.req.query.get('resourceVersion') ?? '';
  if (rv !== '') parseRv(rv);
  return then(resolveGetRead(ctx.watchCache, rv), (atRv) => {
    const obj = atRv === undefined ? ctx.store.get(kind, namespace, name!) : ctx.store.getAt(kind, namespace, name!, atRv);
    if (!obj) throw notFound(kind.spec, name!);
    return jsonResponse(200, obj);
  });
}

export function list(ctx: HandlerContext): Awaitable<ApiResponse> {
  const { kind, namespace } = ctx.target;
  const spec = kind.spec;
  const filter = parseFilter(ctx.store, kind, namespace, ctx.req.query);
  return then(resolveListRead(ctx.store, ctx.watchCache, parseListOptions(ctx.req.query, false)), (read) => {
    const page = ctx.store.list(kind, filter, read);
    const metadata: Record<string, unknown> = { resourceVersion: String(page.rv) };
    if (page.more) {
      const last = page.items[page.items.length - 1]!;
      const key = spec.namespaced ? `${last.metadata.namespace}/${last.metadata.name}` : last.metadata.name!;
      metadata['continue'] = encodeContinue(page.rv, key);
      // Like the real server, the remaining count is only known without selectors.
      if (!filter.label && filter.fields.length === 0 && filter.namespace === undefined) metadata['remainingItemCount'] = page.remaining;
    }
    return jsonResponse(200, { kind: `${spec.kind}List`, apiVersion: apiVersionOf(spec), metadata, items: page.items.map((o) => listItem(spec, o)) });
  });
}
