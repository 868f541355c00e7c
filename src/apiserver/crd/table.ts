// Table output (meta.k8s.io/v1 and v1beta1), which kubectl get asks for in
// its Accept header: custom resources get their CRD's additionalPrinterColumns
// (the Name column first; Age when the CRD lists none), as apiextensions'
// tableconvertor builds them; CustomResourceDefinitions get the default
// convertor's Name and Created At. Rows carry the object as includeObject
// says (Metadata by default, as a PartialObjectMetadata).
import type { KindSpec, KubeObject } from '../kinds.ts';
import { isRecord } from '../kinds.ts';
import { badRequest } from '../status.ts';
import { CRD_GROUP, CRD_PLURAL } from './crd-kind.ts';
import { customResourceInfo, type PrinterColumn } from './custom-kind.ts';

const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const CREATED_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

/** The Table version an Accept header asks for first, or undefined when it prefers (or only takes) plain objects. */
export function tableVersion(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const entry of (accept ?? '').split(',')) {
    const [type, ...params] = entry.split(';').map((s) => s.trim());
    const p = new Map(params.map((x) => x.split('=').map((s) => s.trim()) as [string, string]));
    if (type !== 'application/json') {
      if (type === '*/*' || type === 'application/*' || type === 'application/yaml') return undefined;
      continue;
    }
    if (p.get('as') === undefined) return undefined;
    if (p.get('as') === 'Table' && p.get('g') === 'meta.k8s.io' && (p.get('v') === 'v1' || p.get('v') === 'v1beta1')) return p.get('v') as 'v1' | 'v1beta1';
  }
  return undefined;
}

interface Column {
  readonly definition: Record<string, unknown>;
  cell(obj: KubeObject, now: Date): unknown;
}

/** The values a simple JSONPath (`.spec.subnet`, `.spec.routes[0].dst`) names. */
function lookup(obj: unknown, path: string): unknown {
  let v: unknown = obj;
  for (const step of path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s !== '')) {
    if (Array.isArray(v)) v = /^\d+$/.test(step) ? v[Number(step)] : undefined;
    else if (isRecord(v)) v = v[step];
    else return undefined;
  }
  return v;
}

/** A value as Go's fmt prints it, which jsonpath's PrintResults uses for string columns. */
function goPrint(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (isRecord(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goPrint(v[k])}`).join(' ')}]`;
  return String(v);
}

/** apimachinery's duration.HumanDuration, which date columns are printed with. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** cellForJSONValue: a column's cell by its type; a value of another type is no value. */
function cellFor(type: string, value: unknown, now: Date): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'string':
      return goPrint(value);
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date': {
      if (typeof value !== 'string') return null;
      const t = Date.parse(value);
      return Number.isNaN(t) ? '<invalid>' : humanDuration(now.getTime() - t);
    }
    default:
      return null;
  }
}

const NAME: Column = {
  definition: { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 },
  cell: (obj) => obj.metadata.name ?? '',
};

function printerColumn(c: PrinterColumn): Column {
  const description = c.description || `Custom resource definition column (in JSONPath format): ${c.jsonPath}`;
  return {
    definition: { name: c.name, type: c.type, format: c.format, description, priority: c.priority },
    cell: (obj, now) => cellFor(c.type, lookup(obj, c.jsonPath), now),
  };
}

/** The columns of a kind, or undefined when this server has no Table for it (built-in kinds answer plain objects). */
function columnsOf(spec: KindSpec): Column[] | undefined {
  const info = customResourceInfo(spec);
  if (info) {
    const cols = info.columns.length ? info.columns : [{ name: 'Age', type: 'date', format: '', description: CREATED_DESCRIPTION, priority: 0, jsonPath: '.metadata.creationTimestamp' }];
    return [NAME, ...cols.map(printerColumn)];
  }
  if (spec.group === CRD_GROUP && spec.plural === CRD_PLURAL) {
    // The default table convertor prints the creation time as stored, not as an age.
    return [NAME, { definition: { name: 'Created At', type: 'date', format: '', description: CREATED_DESCRIPTION, priority: 0 }, cell: (obj) => obj.metadata.creationTimestamp ?? null }];
  }
  return undefined;
}

export const hasTable = (spec: KindSpec): boolean => columnsOf(spec) !== undefined;

/** includeObject: None, Object, or Metadata (the default). */
function rowObject(obj: KubeObject, include: string, v: string): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${v}`, metadata: obj.metadata };
}

/** A Table of `objects` (one for a get, a list's items); `listMeta` is the list's metadata. */
export function toTable(spec: KindSpec, objects: readonly KubeObject[], listMeta: Record<string, unknown>, query: URLSearchParams, version: 'v1' | 'v1beta1', now: Date): unknown {
  const columns = columnsOf(spec)!;
  const include = query.get('includeObject') ?? '';
  if (!['', 'None', 'Object', 'Metadata'].includes(include)) throw badRequest(`unrecognized includeObject value: "${include}"`);
  const rows = objects.map((obj) => {
    const row: Record<string, unknown> = { cells: columns.map((c) => c.cell(obj, now)) };
    const o = rowObject(obj, include, version);
    if (o !== undefined) row['object'] = o;
    return row;
  });
  const table: Record<string, unknown> = { kind: 'Table', apiVersion: `meta.k8s.io/${version}`, metadata: listMeta };
  if (query.get('noHeaders') !== 'true') table['columnDefinitions'] = columns.map((c) => c.definition);
  table['rows'] = rows;
  return table;
}
