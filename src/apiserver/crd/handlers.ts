// CustomResourceDefinitions in the request pipeline: a decorator over the
// handler table that adds, around the ordinary handlers (which decode bodies
// and honour fieldValidation for every kind, field-validation.ts),
//
// - for CRDs: DELETE as the real CRD registry does it (finalizer and
//   Terminating condition, the object kept), and the controllers' work after
//   each write (controller.ts);
// - for custom resources: no creates while their CRD is terminating, and a
//   Terminating CRD finished once its last object is gone.
import { attempt, then, type Awaitable } from '../awaitable.ts';
import { decodeDeleteOptions } from '../delete-options.ts';
import type { Handler, HandlerContext } from '../handlers/context.ts';
import { isRecord, type KubeObject } from '../kinds.ts';
import type { HandlerTable } from '../router.ts';
import { listItem } from '../handlers/read.ts';
import { parseFilter } from '../query.ts';
import { jsonResponse, type ApiResponse, type ApiResult } from '../request.ts';
import { ApiError, conflict, failure, notFound } from '../status.ts';
import { timestamp } from '../timestamps.ts';
import { CLEANUP_FINALIZER, setCondition, type CrdController } from './controller.ts';
import { CRD_GROUP, CRD_PLURAL } from './crd-kind.ts';
import { customResourceInfo } from './custom-kind.ts';
import { hasTable, tableVersion, toTable } from './table.ts';

const isCrdKind = (ctx: HandlerContext): boolean => ctx.target.kind.spec.group === CRD_GROUP && ctx.target.kind.spec.plural === CRD_PLURAL;
const isResponse = (r: ApiResult): r is ApiResponse => r.kind === 'response';

type After = (ctx: HandlerContext, result: ApiResult) => void;

/** The custom resource handler refuses a create while the CRD terminates, before reading the body: a 405 with its own message. */
function refuseWhileTerminating(inner: Handler, controller: CrdController): Handler {
  return (ctx) => {
    const spec = ctx.target.kind.spec;
    if (customResourceInfo(spec) && controller.isTerminating(spec)) {
      throw failure(405, 'MethodNotAllowed', 'create not allowed while custom resource definition is terminating', { group: spec.group, kind: spec.plural });
    }
    return inner(ctx);
  };
}

/** get and list answer a Table when the client asks for one and the kind has columns (kubectl get). */
function asTable(inner: Handler, now: () => Date): Handler {
  return (ctx) => {
    const version = tableVersion(ctx.req.accept);
    const spec = ctx.target.kind.spec;
    if (!version || !hasTable(spec)) return inner(ctx);
    return then(inner(ctx), (r) => {
      if (!isResponse(r) || r.status !== 200 || !isRecord(r.body)) return r;
      const body = r.body as Record<string, unknown>;
      const single = ctx.target.name !== undefined;
      const objects = (single ? [body] : (body['items'] as KubeObject[])) as KubeObject[];
      const meta = single ? { resourceVersion: (body as KubeObject).metadata.resourceVersion } : (body['metadata'] as Record<string, unknown>);
      return { ...r, body: toTable(spec, objects, meta, ctx.req.query, version, now()) };
    });
  };
}

/** DELETE of a CRD (the CRD registry's Delete): mark it, add the cleanup finalizer, say it is Terminating. */
function deleteCrd(inner: Handler, controller: CrdController, now: () => Date): Handler {
  const tryDelete = (ctx: HandlerContext): Awaitable<ApiResult> => {
    const { kind, name } = ctx.target;
    const current = ctx.store.get(kind, undefined, name!);
    if (!current) throw notFound(kind.spec, name!);
    const options = decodeDeleteOptions(ctx.req);
    const pre = options.preconditions;
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) throw conflict(kind.spec, name!, `precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion)
      throw conflict(kind.spec, name!, `precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
    if (current.metadata.deletionTimestamp) return inner(ctx);
    const next = structuredClone(current);
    next.metadata.deletionTimestamp = timestamp(now());
    if (!(next.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) next.metadata.finalizers = [...(next.metadata.finalizers ?? []), CLEANUP_FINALIZER];
    setCondition(next, { type: 'Terminating', status: 'True', reason: 'InstanceDeletionPending', message: 'CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon' }, now());
    const admitted = ctx.admit({ operation: 'DELETE', spec: kind.spec, name: name!, oldObject: current, options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', ...options } });
    return then(admitted, () => {
      if (ctx.store.get(kind, undefined, name!) !== current) return tryDelete(ctx);
      const marked = ctx.store.commitUpdate(kind, current, next).object;
      controller.reconcile(name!);
      return jsonResponse(200, marked);
    });
  };
  return (ctx) => (isCrdKind(ctx) ? tryDelete(ctx) : inner(ctx));
}

/** DELETE of the CRD collection: each CRD as a DELETE of it would go. */
function deleteCrdCollection(inner: Handler, deleteOne: Handler): Handler {
  return (ctx) => {
    if (!isCrdKind(ctx)) return inner(ctx);
    const spec = ctx.target.kind.spec;
    const names = ctx.store.list(ctx.target.kind, parseFilter(ctx.store, ctx.target.kind, undefined, ctx.req.query), {}).items.map((o) => o.metadata.name!);
    const items: unknown[] = [];
    const next = (i: number): Awaitable<ApiResult> => {
      if (i >= names.length) return jsonResponse(200, { kind: `${spec.kind}List`, apiVersion: `${spec.group}/${spec.version}`, metadata: { resourceVersion: String(ctx.store.resourceVersion) }, items });
      const one = attempt(() => deleteOne({ ...ctx, target: { ...ctx.target, name: names[i] } }), (e) => {
        if (e instanceof ApiError && e.status.code === 404) return undefined;
        throw e;
      });
      return then(one, (r) => {
        if (r && isResponse(r)) items.push(listItem(spec, r.body as KubeObject));
        return next(i + 1);
      });
    };
    return next(0);
  };
}

/** Wraps `inner` so CRDs and the custom resources they define behave as on the real server. */
export function withCustomResourceDefinitions(inner: HandlerTable, controller: CrdController, now: () => Date): HandlerTable {
  const after: After = (ctx, r) => {
    if (!isResponse(r) || r.status >= 300) return;
    if (isCrdKind(ctx)) {
      const name = ctx.target.name ?? (isRecord(r.body) && isRecord(r.body['metadata']) ? String(r.body['metadata']['name']) : undefined);
      if (name !== undefined) controller.reconcile(name);
      else for (const crd of [...ctx.target.kind.objects.keys()]) controller.reconcile(crd);
    } else if (customResourceInfo(ctx.target.kind.spec)) controller.afterInstanceWrite(ctx.target.kind.spec);
  };
  const wrapAfter = (h: Handler | undefined): Handler | undefined => h && ((ctx) => then(h(ctx), (r) => (after(ctx, r), r)));
  const main = inner.main;
  const status = inner.subresources['status'] ?? {};
  const wrapped = (h: Handler | undefined, wrap: (h: Handler) => Handler): Handler | undefined => (h ? wrap(h) : undefined);
  return {
    main: {
      ...main,
      get: wrapped(main.get, (h) => asTable(h, now)),
      list: wrapped(main.list, (h) => asTable(h, now)),
      create: wrapped(main.create, (h) => wrapAfter(refuseWhileTerminating(h, controller))!),
      update: wrapAfter(main.update),
      patch: wrapAfter(main.patch),
      delete: wrapped(main.delete, (h) => wrapAfter(deleteCrd(h, controller, now))!),
      deletecollection: wrapped(main.deletecollection, (h) => wrapAfter(deleteCrdCollection(h, deleteCrd(main.delete ?? h, controller, now)))!),
    },
    subresources: {
      ...inner.subresources,
      status: {
        ...status,
        update: wrapAfter(status.update),
        patch: wrapAfter(status.patch),
      },
    },
  };
}
