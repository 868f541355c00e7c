/**
 * tidepool's custom resources, written once as TypeBox schemas and used twice:
 * to generate the CustomResourceDefinitions the API server enforces
 * (planCrdManifests, scripts/gen-crds.ts) and to check records in the agent
 * and controller (validateRecord). One source keeps the two from drifting.
 *
 * Schemas describe shape only (types, required fields, enums). Meaning (is
 * this a CIDR, is the gateway inside the subnet) belongs to planPool and its
 * kin, which are stricter; a test proves the schema never refuses an IPPool
 * that planPool would accept.
 *
 * Objects are deliberately open (no `additionalProperties: false`): the API
 * server prunes fields its CRD does not declare, so an unknown field can only
 * reach a reader from a newer CRD during an upgrade, where tolerating it is
 * right. Hand-written pool files still get typo detection from planPool.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { stringify } from 'yaml';

/** API group of every tidepool resource. */
export const TIDEPOOL_GROUP = 'tidepool.dev';
/** The one served (and stored) version. */
export const TIDEPOOL_VERSION = 'v1alpha1';
/** `apiVersion` of every tidepool object. */
export const TIDEPOOL_API_VERSION = `${TIDEPOOL_GROUP}/${TIDEPOOL_VERSION}`;

// Milliseconds are required: least-recently-released order compares these
// times, and whole seconds would tie every IP released within one second.
const RFC3339_MS = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}(Z|[+-][0-9]{2}:[0-9]{2})$';
const RFC3339_MS_MESSAGE = 'Expected an RFC 3339 time with milliseconds, e.g. 2025-01-02T03:04:05.678Z';

// `errorMessage` is read by validateRecord and dropped from CRDs.
const timestamp = (description: string) => Type.String({ pattern: RFC3339_MS, errorMessage: RFC3339_MS_MESSAGE, description });
const stringList = (description: string) => Type.Array(Type.String(), { description });

/** One requirement of a label selector. */
export const LabelSelectorRequirementSchema = Type.Object({
  key: Type.String({ description: 'Label key.' }),
  operator: Type.Union([Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')], {
    description: 'In and NotIn need values; Exists and DoesNotExist take none.',
  }),
  values: Type.Optional(stringList('Label values for In and NotIn.')),
});

/** metav1.LabelSelector: every listed requirement must hold; empty matches everything. */
export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Labels that must all be present with these values.' })),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirementSchema, { description: 'Requirements that must all hold.' })),
  },
  { description: 'A Kubernetes label selector.' },
);
export type LabelSelectorObject = Static<typeof LabelSelectorSchema>;

const selector = (description: string) => Type.Object(LabelSelectorSchema.properties, { description });

/** A route handed to the container with every IP of the pool. */
export const RouteSchema = Type.Object({
  dst: Type.String({ minLength: 1, description: 'Destination CIDR, same IP family as the subnet.' }),
  gw: Type.Optional(Type.String({ description: 'Next hop inside the subnet; the runtime default when omitted.' })),
});

/** `spec` of an IPPool. */
export const IPPoolSpecSchema = Type.Object({
  subnet: Type.String({ minLength: 1, description: 'Network address in CIDR form; the pool IP family follows it.' }),
  ips: Type.Optional(stringList('Allocatable IPs or a-b ranges inside the subnet; default: every host address.')),
  excludeIPs: Type.Optional(stringList('IPs or a-b ranges never handed out.')),
  gateway: Type.Optional(Type.String({ description: 'Gateway address inside the subnet, outside the allocatable IPs.' })),
  routes: Type.Optional(Type.Array(RouteSchema, { description: 'Routes returned with every IP.' })),
  default: Type.Optional(Type.Boolean({ description: 'Serve requests that name no pool.' })),
  disable: Type.Optional(Type.Boolean({ description: 'Hand out no new IPs; existing allocations stay.' })),
  nodeName: Type.Optional(stringList('Names of the nodes the pool serves; any node when omitted.')),
  nodeAffinity: Type.Optional(selector("Selector on the labels of the pod's node.")),
  namespaceName: Type.Optional(stringList('Namespaces whose pods may use the pool; any when omitted.')),
  namespaceAffinity: Type.Optional(selector("Selector on the labels of the pod's namespace.")),
  podAffinity: Type.Optional(selector("Selector on the pod's labels.")),
  multusName: Type.Optional(stringList('Network names (the netconf name, as Multus passes it) the pool serves; any when omitted.')),
});
export type IPPoolResourceSpec = Static<typeof IPPoolSpecSchema>;

/** `status` of an IPPool, written by the controller. */
export const IPPoolStatusSchema = Type.Object({
  // A string because an IPv6 pool can hold more than 2^63 addresses.
  totalIPCount: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]*)$', errorMessage: 'Expected a decimal count', description: 'Allocatable IPs, in decimal.' })),
  allocatedIPCount: Type.Optional(Type.Integer({ minimum: 0, description: 'IPs currently allocated.' })),
});
export type IPPoolResourceStatus = Static<typeof IPPoolStatusSchema>;

/** Who holds an IPAllocation's IP; present only while allocated. */
export const IPAllocationOwnerSchema = Type.Object(
  {
    podNamespace: Type.Optional(Type.String({ description: 'Namespace of the pod.' })),
    podName: Type.Optional(Type.String({ description: 'Name of the pod.' })),
    podUid: Type.Optional(Type.String({ description: 'UID of the pod.' })),
    node: Type.String({ minLength: 1, description: 'Node the attachment lives on.' }),
    containerId: Type.String({ minLength: 1, description: 'CNI container ID.' }),
    ifname: Type.String({ minLength: 1, description: 'CNI interface name.' }),
    netns: Type.Optional(Type.String({ description: 'Network namespace path.' })),
    netnsId: Type.Optional(Type.String({ description: 'Identity (dev:ino) of the namespace at allocation.' })),
    network: Type.Optional(Type.String({ description: 'CNI network name.' })),
    allocatedAt: timestamp('When the IP was handed out.'),
    statefulSet: Type.Optional(
      Type.Object(
        {
          namespace: Type.String({ minLength: 1 }),
          name: Type.String({ minLength: 1 }),
          ordinal: Type.Integer({ minimum: 0 }),
        },
        { description: 'Stable identity that keeps the IP across restarts of a StatefulSet pod.' },
      ),
    ),
    vm: Type.Optional(
      Type.Object({ namespace: Type.String({ minLength: 1 }), name: Type.String({ minLength: 1 }) }, { description: 'KubeVirt VM that keeps the IP across restarts.' }),
    ),
    hold: Type.Optional(
      Type.Object(
        {
          reason: Type.Literal('ip-conflict'),
          mac: Type.String({ minLength: 1, description: 'MAC address that answered for the IP.' }),
          until: timestamp('When the hold ends and the IP is free again.'),
          detectedFor: Type.Optional(Type.String({ description: 'Pod (namespace/name) or container the IP was being given to.' })),
        },
        { description: 'The IP is held out of use, not by a pod: another host on the LAN answered for it. Freed by the agent of the node when the hold ends.' },
      ),
    ),
  },
  { description: 'Holder of the IP; absent once released.' },
);
export type IPAllocationOwner = Static<typeof IPAllocationOwnerSchema>;

/** `spec` of an IPAllocation (docs/adr/0005-allocation-records.md). */
export const IPAllocationSpecSchema = Type.Object({
  pool: Type.String({ minLength: 1, description: 'IPPool the IP belongs to.' }),
  ip: Type.String({ minLength: 1, description: 'The IP, canonical text.' }),
  owner: Type.Optional(IPAllocationOwnerSchema),
  releasedAt: Type.Optional(timestamp('When the IP was last released.')),
  reusableAt: Type.Optional(timestamp('Not handed out again before this time (cooldown of an IP reclaimed by garbage collection).')),
});
export type IPAllocationSpec = Static<typeof IPAllocationSpecSchema>;

/** `spec` of a ReservedIP. */
export const ReservedIPSpecSchema = Type.Object({
  ips: Type.Array(Type.String({ minLength: 1 }), { description: 'IPs or a-b ranges that no pool may hand out.' }),
});
export type ReservedIPSpec = Static<typeof ReservedIPSpecSchema>;

const metadata = Type.Object({ name: Type.String({ minLength: 1 }) });

function resource<K extends string, S extends TSchema>(kind: K, spec: S) {
  return Type.Object({
    apiVersion: Type.Literal(TIDEPOOL_API_VERSION),
    kind: Type.Literal(kind),
    metadata,
    spec,
  });
}

/** A whole IPPool object. */
export const IPPoolSchema = Type.Object({
  apiVersion: Type.Literal(TIDEPOOL_API_VERSION),
  kind: Type.Literal('IPPool'),
  metadata,
  spec: IPPoolSpecSchema,
  status: Type.Optional(IPPoolStatusSchema),
});
export type IPPoolResource = Static<typeof IPPoolSchema>;

/** A whole IPAllocation object. */
export const IPAllocationSchema = resource('IPAllocation', IPAllocationSpecSchema);
export type IPAllocationResource = Static<typeof IPAllocationSchema>;

/** A whole ReservedIP object. */
export const ReservedIPSchema = resource('ReservedIP', ReservedIPSpecSchema);
export type ReservedIPResource = Static<typeof ReservedIPSchema>;

/** Kinds validateRecord knows. */
export type TidepoolKind = 'IPPool' | 'IPAllocation' | 'ReservedIP';

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
}

interface CrdDefinition {
  kind: TidepoolKind;
  plural: string;
  singular: string;
  shortName: string;
  spec: TSchema;
  status?: TSchema;
  columns: PrinterColumn[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const DEFINITIONS: readonly CrdDefinition[] = [
  {
    kind: 'IPPool',
    plural: 'ippools',
    singular: 'ippool',
    shortName: 'tpool',
    spec: IPPoolSpecSchema,
    status: IPPoolStatusSchema,
    columns: [
      { name: 'Subnet', type: 'string', jsonPath: '.spec.subnet' },
      { name: 'Total', type: 'string', jsonPath: '.status.totalIPCount' },
      { name: 'Allocated', type: 'integer', jsonPath: '.status.allocatedIPCount' },
      { name: 'Default', type: 'boolean', jsonPath: '.spec.default' },
      { name: 'Disable', type: 'boolean', jsonPath: '.spec.disable' },
      AGE,
    ],
  },
  {
    kind: 'IPAllocation',
    plural: 'ipallocations',
    singular: 'ipallocation',
    shortName: 'tpalloc',
    spec: IPAllocationSpecSchema,
    columns: [
      { name: 'Pool', type: 'string', jsonPath: '.spec.pool' },
      { name: 'IP', type: 'string', jsonPath: '.spec.ip' },
      { name: 'Pod', type: 'string', jsonPath: '.spec.owner.podName' },
      { name: 'Node', type: 'string', jsonPath: '.spec.owner.node' },
      AGE,
    ],
  },
  {
    kind: 'ReservedIP',
    plural: 'reservedips',
    singular: 'reservedip',
    shortName: 'tpresv',
    spec: ReservedIPSpecSchema,
    columns: [AGE],
  },
];

/** A node of a Kubernetes structural schema (apiextensions.k8s.io/v1 JSONSchemaProps, the subset we emit). */
export type StructuralSchema = { [key: string]: unknown };

// Keywords passed through to the CRD unchanged; anything else must be handled
// explicitly or is refused, so a new TypeBox construct cannot silently produce
// a schema the API server rejects.
const PASS_THROUGH = new Set(['type', 'description', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'format', 'enum']);
const DROPPED = new Set(['$id', 'errorMessage']);
// Fixed key order so the generated YAML reads type-first, whatever order TypeBox used.
const KEY_ORDER = ['type', 'description', 'enum', 'format', 'pattern', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'required', 'properties', 'additionalProperties', 'items'];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Converts a TypeBox schema into a Kubernetes structural schema: string
 * literal unions become `enum`, records become `additionalProperties`,
 * `additionalProperties: false` is dropped (not allowed beside `properties`;
 * the API server prunes instead), TypeBox's `$id` and symbol keys vanish.
 * Throws on constructs a CRD cannot express, naming the path.
 */
export function planStructuralSchema(schema: unknown, path = '<root>'): StructuralSchema {
  if (!isPlainObject(schema)) throw new Error(`${path}: schema must be an object`);
  const out: StructuralSchema = {};
  if (Array.isArray(schema['anyOf'])) {
    const values = schema['anyOf'].map((s: unknown) => (isPlainObject(s) && typeof s['const'] === 'string' ? s['const'] : undefined));
    if (values.some((v) => v === undefined)) throw new Error(`${path}: only unions of string literals can be expressed in a CRD`);
    out['type'] = 'string';
    out['enum'] = values;
  }
  // Object.keys skips TypeBox's symbol-keyed metadata (Kind, OptionalKind).
  for (const [key, value] of Object.entries(schema)) {
    const at = `${path}.${key}`;
    if (key === 'anyOf' || DROPPED.has(key)) continue;
    if (PASS_THROUGH.has(key)) {
      out[key] = value;
    } else if (key === 'const') {
      out['type'] = typeof value;
      out['enum'] = [value];
    } else if (key === 'properties') {
      if (!isPlainObject(value)) throw new Error(`${at}: must be an object`);
      out['properties'] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, planStructuralSchema(v, `${path}.${k}`)]));
    } else if (key === 'required') {
      if (Array.isArray(value) && value.length > 0) out['required'] = [...value];
    } else if (key === 'items') {
      out['items'] = planStructuralSchema(value, `${path}[]`);
    } else if (key === 'patternProperties') {
      const entries = isPlainObject(value) ? Object.entries(value) : [];
      const only = entries.length === 1 ? entries[0] : undefined;
      if (only === undefined || only[0] !== '^(.*)$') throw new Error(`${at}: only string-keyed maps can be expressed in a CRD`);
      out['additionalProperties'] = planStructuralSchema(only[1], `${path}.*`);
    } else if (key === 'additionalProperties') {
      if (value === false || value === true) continue;
      out['additionalProperties'] = planStructuralSchema(value, `${path}.*`);
    } else {
      throw new Error(`${at}: keyword not supported in a CRD schema`);
    }
  }
  if (typeof out['type'] !== 'string') throw new Error(`${path}: a structural schema needs a type`);
  if (out['properties'] !== undefined && out['additionalProperties'] !== undefined) {
    throw new Error(`${path}: properties and additionalProperties cannot be combined in a CRD`);
  }
  const rank = (k: string): number => (KEY_ORDER.includes(k) ? KEY_ORDER.indexOf(k) : KEY_ORDER.length);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => rank(a) - rank(b)));
}

function openApiSchema(def: CrdDefinition): StructuralSchema {
  const properties: Record<string, StructuralSchema> = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { type: 'object' },
    spec: planStructuralSchema(def.spec, 'spec'),
  };
  if (def.status !== undefined) properties['status'] = planStructuralSchema(def.status, 'status');
  return { type: 'object', required: ['spec'], properties };
}

/**
 * The three apiextensions.k8s.io/v1 CustomResourceDefinitions (IPPool,
 * IPAllocation, ReservedIP), cluster-scoped, with structural schemas derived
 * from the TypeBox schemas above.
 */
export function planCrdManifests(): object[] {
  return DEFINITIONS.map((def) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${TIDEPOOL_GROUP}` },
    spec: {
      group: TIDEPOOL_GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [def.shortName],
        categories: ['tidepool'],
      },
      scope: 'Cluster',
      versions: [
        {
          name: TIDEPOOL_VERSION,
          served: true,
          storage: true,
          ...(def.status === undefined ? {} : { subresources: { status: {} } }),
          additionalPrinterColumns: def.columns,
          schema: { openAPIV3Schema: openApiSchema(def) },
        },
      ],
    },
  }));
}

/** First line of every generated CRD file. */
export const CRD_FILE_HEADER = '# Generated by scripts/gen-crds.ts from src/api/crd-schemas.ts; do not edit.\n';

/** A generated file: its name under deploy/tidepool/crds/ and its exact text. */
export interface CrdFile {
  readonly fileName: string;
  readonly text: string;
}

/** The exact contents of deploy/tidepool/crds/, one file per CRD named after it. */
export function planCrdFiles(): CrdFile[] {
  return planCrdManifests().map((crd) => {
    const name = (crd as { metadata: { name: string } }).metadata.name;
    // lineWidth 0: folded descriptions would make diffs of the generated files noisy.
    return { fileName: `${name}.yaml`, text: CRD_FILE_HEADER + stringify(crd, { lineWidth: 0 }) };
  });
}

const RECORD_SCHEMAS: Readonly<Record<TidepoolKind, TSchema>> = {
  IPPool: IPPoolSchema,
  IPAllocation: IPAllocationSchema,
  ReservedIP: ReservedIPSchema,
};

/**
 * The API server drops nulls of fields that are not nullable before it
 * stores or validates an object; doing the same here makes a record mean
 * what it would mean in the cluster (YAML `key:` is null too).
 */
function pruneNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(pruneNulls);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = pruneNulls(x);
  return out;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `/spec/ips/0` → `spec.ips[0]`; map keys that are not identifiers (label keys) are bracketed. */
function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^(0|[1-9][0-9]*)$/.test(part)) out += `[${part}]`;
    else if (IDENTIFIER.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function errorText(schema: unknown, message: string): string {
  if (!isPlainObject(schema)) return message;
  if (typeof schema['errorMessage'] === 'string') return schema['errorMessage'];
  if (Array.isArray(schema['anyOf'])) {
    const consts = schema['anyOf'].map((s: unknown) => (isPlainObject(s) ? s['const'] : undefined));
    if (consts.every((c) => typeof c === 'string')) return `Expected one of ${consts.join(', ')}`;
  }
  return message;
}

const COMPILED = {
  IPPool: TypeCompiler.Compile(IPPoolSchema),
  IPAllocation: TypeCompiler.Compile(IPAllocationSchema),
  ReservedIP: TypeCompiler.Compile(ReservedIPSchema),
} as const;

/**
 * Checks a tidepool record against its kind's schema, after pruning nulls as
 * the API server does. Returns one `path: message` line per offending field
 * (e.g. `spec.owner.ifname: Expected string`), the first problem TypeBox
 * reports for each field; empty when the record is well-formed. Shape only: semantic
 * checks (valid CIDRs, IPs inside subnets) are planPool's and its kin's.
 */
export function validateRecord(kind: TidepoolKind, obj: unknown): string[] {
  const schema = RECORD_SCHEMAS[kind];
  const pruned = pruneNulls(obj);
  // The compiled check is fast; the error walk runs only for records that fail it.
  if (COMPILED[kind].Check(pruned)) return [];
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of Value.Errors(schema, pruned)) {
    const path = fieldPath(e.path);
    if (seen.has(path)) continue;
    seen.add(path);
    const text = errorText(e.schema, e.message);
    out.push(path === '' ? text : `${path}: ${text}`);
  }
  return out;
}
