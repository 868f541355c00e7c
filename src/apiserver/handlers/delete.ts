// delete and deletecollection, with preconditions, graceful pod deletion,
// finalizers, propagation policies and namespace termination (deletion.ts).
import { attempt, isPromise, then, type Awaitable } from '../awaitable.ts';
import { decodeDeleteOptions } from '../delete-options.ts';
import { apiVersionOf, type KindSpec, type KubeObject } from '../kinds.ts';
import { parseFilter } from '../query.ts';
import { jsonResponse, type ApiResponse } from '../request.ts';
import { ApiError, methodNotAllowed, notFound } from '../status.ts';
import type { DeleteOptions, DeleteResult } from '../store.ts';
import type { HandlerContext } from './context.ts';
import { listItem } from './read.ts';

/**
 * Pods, namespaces and custom resources answer with the object; other built-in kinds with
 * a Success Status once removed or when nothing changed (finalizeDelete), with the object
 * while finalizers hold it.
 */
function deleteAnswer(spec: KindSpec, result: DeleteResult, pending: boolean): unknown {
  if ((!result.removed && !pending) || spec.returnDeletedObject) return result.object;
  const details: Record<string, unknown> = { name: result.object.metadata.name };
  if (spec.group) details['group'] = spec.group;
  details['kind'] = spec.plural;
  details['uid'] = result.object.metadata.uid;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

type Outcome = DeleteResult & { pending: boolean };

function deleteOne(ctx: HandlerContext, name: string, namespace: string | undefined, options: DeleteOptions): Awaitable<Outcome> {
  const { store } = ctx;
  const { kind } = ctx.target;
  const spec = kind.spec;
  const current = store.get(kind, namespace, name);
  if (!current) throw notFound(spec, name);
  const plan = store.prepareDelete(kind, current, options);
  const admitted = ctx.admit({ operation: 'DELETE', spec, name, namespace, oldObject: current, options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', ...options } });
  return then(admitted, () => {
    if (store.get(kind, namespace, name) !== current) return deleteOne(ctx, name, namespace, options);
    return { ...store.commitDelete(kind, plan), pending: plan.action === 'pending' };
  });
}

export function del(ctx: HandlerContext): Awaitable<ApiResponse> {
  const { kind, namespace, name, subresource } = ctx.target;
  if (subresource) throw methodNotAllowed();
  const options = decodeDeleteOptions(ctx.req);
  return then(deleteOne(ctx, name!, namespace, options), (result) => {
    // 202 only where the real server gives it: not removed, and orphanDependents=false asked for.
    const code = !result.removed && options.orphanDependents === false ? 202 : 200;
    return jsonResponse(code, deleteAnswer(kind.spec, result, result.pending));
  });
}

/** Deletes `targets` from `i` on, collecting what was deleted; waits only where admission waits. */
function deleteEach(ctx: HandlerContext, targets: readonly KubeObject[], i: number, options: DeleteOptions, deleted: unknown[]): Awaitable<void> {
  const spec = ctx.target.kind.spec;
  for (; i < targets.length; i++) {
    const obj = targets[i]!;
    // One deleted by someone else meanwhile is skipped, as the real server skips it.
    const one = attempt<DeleteResult | undefined>(() => deleteOne(ctx, obj.metadata.name!, obj.metadata.namespace, options), skipGone);
    if (isPromise(one)) {
      const at = i;
      return one.then((r) => {
        if (r) deleted.push(listItem(spec, r.object));
        return deleteEach(ctx, targets, at + 1, options, deleted);
      });
    }
    if (one) deleted.push(listItem(spec, one.object));
  }
}

export function deleteCollection(ctx: HandlerContext): Awaitable<ApiResponse> {
  const { store } = ctx;
  const { kind, namespace } = ctx.target;
  const spec = kind.spec;
  if (spec.namespaced && namespace === undefined) throw methodNotAllowed();
  const options = decodeDeleteOptions(ctx.req);
  delete options.preconditions;
  const filter = parseFilter(store, kind, namespace, ctx.req.query);
  const items: unknown[] = [];
  return then(deleteEach(ctx, store.list(kind, filter, {}).items, 0, options, items), () =>
    jsonResponse(200, { kind: `${spec.kind}List`, apiVersion: apiVersionOf(spec), metadata: { resourceVersion: String(store.resourceVersion) }, items }),
  );
}

function skipGone(e: unknown): undefined {
  if (e instanceof ApiError && e.status.code === 404) return undefined;
  throw e;
}
