// The namespace strategies' update rules: spec.finalizers change only
// through /finalize (the namespace controller's way of saying the content is
// gone), the main resource keeps them, and a finalizer name without a domain
// must be one of the standard ones.
import type { KubeObject } from '../kinds.ts';
import { isRecord, record } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { qualifiedName, quote } from '../validation.ts';

const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

/** PrepareForUpdate of the main, status and finalize strategies. */
export function prepareNamespaceUpdate(next: KubeObject, old: KubeObject, subresource: string | undefined): void {
  if (subresource === 'finalize') return;
  const oldSpec = isRecord(old['spec']) ? old['spec'] : {};
  const spec = record(next, 'spec');
  if (oldSpec['finalizers'] === undefined) delete spec['finalizers'];
  else spec['finalizers'] = structuredClone(oldSpec['finalizers']);
}

/** spec.finalizers: qualified names, and standard ones when they carry no domain. */
export function validateNamespace(obj: KubeObject): FieldError[] {
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const finalizers = spec['finalizers'];
  if (!Array.isArray(finalizers)) return [];
  const errs: FieldError[] = [];
  finalizers.forEach((f: unknown, i) => {
    const field = `spec.finalizers[${i}]`;
    const name = typeof f === 'string' ? f : '';
    for (const e of qualifiedName(name)) errs.push({ field, type: 'Invalid value', detail: `${quote(name)}: ${e}` });
    if (!name.includes('/') && !STANDARD_FINALIZERS.has(name))
      errs.push({ field, type: 'Invalid value', detail: `${quote(name)}: name is neither a standard finalizer name nor is it fully qualified` });
  });
  return errs;
}
