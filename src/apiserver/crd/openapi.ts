// The OpenAPI documents of the kinds CustomResourceDefinitions serve, as the
// real server publishes them (apiextensions' builder): /openapi/v3 lists a
// document per group-version, whose components hold each kind's schema (its
// CRD's openAPIV3Schema with apiVersion, kind and metadata described, tagged
// x-kubernetes-group-version-kind) and whose paths have the kind's operations
// with their query parameters; /openapi/v2 has the same kinds as Swagger 2.0
// definitions, in JSON or in the protobuf kubectl asks for (openapi-proto.ts).
// kubectl reads them: explain renders the v3 schemas, and apply validates
// against v2 and sends fieldValidation=Strict once v3 says PATCH takes it.
import { createHash } from 'node:crypto';
import type { KindSpec } from '../kinds.ts';
import type { KindRegistry } from '../registry.ts';
import { customResourceInfo } from './custom-kind.ts';
import { isObject, type Schema } from './schema.ts';

type Json = Record<string, unknown>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const OBJECT_META = `${META}.ObjectMeta`;
const LIST_META = `${META}.ListMeta`;

const API_VERSION_DESCRIPTION = 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources';
const KIND_DESCRIPTION = 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds';
const METADATA_DESCRIPTION = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

const str = { type: 'string' };
/** ObjectMeta's fields, so a client validating against the document knows every field metadata may carry. */
const OBJECT_META_SCHEMA: Json = {
  description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  type: 'object',
  properties: {
    annotations: { type: 'object', additionalProperties: str },
    creationTimestamp: { type: 'string', format: 'date-time' },
    deletionGracePeriodSeconds: { type: 'integer', format: 'int64' },
    deletionTimestamp: { type: 'string', format: 'date-time' },
    finalizers: { type: 'array', items: str },
    generateName: str,
    generation: { type: 'integer', format: 'int64' },
    labels: { type: 'object', additionalProperties: str },
    managedFields: { type: 'array', items: { type: 'object' } },
    name: str,
    namespace: str,
    ownerReferences: {
      type: 'array',
      items: {
        type: 'object',
        required: ['apiVersion', 'kind', 'name', 'uid'],
        properties: { apiVersion: str, blockOwnerDeletion: { type: 'boolean' }, controller: { type: 'boolean' }, kind: str, name: str, uid: str },
      },
    },
    resourceVersion: str,
    selfLink: str,
    uid: str,
  },
};
const LIST_META_SCHEMA: Json = {
  description: 'ListMeta describes metadata that synthetic resources must have, including lists and various status objects.',
  type: 'object',
  properties: { continue: str, remainingItemCount: { type: 'integer', format: 'int64' }, resourceVersion: str, selfLink: str },
};

/** `tidepool.dev` → `dev.tidepool`: the real server's schema names start with the reversed group. */
const reversedGroup = (group: string): string => group.split('.').reverse().join('.');
export const definitionName = (spec: KindSpec, kind = spec.kind): string => `${reversedGroup(spec.group)}.${spec.version}.${kind}`;

const gvk = (spec: KindSpec, kind = spec.kind): Json => ({ group: spec.group, kind, version: spec.version });

type Ref = (name: string) => string;

/** The kind's published schema: the CRD's, with apiVersion, kind and metadata described as the real builder adds them. */
function kindSchema(spec: KindSpec, schema: Schema, ref: Ref, v2: boolean): Json {
  const published = (v2 ? toV2(schema) : structuredClone(schema)) as Json;
  const props = isObject(published['properties']) ? published['properties'] : {};
  published['properties'] = {
    ...props,
    apiVersion: { description: API_VERSION_DESCRIPTION, type: 'string' },
    kind: { description: KIND_DESCRIPTION, type: 'string' },
    metadata: v2 ? { description: METADATA_DESCRIPTION, $ref: ref(OBJECT_META) } : { description: METADATA_DESCRIPTION, allOf: [{ $ref: ref(OBJECT_META) }], default: {} },
  };
  published['type'] = 'object';
  published['x-kubernetes-group-version-kind'] = [gvk(spec)];
  return published;
}

function listSchema(spec: KindSpec, listKind: string, ref: Ref): Json {
  return {
    description: `${listKind} is a list of ${spec.kind}`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { description: API_VERSION_DESCRIPTION, type: 'string' },
      items: { description: `List of ${spec.plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md`, type: 'array', items: { $ref: ref(definitionName(spec)) } },
      kind: { description: KIND_DESCRIPTION, type: 'string' },
      metadata: { description: "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", $ref: ref(LIST_META) },
    },
    'x-kubernetes-group-version-kind': [gvk(spec, listKind)],
  };
}

/**
 * What Swagger 2.0 cannot say is left out, as the real server's v2 conversion does:
 * nullable, the anyOf/oneOf/not junctors, and the type of int-or-string fields.
 */
function toV2(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toV2);
  if (!isObject(s)) return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'nullable' || k === 'anyOf' || k === 'oneOf' || k === 'not') continue;
    out[k] = k === 'properties' && isObject(v) ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, toV2(ps)])) : k === 'default' || k === 'enum' || k === 'example' ? v : toV2(v);
  }
  if (s['x-kubernetes-int-or-string'] === true) delete out['type'];
  return out;
}

const QUERY_DESCRIPTIONS: Readonly<Record<string, string>> = {
  dryRun: 'When present, indicates that modifications should not be persisted.',
  fieldManager: 'fieldManager is a name associated with the actor or entity that is making these changes.',
  fieldValidation:
    'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.',
  labelSelector: 'A selector to restrict the list of returned objects by their labels. Defaults to everything.',
  fieldSelector: 'A selector to restrict the list of returned objects by their fields. Defaults to everything.',
  limit: 'limit is a maximum number of responses to return for a list call.',
  continue: 'The continue option should be set when retrieving more results from the server.',
  resourceVersion: 'resourceVersion sets a constraint on what resource versions a request may be served from.',
  watch: 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.',
};

interface Op {
  readonly method: 'get' | 'put' | 'post' | 'patch' | 'delete';
  readonly action: string;
  readonly verb: string;
  readonly query: readonly string[];
}

const COLLECTION_OPS: readonly Op[] = [
  { method: 'get', action: 'list', verb: 'list', query: ['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'watch'] },
  { method: 'post', action: 'post', verb: 'create', query: ['dryRun', 'fieldManager', 'fieldValidation'] },
  { method: 'delete', action: 'deletecollection', verb: 'deletecollection', query: ['labelSelector', 'fieldSelector', 'dryRun'] },
];
const ITEM_OPS: readonly Op[] = [
  { method: 'get', action: 'get', verb: 'read', query: ['resourceVersion'] },
  { method: 'put', action: 'put', verb: 'replace', query: ['dryRun', 'fieldManager', 'fieldValidation'] },
  { method: 'patch', action: 'patch', verb: 'patch', query: ['dryRun', 'fieldManager', 'fieldValidation'] },
  { method: 'delete', action: 'delete', verb: 'delete', query: ['dryRun'] },
];
const STATUS_OPS: readonly Op[] = ITEM_OPS.filter((o) => o.method !== 'delete');

const queryParameter = (name: string, v2: boolean): Json =>
  v2 ? { name, in: 'query', description: QUERY_DESCRIPTIONS[name], type: name === 'limit' ? 'integer' : name === 'watch' ? 'boolean' : 'string', uniqueItems: true } : { name, in: 'query', description: QUERY_DESCRIPTIONS[name], schema: { type: name === 'limit' ? 'integer' : name === 'watch' ? 'boolean' : 'string', uniqueItems: true } };

const pathParameter = (name: string, v2: boolean): Json =>
  v2 ? { name, in: 'path', required: true, description: `name of the ${name === 'namespace' ? 'Namespace' : 'object'}`, type: 'string', uniqueItems: true } : { name, in: 'path', required: true, description: `name of the ${name === 'namespace' ? 'Namespace' : 'object'}`, schema: { type: 'string', uniqueItems: true } };

/** The kind's paths: collection, item and (if served) status, each operation tagged with its GVK and action. */
function kindPaths(spec: KindSpec, listKind: string, ref: Ref, v2: boolean): Record<string, Json> {
  const base = `/apis/${spec.group}/${spec.version}${spec.namespaced ? '/namespaces/{namespace}' : ''}/${spec.plural}`;
  const idKind = `${spec.kind}${spec.namespaced ? 'Namespaced' : ''}`;
  const body = (name: string): Json => (v2 ? { $ref: ref(name) } : { content: { 'application/json': { schema: { $ref: ref(name) } } } });
  const operation = (op: Op, sub: string): Json => {
    const returns = op.action === 'list' ? definitionName(spec, listKind) : definitionName(spec);
    const o: Json = {
      description: `${op.verb} ${op.action === 'list' || op.action === 'deletecollection' ? 'objects of kind' : 'the specified'} ${spec.kind}${sub ? ` ${sub}` : ''}`,
      operationId: `${op.verb}${idKind}${sub ? sub[0]!.toUpperCase() + sub.slice(1) : ''}`,
      parameters: op.query.map((q) => queryParameter(q, v2)),
      responses: { '200': v2 ? { description: 'OK', schema: body(returns) } : { description: 'OK', ...body(returns) } },
      'x-kubernetes-action': op.action,
      'x-kubernetes-group-version-kind': gvk(spec),
    };
    if (op.method === 'put' || op.method === 'post') {
      if (v2) (o['parameters'] as Json[]).unshift({ name: 'body', in: 'body', required: true, schema: body(definitionName(spec)) });
      else o['requestBody'] = body(definitionName(spec));
    }
    if (op.method === 'patch') {
      const patchBody = { type: 'object' };
      if (v2) (o['parameters'] as Json[]).unshift({ name: 'body', in: 'body', required: true, schema: patchBody });
      else o['requestBody'] = { content: Object.fromEntries(['application/json-patch+json', 'application/merge-patch+json'].map((t) => [t, { schema: patchBody }])) };
    }
    return o;
  };
  const item = (ops: readonly Op[], sub: string): Json => {
    const path: Json = { parameters: [pathParameter('name', v2), ...(spec.namespaced ? [pathParameter('namespace', v2)] : [])] };
    for (const op of ops) path[op.method] = operation(op, sub);
    return path;
  };
  const collection: Json = { parameters: spec.namespaced ? [pathParameter('namespace', v2)] : [] };
  for (const op of COLLECTION_OPS) collection[op.method] = operation(op, '');
  const paths: Record<string, Json> = { [base]: collection, [`${base}/{name}`]: item(ITEM_OPS, '') };
  if (spec.subresources.includes('status')) paths[`${base}/{name}/status`] = item(STATUS_OPS, 'status');
  return paths;
}

/** The served kinds that come from CRDs, by group-version (`tidepool.dev/v1alpha1`). */
function crdKinds(registry: KindRegistry): Map<string, KindSpec[]> {
  const out = new Map<string, KindSpec[]>();
  for (const { spec } of registry.all()) {
    if (!customResourceInfo(spec)) continue;
    const gv = `${spec.group}/${spec.version}`;
    out.set(gv, [...(out.get(gv) ?? []), spec]);
  }
  return out;
}

function documentParts(kinds: readonly KindSpec[], ref: Ref, v2: boolean): { paths: Json; schemas: Json } {
  const paths: Json = {};
  const schemas: Json = { [OBJECT_META]: OBJECT_META_SCHEMA, [LIST_META]: LIST_META_SCHEMA };
  for (const spec of kinds) {
    const info = customResourceInfo(spec)!;
    Object.assign(paths, kindPaths(spec, info.listKind, ref, v2));
    schemas[definitionName(spec)] = kindSchema(spec, info.schema, ref, v2);
    schemas[definitionName(spec, info.listKind)] = listSchema(spec, info.listKind, ref);
  }
  return { paths, schemas };
}

const v3Ref: Ref = (name) => `#/components/schemas/${name}`;
const v2Ref: Ref = (name) => `#/definitions/${name}`;

/** /openapi/v3/apis/<group>/<version>, or undefined when no CRD serves that group-version. */
export function openApiV3Document(registry: KindRegistry, groupVersion: string): Json | undefined {
  const kinds = crdKinds(registry).get(groupVersion);
  if (!kinds) return undefined;
  const { paths, schemas } = documentParts(kinds, v3Ref, false);
  return { openapi: '3.0.0', info: { title: 'Kubernetes CRD Swagger', version: 'v0.1.0' }, paths, components: { schemas } };
}

/** /openapi/v3: each group-version's document, found at a URL that changes when the document does (clients cache by it). */
export function openApiV3Root(registry: KindRegistry): Json {
  const paths: Json = {};
  for (const gv of [...crdKinds(registry).keys()].sort()) {
    const hash = createHash('sha512').update(JSON.stringify(openApiV3Document(registry, gv))).digest('hex').toUpperCase();
    paths[`apis/${gv}`] = { serverRelativeURL: `/openapi/v3/apis/${gv}?hash=${hash}` };
  }
  return { paths };
}

/** /openapi/v2: every CRD-served kind as Swagger 2.0. */
export function openApiV2Document(registry: KindRegistry): Json {
  const kinds = [...crdKinds(registry).values()].flat();
  const { paths, schemas } = documentParts(kinds, v2Ref, true);
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.31.0' }, paths, definitions: schemas };
}
