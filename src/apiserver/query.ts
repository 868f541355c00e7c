// Query parameters of list and watch requests, validated with the real
// server's wording: selectors, resourceVersion, limit, timeoutSeconds.
import { parseFieldSelector, parseLabelSelector, SelectorError, type FieldRequirement, type LabelSelector } from './selectors.ts';
import { badRequest } from './status.ts';
import type { Filter, KindState, Store } from './store.ts';

/** The list/watch filter of `labelSelector` and `fieldSelector`, field labels checked against the kind. */
export function parseFilter(store: Store, kind: KindState, namespace: string | undefined, query: URLSearchParams): Filter {
  let label: LabelSelector | undefined;
  let fields: FieldRequirement[];
  try {
    const l = query.get('labelSelector');
    if (l) label = parseLabelSelector(l);
    fields = parseFieldSelector(query.get('fieldSelector') ?? '');
  } catch (e) {
    if (e instanceof SelectorError) throw badRequest(e.message);
    throw e;
  }
  store.checkFieldSelector(kind, fields);
  const filter: Filter = { fields };
  if (label) filter.label = label;
  if (namespace !== undefined) filter.namespace = namespace;
  return filter;
}

export function parseRv(value: string): number {
  if (!/^\d+$/.test(value)) throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(value)}: strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`);
  return Number(value);
}

/** A non-negative integer parameter (`limit`, `timeoutSeconds`), or undefined when absent. */
export function parseCount(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`${name}: Invalid value: ${JSON.stringify(v)}: must be a non-negative integer`);
  return Number(v);
}
