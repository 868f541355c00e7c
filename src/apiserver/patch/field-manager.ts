// The field manager the real server runs on every create, update and patch
// (k8s.io/apimachinery/pkg/util/managedfields/internal/fieldmanager.go and
// the managers it chains): writes that are not applies record the fields
// they added or changed under their manager with operation Update; applies
// merge a configuration under their manager with operation Apply and may
// conflict. Both keep metadata.managedFields in the written object.
import { apiVersionOf, isRecord, type KindSpec, type KubeObject } from '../kinds.ts';
import { badRequest, conflict, failure, internalError } from '../status.ts';
import { applyConflictError } from './conflicts.ts';
import { FieldSet } from './fieldset.ts';
import { kindType } from './kind-types.ts';
import { KUBECTL, lastAppliedFields, syncLastApplied } from './last-applied.ts';
import { capUpdateManagers, decodeManagedFields, decodeStoredManagedFields, encodeManagedFields, entryInfo, identifier, isReset, STRIPPED, type Managed } from './managed-fields.ts';
import { TypedValueError } from './typed-sets.ts';
import { ApplyConflicts, applyConfiguration, updatedFields, type Applied, type Schema } from './updater.ts';

export interface Write {
  readonly spec: KindSpec;
  readonly subresource: string | undefined;
  /** The manager: the request's fieldManager, else its user agent up to the first `/`. */
  readonly manager: string;
  /** RFC 3339, seconds. */
  readonly now: string;
}

/** Fields a write through this endpoint cannot change, so nobody owns them through it (the strategies' GetResetFields). */
function resetFields(spec: KindSpec, subresource: string | undefined): FieldSet {
  if (subresource === 'status') {
    const reset = FieldSet.of(['f:spec']);
    // The pod status strategy also keeps these from the old object.
    if (spec.group === '' && spec.plural === 'pods') return reset.union(FieldSet.of(['f:metadata', 'f:deletionTimestamp'], ['f:metadata', 'f:ownerReferences']));
    return reset;
  }
  return spec.statusSubresource ? FieldSet.of(['f:status']) : new FieldSet();
}

function schemaOf(w: Write): Schema {
  return { type: kindType(w.spec), reset: resetFields(w.spec, w.subresource), apiVersion: apiVersionOf(w.spec) };
}

const decodeOrEmpty = (entries: unknown): Managed => {
  try {
    return decodeStoredManagedFields(entries);
  } catch {
    return new Map();
  }
};

/**
 * The managed fields a non-apply write starts from: the request's own when
 * it sends valid ones (or `[]` to clear them), else the live object's, so
 * clients that know nothing of managedFields do not lose them. Subresource
 * writes always start from the live object's.
 */
export function startingManagedFields(requested: unknown, live: unknown, subresource: string | undefined): Managed {
  // The live object's own list (left in place by a patch) decodes from the stored cache.
  if (subresource !== undefined || requested === live) return decodeOrEmpty(live);
  if (isReset(requested)) return new Map();
  try {
    const m = decodeManagedFields(requested);
    if (m.size > 0) return m;
  } catch {
    // Undecodable: the live object's, as the real server does.
  }
  return decodeOrEmpty(live);
}

export function setManagedFields(obj: KubeObject, managed: Managed | unknown): void {
  const entries = managed instanceof Map ? encodeManagedFields(managed as Managed) : managed;
  if (entries === undefined) delete obj.metadata.managedFields;
  else obj.metadata.managedFields = entries;
}

/**
 * The managedFields after a create, update or patch by `w.manager`: the
 * fields it added or changed since `live` (the kind's empty object for a
 * create) become its manager's, and nobody else's. When the objects cannot
 * be compared, the live object's managed fields are kept, as the real
 * server's UpdateNoErrors does.
 */
export function managedAfterUpdate(live: KubeObject, next: KubeObject, requested: unknown, w: Write): unknown {
  const schema = schemaOf(w);
  try {
    const managed = startingManagedFields(requested, live.metadata.managedFields, w.subresource);
    const id = identifier({ manager: w.manager || 'unknown', operation: 'Update', apiVersion: schema.apiVersion, subresource: w.subresource });
    const took = updatedFields(live, next, managed, schema, STRIPPED);
    if (!took.isEmpty()) {
      const prev = managed.get(id);
      managed.set(id, { info: entryInfo(id), apiVersion: schema.apiVersion, set: prev ? took.union(prev.set) : took, time: w.now });
    }
    capUpdateManagers(managed);
    return encodeManagedFields(managed);
  } catch (e) {
    if (!(e instanceof TypedValueError)) throw e;
    return live.metadata.managedFields;
  }
}

/** `group/version, Kind=kind` as Go prints a GroupVersionKind. */
function gvkString(config: Record<string, unknown>): string {
  const apiVersion = typeof config['apiVersion'] === 'string' ? config['apiVersion'] : '';
  const slash = apiVersion.indexOf('/');
  const [group, version] = slash >= 0 ? [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)] : ['', apiVersion];
  return `${group}/${version}, Kind=${typeof config['kind'] === 'string' ? config['kind'] : ''}`;
}

/**
 * What the real server checks of an apply configuration as sent, before it is
 * decoded (decoding drops an empty managedFields the real check still sees).
 */
export function checkApplyConfiguration(config: Record<string, unknown>, spec: KindSpec): void {
  if (config['apiVersion'] !== apiVersionOf(spec) || config['kind'] !== spec.kind) throw badRequest(`invalid object type: ${gvkString(config)}`);
  const meta = config['metadata'];
  if (isRecord(meta) && meta['managedFields'] !== undefined) throw badRequest('metadata.managedFields must be nil');
}

/**
 * Applies `config` (checked by checkApplyConfiguration) for `w.manager` over
 * `live` (undefined: the object does not exist yet and is created from the
 * kind's empty object). Returns the
 * object to write, with its managed fields; throws the real server's 400,
 * 409 (conflicts, unless `force`) or 500 errors.
 */
export function trackApply(live: KubeObject | undefined, empty: KubeObject, config: Record<string, unknown>, force: boolean, w: Write): KubeObject {
  const base = live ?? empty;
  let managed: Managed;
  try {
    managed = decodeStoredManagedFields(base.metadata.managedFields);
  } catch (e) {
    throw internalError(`failed to decode managed fields: ${(e as Error).message}`);
  }
  const without = structuredClone(base);
  delete without.metadata.managedFields;
  const applied = applyWithKubectlAllowance(without, config, managed, force, w);
  const object = (applied.object ?? without) as KubeObject;
  const id = identifier({ manager: w.manager, operation: 'Apply', subresource: w.subresource });
  const own = applied.managed.get(id);
  if (applied.object !== undefined && own) applied.managed.set(id, { ...own, time: w.now });
  setManagedFields(object, applied.managed);
  if (w.manager === KUBECTL) syncLastApplied(object, config);
  if (!live && isRecord(config['metadata']) && typeof config['metadata']['uid'] === 'string' && config['metadata']['uid'])
    throw conflict(w.spec, String(config['metadata']['name'] ?? ''), `uid mismatch: the provided object specified uid ${config['metadata']['uid']}, and no existing object was found`);
  return object;
}

/** `namespace/name` of a configuration, as the real server names it in errors. */
function objectName(config: Record<string, unknown>): string {
  const meta = isRecord(config['metadata']) ? config['metadata'] : {};
  return `${typeof meta['namespace'] === 'string' ? meta['namespace'] : ''}/${typeof meta['name'] === 'string' ? meta['name'] : ''}`;
}

/** Conflicts on fields kubectl's last-applied annotation still describes are no conflicts for kubectl's own apply. */
function applyWithKubectlAllowance(live: KubeObject, config: Record<string, unknown>, managed: Managed, force: boolean, w: Write): Applied {
  const schema = schemaOf(w);
  const id = identifier({ manager: w.manager, operation: 'Apply', subresource: w.subresource });
  const run = (forced: boolean): Applied => applyConfiguration(live, config, managed, id, forced, schema, STRIPPED);
  try {
    return run(force);
  } catch (e) {
    if (e instanceof TypedValueError) throw failure(500, undefined, `failed to create typed patch object (${objectName(config)}; ${gvkString(config)}): ${e.message}`);
    if (!(e instanceof ApplyConflicts)) throw e;
    const allowed = w.manager === KUBECTL ? lastAppliedFields(live, schema.apiVersion, schema.type) : undefined;
    if (!allowed) throw applyConflictError(e.conflicts);
    const left = e.conflicts.filter((c) => !allowed.has(c.path));
    if (left.length) throw applyConflictError(left);
    return run(true);
  }
}
