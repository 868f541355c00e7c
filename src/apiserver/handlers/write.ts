// create, update (PUT) and patch. Updates and patches are computed from the
// latest object and admitted; when another write landed during admission,
// they are computed and admitted again, as the real server's retry loop does.
// Every write keeps metadata.managedFields (managed-writes.ts); applies set
// them themselves (apply.ts).
import { then, type Awaitable } from '../awaitable.ts';
import { decodeObject, decodePatch } from '../body.ts';
import type { KindSpec, KubeObject } from '../kinds.ts';
import { applyJsonPatch, applyMergePatch, PatchError } from '../patch.ts';
import { kindType } from '../patch/kind-types.ts';
import type { Write } from '../patch/field-manager.ts';
import { applyStrategicMergePatch, StrategicPatchError } from '../patch/strategic.ts';
import { jsonResponse, type ApiResponse } from '../request.ts';
import { badRequest, failure, methodNotAllowed, notFound, optionsInvalid, type ApiError } from '../status.ts';
import { applyPatch } from './apply.ts';
import type { HandlerContext } from './context.ts';
import { recordCreate, withManagedFields, withStartingManagedFields, writeOf } from './managed-writes.ts';

/** Creates `body`; `managed`: an apply already set its managedFields, else the create is recorded for `w`. */
function createObject(ctx: HandlerContext, body: unknown, w: Write, managed = false): Awaitable<ApiResponse> {
  const { store } = ctx;
  const { kind, namespace } = ctx.target;
  if (kind.spec.namespaced && namespace === undefined) throw methodNotAllowed();
  // An apply's object was merged from a configuration decoded already (apply.ts).
  const decoded = managed ? body : ctx.decode(body);
  const obj = store.prepareCreate(kind, namespace, decoded);
  if (!managed) recordCreate(w, obj, decoded);
  const admitted = ctx.admit({ operation: 'CREATE', spec: kind.spec, name: obj.metadata.name!, namespace: obj.metadata.namespace, object: obj, options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' } });
  return then(admitted, () => jsonResponse(201, store.commitCreate(kind, obj)));
}

export function create(ctx: HandlerContext): Awaitable<ApiResponse> {
  if (ctx.target.name !== undefined) throw methodNotAllowed();
  const w = writeOf(ctx, 'CreateOptions');
  return createObject(ctx, decodeObject(ctx.req, ctx.target.kind.spec), w);
}

/**
 * Computes the next object from the latest one, admits it, and commits it
 * unless the object changed meanwhile. The write is recorded in managedFields
 * for `w` unless `managed` (an apply's object carries them already).
 */
function writeLoop(ctx: HandlerContext, produce: (current: KubeObject) => unknown, w: Write, managed = false): Awaitable<ApiResponse> {
  const { store } = ctx;
  const { kind, namespace, name, subresource } = ctx.target;
  const current = store.get(kind, namespace, name!);
  if (!current) throw notFound(kind.spec, name!);
  const produced = produce(current);
  // The managedFields asked for are read before decoding, which drops an empty list (a reset).
  const { body: started, requested } = managed ? { body: produced, requested: undefined } : withStartingManagedFields(produced, current);
  const body = managed ? produced : ctx.decode(started);
  const prepared = store.prepareUpdate(kind, current, body, { subresource, urlName: name!, urlNamespace: namespace });
  const next = withManagedFields(w, current, prepared, requested, managed ? (produced as KubeObject) : undefined);
  const admitted = ctx.admit({ operation: 'UPDATE', spec: kind.spec, subresource, name: name!, namespace, object: next, oldObject: current, options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' } });
  return then(admitted, () => {
    if (store.get(kind, namespace, name!) !== current) return writeLoop(ctx, produce, w, managed);
    return jsonResponse(200, store.commitUpdate(kind, current, next).object);
  });
}

/** PUT; Events may be created this way, as the real event strategy allows. */
export function update(ctx: HandlerContext): Awaitable<ApiResponse> {
  const { kind, namespace, name, subresource } = ctx.target;
  const body = decodeObject(ctx.req, kind.spec);
  const w = writeOf(ctx, 'UpdateOptions');
  if (!ctx.store.get(kind, namespace, name!) && kind.spec.allowCreateOnUpdate && !subresource) {
    const b = body as KubeObject;
    if (b?.metadata?.name !== name) throw badRequest(`the name of the object (${b?.metadata?.name ?? ''}) does not match the name on the URL (${name})`);
    return createObject(ctx, body, w);
  }
  return writeLoop(ctx, () => body, w);
}

export function patch(ctx: HandlerContext): Awaitable<ApiResponse> {
  const spec = ctx.target.kind.spec;
  const { type, patch: doc } = decodePatch(ctx.req, spec);
  if (type === 'apply') return applyPatch(ctx, doc as Record<string, unknown>, { create: createObject, update: writeLoop });
  if (ctx.req.query.has('force')) throw optionsInvalid('PatchOptions', [{ field: 'force', type: 'Forbidden', detail: 'may not be specified for non-apply patch' }]);
  const w = writeOf(ctx, 'PatchOptions');
  return writeLoop(ctx, (current) => patched(type, current, doc, spec), w);
}

/** The current object with a merge, JSON or strategic merge patch applied; failures as the real server answers them. */
function patched(type: 'merge' | 'json' | 'strategic', current: KubeObject, doc: unknown, spec: KindSpec): unknown {
  try {
    if (type === 'merge') return applyMergePatch(current, doc);
    if (type === 'json') return applyJsonPatch(current, doc);
    return applyStrategicMergePatch(current, doc as Record<string, unknown>, kindType(spec));
  } catch (e) {
    if (e instanceof PatchError) throw e.code === 400 ? badRequest(e.message) : failure(422, 'Invalid', e.message);
    if (e instanceof StrategicPatchError) throw strategicPatchFailure(e);
    throw e;
  }
}

/** How the real server answers a strategic merge patch it cannot apply: 400 for a malformed directive, a generic 422, or 500 with the bare error. */
function strategicPatchFailure(e: StrategicPatchError): ApiError {
  if (e.code === 400) return badRequest(e.message);
  if (e.code === 422) return failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {});
  return failure(500, undefined, e.message);
}
