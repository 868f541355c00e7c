// The field types of the kinds the server serves, as k8s.io/api declares
// them (core/v1, apps/v1, coordination/v1, admissionregistration/v1 and
// meta/v1's ObjectMeta and LabelSelector). Only what differs from LOOSE is
// written down: lists merged or keyed, sets, atomic structs, free-key maps.
// Custom resources are LOOSE under a typed metadata, which is what their
// structural schemas make of tidepool's CRDs (objects with properties, lists
// without x-kubernetes-list-type).
import type { KindSpec } from '../kinds.ts';
import { ATOMIC_STRUCT, keyedList, map, MERGE_SET, mergeList, struct, type FieldType, type StructType } from './field-types.ts';

const OBJECT_META = struct({
  labels: map(),
  annotations: map(),
  ownerReferences: mergeList('uid', ATOMIC_STRUCT),
  finalizers: MERGE_SET,
});

const LABEL_SELECTOR = struct({ matchLabels: map() }, { atomic: true });

const CONTAINER = struct({
  ports: mergeList('containerPort', struct({}), { keys: ['containerPort', 'protocol'], keyDefaults: { protocol: 'TCP' } }),
  env: mergeList(
    'name',
    struct({ valueFrom: struct({ fieldRef: ATOMIC_STRUCT, resourceFieldRef: ATOMIC_STRUCT, configMapKeyRef: ATOMIC_STRUCT, secretKeyRef: ATOMIC_STRUCT, fileKeyRef: ATOMIC_STRUCT }) }),
  ),
  resources: struct({ limits: map(), requests: map(), claims: keyedList(['name']) }),
  volumeMounts: mergeList('mountPath'),
  volumeDevices: mergeList('devicePath'),
});

const VOLUME = struct({ csi: struct({ volumeAttributes: map(), nodePublishSecretRef: ATOMIC_STRUCT }) });

const POD_SPEC = struct({
  volumes: mergeList('name', VOLUME),
  initContainers: mergeList('name', CONTAINER),
  containers: mergeList('name', CONTAINER),
  ephemeralContainers: mergeList('name', CONTAINER),
  nodeSelector: map(undefined, { atomic: true }),
  imagePullSecrets: mergeList('name', ATOMIC_STRUCT),
  hostAliases: mergeList('ip'),
  topologySpreadConstraints: mergeList('topologyKey', struct({ labelSelector: LABEL_SELECTOR }), { keys: ['topologyKey', 'whenUnsatisfiable'] }),
  schedulingGates: mergeList('name'),
  resourceClaims: mergeList('name'),
  overhead: map(),
  affinity: struct({ nodeAffinity: struct({ requiredDuringSchedulingIgnoredDuringExecution: ATOMIC_STRUCT }) }),
});

const POD_STATUS = struct({
  conditions: mergeList('type'),
  hostIPs: mergeList('ip', struct({}), { listType: 'atomic' }),
  podIPs: mergeList('ip'),
  resourceClaimStatuses: mergeList('name'),
});

const CONDITIONS_STATUS = struct({ conditions: mergeList('type') });

const TOP: Record<string, FieldType> = { metadata: OBJECT_META };

const POD = struct({ ...TOP, spec: POD_SPEC, status: POD_STATUS });

const NAMESPACE = struct({ ...TOP, spec: struct({}), status: CONDITIONS_STATUS });

const NODE = struct({
  ...TOP,
  spec: struct({ podCIDRs: MERGE_SET }),
  status: struct({ conditions: mergeList('type'), addresses: mergeList('type'), capacity: map(), allocatable: map() }),
});

const EVENT = struct({ ...TOP, involvedObject: ATOMIC_STRUCT, related: ATOMIC_STRUCT });

const STATEFUL_SET = struct({
  ...TOP,
  spec: struct({ selector: LABEL_SELECTOR, template: struct({ metadata: OBJECT_META, spec: POD_SPEC }) }),
  status: CONDITIONS_STATUS,
});

const LEASE = struct({ ...TOP });

const WEBHOOK_CONFIGURATION = struct({
  ...TOP,
  webhooks: mergeList('name', struct({ matchConditions: mergeList('name'), namespaceSelector: LABEL_SELECTOR, objectSelector: LABEL_SELECTOR })),
});

const CUSTOM_RESOURCE = struct({ ...TOP });

/** What a built-in kind's Go zero value encodes to: the fields its JSON always carries. */
interface BuiltinType {
  readonly type: StructType;
  readonly zero: Record<string, unknown>;
}

const BUILTIN: Record<string, BuiltinType> = {
  '/Pod': { type: POD, zero: { metadata: {}, spec: { containers: null }, status: {} } },
  '/Namespace': { type: NAMESPACE, zero: { metadata: {}, spec: {}, status: {} } },
  '/Node': { type: NODE, zero: { metadata: {}, spec: {}, status: {} } },
  '/Event': { type: EVENT, zero: { metadata: {}, involvedObject: {}, source: {}, reportingComponent: '', reportingInstance: '', firstTimestamp: null, lastTimestamp: null, eventTime: null } },
  'apps/StatefulSet': {
    type: STATEFUL_SET,
    zero: { metadata: {}, spec: { selector: null, template: { metadata: {}, spec: { containers: null } }, serviceName: '' }, status: { replicas: 0, availableReplicas: 0 } },
  },
  'coordination.k8s.io/Lease': { type: LEASE, zero: { metadata: {}, spec: {} } },
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration': { type: WEBHOOK_CONFIGURATION, zero: { metadata: {} } },
};

const builtin = (spec: KindSpec): BuiltinType | undefined => (spec.customResource ? undefined : BUILTIN[`${spec.group}/${spec.kind}`]);

/** The field types of a kind's objects. */
export function kindType(spec: KindSpec): StructType {
  return builtin(spec)?.type ?? CUSTOM_RESOURCE;
}

/**
 * The object a create starts from, as the real server's `New()` encodes it:
 * fields it holds count as present before the create, so creating does not
 * make their containers (a pod's `spec`, a list's `containers`) the creator's.
 */
export function zeroObject(spec: KindSpec): Record<string, unknown> {
  return structuredClone(builtin(spec)?.zero ?? {});
}
