// POST pods/<name>/binding: how a scheduler sets spec.nodeName, the one way
// to set it after create.
import { then, type Awaitable } from '../awaitable.ts';
import { decodeObject } from '../body.ts';
import type { KubeObject } from '../kinds.ts';
import { jsonResponse, type ApiResponse } from '../request.ts';
import { conflict, failure, notFound } from '../status.ts';
import type { HandlerContext } from './context.ts';

const BINDING = { group: '', plural: 'pods/binding', kind: 'Binding' };

function bind(ctx: HandlerContext, body: unknown, node: string): Awaitable<ApiResponse> {
  const { store } = ctx;
  const { kind, namespace, name } = ctx.target;
  const current = store.get(kind, namespace, name!);
  if (!current) throw notFound(kind.spec, name!);
  const podSpec = (current['spec'] ?? {}) as { nodeName?: string };
  if (current.metadata.deletionTimestamp) throw conflict(BINDING, name!, `pod ${name} is being deleted, cannot be assigned to a host`);
  if (podSpec.nodeName) throw conflict(BINDING, name!, `pod ${name} is already assigned to node "${podSpec.nodeName}"`);
  const next = structuredClone(current);
  (next['spec'] as Record<string, unknown>)['nodeName'] = node;
  const admitted = ctx.admit({ operation: 'CREATE', spec: kind.spec, subresource: 'binding', name: name!, namespace, object: body as KubeObject });
  return then(admitted, () => {
    if (store.get(kind, namespace, name!) !== current) return bind(ctx, body, node);
    store.commitUpdate(kind, current, next);
    return jsonResponse(201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
  });
}

export function createBinding(ctx: HandlerContext): Awaitable<ApiResponse> {
  const body = decodeObject(ctx.req, ctx.target.kind.spec);
  const b = body as { target?: { kind?: string; name?: string } } | null;
  const node = b?.target?.name;
  if (!node || (b?.target?.kind !== undefined && b.target.kind !== 'Node' && b.target.kind !== ''))
    throw failure(422, 'Invalid', `Binding.core "${ctx.target.name}" is invalid: target.name: Required value`);
  return bind(ctx, body, node);
}
