// Server-side apply: PATCH with application/apply-patch+yaml. The request
// must name its field manager; `force` takes fields from other managers
// instead of failing with 409. An object that does not exist is created from
// the configuration (201), as the real server does, except through a
// subresource (404). The merge, ownership and conflicts are in
// patch/field-manager.ts; creating and updating go through the same paths
// (admission, store rules) as every other write.
import type { Awaitable } from '../awaitable.ts';
import type { KubeObject } from '../kinds.ts';
import { queryBool } from '../params.ts';
import { checkApplyConfiguration, trackApply, type Write } from '../patch/field-manager.ts';
import type { ApiResponse } from '../request.ts';
import { badRequest, notFound, optionsInvalid } from '../status.ts';
import type { HandlerContext } from './context.ts';
import { emptyObject, writeOf } from './managed-writes.ts';

/** The write paths an apply ends in; `managed` says managedFields are already set. */
export interface ApplyWrites {
  create(ctx: HandlerContext, body: unknown, w: Write, managed: boolean): Awaitable<ApiResponse>;
  update(ctx: HandlerContext, produce: (current: KubeObject) => unknown, w: Write, managed: boolean): Awaitable<ApiResponse>;
}

export function applyPatch(ctx: HandlerContext, sent: Record<string, unknown>, writes: ApplyWrites): Awaitable<ApiResponse> {
  const w = writeOf(ctx, 'PatchOptions');
  if (!ctx.req.query.get('fieldManager')) throw optionsInvalid('PatchOptions', [{ field: 'fieldManager', type: 'Required value', detail: 'is required for apply patch' }]);
  checkApplyConfiguration(sent, w.spec);
  // Decoded before merging, so the applier never owns a field the decoder drops.
  const config = ctx.decode(sent) as Record<string, unknown>;
  const force = queryBool(ctx.req.query, 'force') === true;
  const { kind, namespace, name, subresource } = ctx.target;
  if (ctx.store.get(kind, namespace, name!)) return writes.update(ctx, (current) => trackApply(current, emptyObject(w), config, force, w), w, true);
  if (subresource !== undefined) throw notFound(kind.spec, name!);
  const created = trackApply(undefined, emptyObject(w), config, force, w);
  if (created.metadata.name !== name) throw badRequest(`the name of the object (${created.metadata.name ?? ''}) does not match the name on the URL (${name})`);
  return writes.create(ctx, created, w, true);
}
