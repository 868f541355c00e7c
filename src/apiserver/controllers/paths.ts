// REST paths of a kind's objects and collections, for the controllers' requests.
import type { KindSpec } from '../kinds.ts';

function base(spec: KindSpec): string {
  return spec.group ? `/apis/${spec.group}/${spec.version}` : `/api/${spec.version}`;
}

export function collectionPath(spec: KindSpec, namespace: string | undefined): string {
  return spec.namespaced && namespace !== undefined ? `${base(spec)}/namespaces/${namespace}/${spec.plural}` : `${base(spec)}/${spec.plural}`;
}

export function objectPath(spec: KindSpec, namespace: string | undefined, name: string): string {
  return `${collectionPath(spec, namespace)}/${encodeURIComponent(name)}`;
}
