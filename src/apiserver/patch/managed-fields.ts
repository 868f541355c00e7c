// metadata.managedFields and how the real server reads and writes it
// (k8s.io/apimachinery/pkg/util/managedfields/internal: managedfields.go,
// buildmanagerinfo.go, stripmeta.go, capmanagers.go). Each entry is one
// manager's field set, keyed by its identifier: manager name, operation
// (Apply or Update), and for updates the API version and subresource.
import { isRecord } from '../kinds.ts';
import { FieldSet } from './fieldset.ts';

export type Operation = 'Apply' | 'Update';

export interface ManagerInfo {
  readonly manager: string;
  readonly operation: Operation;
  /** Updates are told apart by API version; appliers are not. */
  readonly apiVersion?: string;
  readonly subresource?: string;
}

export interface ManagedEntry {
  readonly info: ManagerInfo;
  /** The API version the set's paths are in. */
  readonly apiVersion: string;
  readonly set: FieldSet;
  readonly time: string | undefined;
}

/** Entries by identifier. */
export type Managed = Map<string, ManagedEntry>;

/** The identifier of a manager, as the real server builds it: the entry's JSON without its fields and time. */
export function identifier(info: ManagerInfo): string {
  const id: Record<string, string> = {};
  if (info.manager) id['manager'] = info.manager;
  id['operation'] = info.operation;
  if (info.operation === 'Update' && info.apiVersion) id['apiVersion'] = info.apiVersion;
  if (info.subresource) id['subresource'] = info.subresource;
  return JSON.stringify(id);
}

export function entryInfo(id: string): ManagerInfo {
  const info = JSON.parse(id) as Partial<ManagerInfo>;
  return { ...info, manager: info.manager ?? '', operation: info.operation ?? 'Update' };
}

/** Reads metadata.managedFields; throws on an entry the real server would not decode. */
export function decodeManagedFields(entries: unknown): Managed {
  const out: Managed = new Map();
  if (entries === undefined || entries === null) return out;
  if (!Array.isArray(entries)) throw new Error('managedFields must be a list');
  entries.forEach((e: unknown, i) => {
    if (!isRecord(e)) throw new Error(`managed fields entry ${i} is not an object`);
    const operation = e['operation'];
    if (operation !== 'Apply' && operation !== 'Update') throw new Error('operation must be `Apply` or `Update`');
    if (typeof e['apiVersion'] !== 'string' || e['apiVersion'] === '') throw new Error('apiVersion must not be empty');
    if (e['fieldsType'] !== 'FieldsV1') throw new Error(e['fieldsType'] ? `invalid fieldsType ${JSON.stringify(e['fieldsType'])} in managed fields entry ${i}` : `missing fieldsType in managed fields entry ${i}`);
    const info: ManagerInfo = { manager: typeof e['manager'] === 'string' ? e['manager'] : '', operation, apiVersion: e['apiVersion'], ...(typeof e['subresource'] === 'string' && e['subresource'] ? { subresource: e['subresource'] } : {}) };
    const set = FieldSet.fromFieldsV1(e['fieldsV1'] ?? {});
    out.set(identifier(info), { info, apiVersion: e['apiVersion'], set, time: typeof e['time'] === 'string' ? e['time'] : undefined });
  });
  return out;
}

// Stored objects are never changed once committed, so their managedFields are decoded once.
const decodedStored = new WeakMap<object, Managed>();

/** decodeManagedFields for the managedFields of a stored object; returns a map the caller may change. */
export function decodeStoredManagedFields(entries: unknown): Managed {
  if (typeof entries !== 'object' || entries === null) return decodeManagedFields(entries);
  let m = decodedStored.get(entries);
  if (!m) decodedStored.set(entries, (m = decodeManagedFields(entries)));
  return new Map(m);
}

const seconds = (t: string | undefined): number => (t ? Math.floor(Date.parse(t) / 1000) : 0);

/** metadata.managedFields for `managed`, in the real order: appliers first, then by time, manager, version, subresource. */
export function encodeManagedFields(managed: Managed): Record<string, unknown>[] | undefined {
  if (managed.size === 0) return undefined;
  const encoded = encodeEntries(managed);
  // The encoded list is what the next write of the object will decode.
  decodedStored.set(encoded, new Map(managed));
  return encoded;
}

function encodeEntries(managed: Managed): Record<string, unknown>[] {
  const entries = [...managed.values()].map((e) => {
    const out: Record<string, unknown> = { manager: e.info.manager, operation: e.info.operation, apiVersion: e.apiVersion };
    if (e.time !== undefined) out['time'] = e.time;
    out['fieldsType'] = 'FieldsV1';
    out['fieldsV1'] = e.set.toFieldsV1();
    if (e.info.subresource) out['subresource'] = e.info.subresource;
    return out;
  });
  const key = (e: Record<string, unknown>): [string, number, string, string, string] => [String(e['operation']), seconds(e['time'] as string | undefined), String(e['manager']), String(e['apiVersion']), String(e['subresource'] ?? '')];
  return entries.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
    return 0;
  });
}

/** `managedFields: []` (or one empty entry) in a request clears the managed fields. */
export function isReset(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  if (entries.length === 0) return true;
  return entries.length === 1 && isRecord(entries[0]) && Object.keys(entries[0]).length === 0;
}

/** Fields nobody owns: the server sets them (stripmeta.go). */
export const STRIPPED = FieldSet.of(
  ['f:apiVersion'],
  ['f:kind'],
  ['f:metadata'],
  ['f:metadata', 'f:name'],
  ['f:metadata', 'f:namespace'],
  ['f:metadata', 'f:creationTimestamp'],
  ['f:metadata', 'f:selfLink'],
  ['f:metadata', 'f:uid'],
  ['f:metadata', 'f:clusterName'],
  ['f:metadata', 'f:generation'],
  ['f:metadata', 'f:managedFields'],
  ['f:metadata', 'f:resourceVersion'],
);

export const MAX_UPDATE_MANAGERS = 10;

/**
 * At most ten Update entries: the oldest are merged, per API version, into
 * an `ancient-changes` entry that keeps the newest time merged into it.
 */
export function capUpdateManagers(managed: Managed): void {
  const updaters = [...managed.entries()].filter(([, e]) => e.info.operation === 'Update');
  if (updaters.length <= MAX_UPDATE_MANAGERS) return;
  updaters.sort(([ia, a], [ib, b]) => seconds(a.time) - seconds(b.time) || (ia < ib ? -1 : ia > ib ? 1 : 0));
  const firstOfVersion = new Map<string, string>();
  let length = updaters.length;
  for (const [id, e] of updaters) {
    if (length <= MAX_UPDATE_MANAGERS) break;
    const bucket = identifier({ manager: 'ancient-changes', operation: 'Update', apiVersion: e.apiVersion });
    const first = firstOfVersion.get(e.apiVersion);
    if (first === undefined) {
      firstOfVersion.set(e.apiVersion, id);
      continue;
    }
    if (!managed.has(bucket)) {
      const f = managed.get(first)!;
      managed.delete(first);
      managed.set(bucket, { ...f, info: entryInfo(bucket) });
    }
    const b = managed.get(bucket)!;
    managed.set(bucket, { info: b.info, apiVersion: e.apiVersion, set: e.set.union(b.set), time: e.time });
    managed.delete(id);
    length--;
  }
}
