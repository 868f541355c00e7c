// apiextensions.k8s.io/v1 CustomResourceDefinition as a served kind, with the
// real registry's strategy: typed decoding (unknown fields dropped, wrong
// types refused), v1 defaulting (singular, listKind, conversion None, stored
// versions), a status reset on create, the storage version added to
// status.storedVersions on update, and ValidateCustomResourceDefinition.
// What a CRD does once stored (names accepted, its kind served, its objects
// cleaned up on delete) is controller.ts's.
import { builtinKind, type KindSpec, type KubeObject } from '../kinds.ts';
import { badRequest } from '../status.ts';
import { validateCrd, validateCrdStatus, validateCrdUpdate } from './crd-validation.ts';
import { CRD_FIELDS } from './crd-types.ts';
import { setDecoder } from './decoders.ts';
import { coerceObjectMeta } from './object-meta.ts';
import { isObject } from './schema.ts';
import { decodeTyped, TypeMismatch } from './typed-decode.ts';

export const CRD_GROUP = 'apiextensions.k8s.io';
export const CRD_PLURAL = 'customresourcedefinitions';

type Json = Record<string, unknown>;
const rec = (v: unknown): Json => (isObject(v) ? v : {});

/** Strict typed decoding; returns the unknown fields dropped. */
function decodeCrd(obj: KubeObject): string[] {
  try {
    return [...coerceObjectMeta(obj), ...decodeTyped(obj, CRD_FIELDS, 'CustomResourceDefinition')];
  } catch (e) {
    if (e instanceof TypeMismatch) throw badRequest(`CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: ${e.message}`);
    throw e;
  }
}

function storageVersion(crd: KubeObject): string | undefined {
  const versions = Array.isArray(rec(crd['spec'])['versions']) ? (rec(crd['spec'])['versions'] as unknown[]) : [];
  const v = versions.map(rec).find((x) => x['storage'] === true);
  return typeof v?.['name'] === 'string' ? v['name'] : undefined;
}

/** SetDefaults_CustomResourceDefinition: names, conversion, and a first stored version. */
function setDefaults(crd: KubeObject): void {
  const spec = rec(crd['spec']);
  if (!isObject(crd['spec'])) return;
  const names = rec(spec['names']);
  if (isObject(spec['names'])) {
    if (!names['singular'] && typeof names['kind'] === 'string') names['singular'] = names['kind'].toLowerCase();
    if (!names['listKind'] && typeof names['kind'] === 'string' && names['kind']) names['listKind'] = `${names['kind']}List`;
  }
  if (spec['conversion'] === undefined) spec['conversion'] = { strategy: 'None' };
  const status = isObject(crd['status']) ? crd['status'] : (crd['status'] = {});
  const stored = Array.isArray(status['storedVersions']) ? status['storedVersions'] : [];
  const storage = storageVersion(crd);
  if (stored.length === 0 && storage) status['storedVersions'] = [storage];
}

/** The status a new CRD starts with: nothing accepted yet, its storage version stored. */
function resetStatus(crd: KubeObject): void {
  const storage = storageVersion(crd);
  crd['status'] = { acceptedNames: { kind: '', plural: '' }, ...(storage ? { storedVersions: [storage] } : {}) };
}

function addStoredVersion(crd: KubeObject): void {
  const status = rec(crd['status']);
  const stored = Array.isArray(status['storedVersions']) ? (status['storedVersions'] as unknown[]) : [];
  const storage = storageVersion(crd);
  if (storage && !stored.includes(storage)) status['storedVersions'] = [...stored, storage];
}

export function customResourceDefinitionKind(): KindSpec {
  const kind = builtinKind({
    group: CRD_GROUP,
    version: 'v1',
    plural: CRD_PLURAL,
    kind: 'CustomResourceDefinition',
    namespaced: false,
    statusSubresource: true,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    allowUnconditionalUpdate: false,
    hasGeneration: true,
    defaults: (obj) => {
      decodeCrd(obj);
      setDefaults(obj);
    },
    prepareForCreate: resetStatus,
    prepareForUpdate: (obj) => addStoredVersion(obj),
    validate: (obj, old, subresource) => (subresource === 'status' ? validateCrdStatus(obj) : old ? validateCrdUpdate(obj, old) : validateCrd(obj)),
  });
  setDecoder(kind, { decode: (obj) => decodeCrd(obj) });
  return kind;
}
