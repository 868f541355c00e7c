// CustomResourceDefinitions in the request pipeline: a decorator over the
// handler table that adds, around the ordinary handlers,
//
// - fieldValidation for every create, update and patch (an unknown directive
//   is a 422), and for kinds that know their fields (custom resources, CRDs)
//   Strict refusals and Warn warnings for fields the kind does not have;
// - for CRDs: DELETE as the real CRD registry does it (finalizer and
//   Terminating condition, the object kept), and the controllers' work after
//   each write (controller.ts);
// - for custom resources: no creates while their CRD is terminating, and a
//   Terminating CRD finished once its last object is gone.
import { attempt, then, type Awaitable } from '../awaitable.ts';
import { decodeDeleteOptions, decodeObject, decodePatch } from '../body.ts';
import type { Handler, HandlerContext } from '../handlers/context.ts';
import { isRecord, type KubeObject } from '../kinds.ts';
import { applyJsonPatch, applyMergePatch } from '../patch.ts';
import type { HandlerTable } from '../router.ts';
import { listItem } from '../handlers/read.ts';
import { parseFilter } from '../query.ts';
import { jsonResponse, type ApiResponse, type ApiResult } from '../request.ts';
import { ApiError, conflict, forbidden, notFound } from '../status.ts';
import { timestamp } from '../store.ts';
import { CLEANUP_FINALIZER, setCondition, type CrdController } from './controller.ts';
import { CRD_GROUP, CRD_PLURAL } from './crd-kind.ts';
import { customResourceInfo } from './custom-kind.ts';
import { decoderOf } from './decoders.ts';
import { fieldValidation, strictDecodingError, strictPatchError, unknownFieldWarnings, withWarnings, type Directive } from './field-validation.ts';

const isCrdKind = (ctx: HandlerContext): boolean => ctx.target.kind.spec.group === CRD_GROUP && ctx.target.kind.spec.plural === CRD_PLURAL;
const isResponse = (r: ApiResult): r is ApiResponse => r.kind === 'response';

/** Runs `handler` on a request whose body is already decoded to `value`. */
function withBody(ctx: HandlerContext, value: unknown): HandlerContext {
  return { ...ctx, req: { ...ctx.req, body: { value }, contentType: 'application/json' } };
}

/** Unknown fields of a candidate object, computed on a copy; the store prunes the real one. */
function unknownFields(ctx: HandlerContext, obj: unknown, directive: Directive): string[] {
  const decoder = decoderOf(ctx.target.kind.spec);
  if (!decoder || directive === 'Ignore' || !isRecord(obj) || !isRecord(obj['metadata'] ?? {})) return [];
  return decoder.decode(structuredClone(obj) as KubeObject);
}

type After = (ctx: HandlerContext, result: ApiResult) => void;

/** Create or update: the body is decoded once here, checked for unknown fields, and handed on. */
function bodyWrite(inner: Handler, verb: 'create' | 'update', after: After, controller: CrdController): Handler {
  return (ctx) => {
    const directive = fieldValidation(ctx.req, verb);
    if (!decoderOf(ctx.target.kind.spec)) return then(inner(ctx), (r) => (after(ctx, r), r));
    const body = decodeObject(ctx.req, ctx.target.kind.spec);
    const unknown = unknownFields(ctx, body, directive);
    if (directive === 'Strict' && unknown.length > 0) throw strictDecodingError(ctx.target.kind.spec, unknown);
    if (verb === 'create' && controller.isTerminating(ctx.target.kind.spec)) {
      const name = isRecord(body) && isRecord(body['metadata']) ? String(body['metadata']['name'] ?? '') : '';
      throw forbidden(ctx.target.kind.spec, name, 'create not allowed while custom resource definition is terminating');
    }
    return warned(() => inner(withBody(ctx, body)), unknown, (r) => after(ctx, r));
  };
}

/** The handler's answer, success or refusal, with a warning per unknown field (the real server warns while decoding, whatever follows). */
function warned(run: () => Awaitable<ApiResult>, unknown: readonly string[], onResult: (r: ApiResult) => void): Awaitable<ApiResult> {
  const warnings = unknownFieldWarnings(unknown);
  if (warnings.length === 0) return then(run(), (r) => (onResult(r), r));
  const refused = (e: unknown): ApiResult => {
    if (e instanceof ApiError) return withWarnings(jsonResponse(e.status.code, e.status), warnings);
    throw e;
  };
  return attempt(
    () =>
      then(run(), (r) => {
        onResult(r);
        return isResponse(r) ? withWarnings(r, warnings) : r;
      }),
    refused,
  );
}

/** Patch: unknown fields are those of the patched object. */
function patchWrite(inner: Handler, after: After): Handler {
  return (ctx) => {
    const directive = fieldValidation(ctx.req, 'patch');
    let unknown: string[] = [];
    if (directive !== 'Ignore' && decoderOf(ctx.target.kind.spec)) {
      const patched = patchedObject(ctx);
      unknown = patched === undefined ? [] : unknownFields(ctx, patched, directive);
      if (directive === 'Strict' && unknown.length > 0) throw strictPatchError(patched, unknown);
    }
    return warned(() => inner(ctx), unknown, (r) => after(ctx, r));
  };
}

/** The object a patch would produce, or undefined when the patch fails (the handler then answers with the failure). */
function patchedObject(ctx: HandlerContext): unknown {
  const { kind, namespace, name } = ctx.target;
  const current = name === undefined ? undefined : ctx.store.get(kind, namespace, name);
  if (!current) return undefined;
  try {
    const { type, patch } = decodePatch(ctx.req, kind.spec);
    return type === 'merge' ? applyMergePatch(current, patch) : applyJsonPatch(current, patch);
  } catch {
    return undefined;
  }
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
      create: wrapped(main.create, (h) => bodyWrite(h, 'create', after, controller)),
      update: wrapped(main.update, (h) => bodyWrite(h, 'update', after, controller)),
      patch: wrapped(main.patch, (h) => patchWrite(h, after)),
      delete: wrapped(main.delete, (h) => wrapAfter(deleteCrd(h, controller, now))!),
      deletecollection: wrapped(main.deletecollection, (h) => wrapAfter(deleteCrdCollection(h, deleteCrd(main.delete ?? h, controller, now)))!),
    },
    subresources: {
      ...inner.subresources,
      status: {
        ...status,
        update: wrapped(status.update, (h) => bodyWrite(h, 'update', after, controller)),
        patch: wrapped(status.patch, (h) => patchWrite(h, after)),
      },
    },
  };
}
