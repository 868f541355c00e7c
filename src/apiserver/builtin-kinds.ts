// The built-in kinds the API server serves and each one's own rules, as the
// real server's strategies have them. Only the rules that tidepool's code
// can observe are modelled; README.md lists them.
import type { FieldError } from './status.ts';
import { parseLabelSelector, SelectorError } from './selectors.ts';
import { dns1123Label, dns1123Subdomain, quote } from './validation.ts';
import { validateEvent } from './event-rules.ts';
import { prepareNamespaceUpdate, validateNamespace } from './builtin/namespace.ts';
import { daemonsets, deployments, jobs, replicasets } from './builtin/workloads.ts';
import { builtinKind, getPath, isRecord, jsonEqual, pathGetter, record, str, type KindSpec } from './kinds.ts';
import { defaultWebhookConfiguration, validateWebhookConfiguration } from './webhooks/configuration.ts';

export function validateContainers(spec: Record<string, unknown>, field: string, required: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const list = spec[field];
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0)) {
    if (required) errs.push({ field: `spec.${field}`, type: 'Required value', detail: '' });
    return errs;
  }
  if (!Array.isArray(list)) return [{ field: `spec.${field}`, type: 'Invalid value', detail: 'must be a list' }];
  const seen = new Set<string>();
  list.forEach((c: unknown, i) => {
    const base = `spec.${field}[${i}]`;
    if (!isRecord(c)) return void errs.push({ field: base, type: 'Invalid value', detail: 'must be an object' });
    const name = c['name'];
    if (typeof name !== 'string' || name === '') errs.push({ field: `${base}.name`, type: 'Required value', detail: '' });
    else {
      for (const e of dns1123Label(name)) errs.push({ field: `${base}.name`, type: 'Invalid value', detail: `${quote(name)}: ${e}` });
      if (seen.has(name)) errs.push({ field: `${base}.name`, type: 'Duplicate value', detail: quote(name) });
      seen.add(name);
    }
    if (typeof c['image'] !== 'string' || c['image'] === '') errs.push({ field: `${base}.image`, type: 'Required value', detail: '' });
  });
  return errs;
}

export function defaultContainers(list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const c of list) {
    if (!isRecord(c)) continue;
    c['terminationMessagePath'] ??= '/dev/termination-log';
    c['terminationMessagePolicy'] ??= 'File';
    if (c['imagePullPolicy'] === undefined && typeof c['image'] === 'string') {
      const image = c['image'];
      const tag = image.includes('@') ? 'digest' : /:[^/]+$/.exec(image)?.[0].slice(1);
      c['imagePullPolicy'] = tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
    }
  }
}

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** The parts of a pod spec that updates may not change. */
function immutablePodSpec(spec: unknown): unknown {
  const s: Record<string, unknown> = isRecord(spec) ? structuredClone(spec) : {};
  for (const k of ['containers', 'initContainers']) {
    const list = s[k];
    if (Array.isArray(list)) for (const c of list) if (isRecord(c)) delete c['image'];
  }
  delete s['activeDeadlineSeconds'];
  delete s['tolerations'];
  delete s['terminationGracePeriodSeconds'];
  delete s['schedulingGates'];
  return s;
}


const pods = builtinKind({
  group: '',
  version: 'v1',
  plural: 'pods',
  kind: 'Pod',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['po'],
  returnDeletedObject: true,
  hasGeneration: true,
  gracefulDeletion: true,
  subresources: ['status', 'binding'],
  fieldLabels: {
    'spec.nodeName': pathGetter('spec.nodeName'),
    'spec.restartPolicy': pathGetter('spec.restartPolicy'),
    'spec.schedulerName': pathGetter('spec.schedulerName'),
    'spec.serviceAccountName': pathGetter('spec.serviceAccountName'),
    'spec.hostNetwork': (o) => (getPath(o, 'spec.hostNetwork') === true ? 'true' : 'false'),
    'status.phase': pathGetter('status.phase'),
    'status.podIP': pathGetter('status.podIP'),
    'status.nominatedNodeName': pathGetter('status.nominatedNodeName'),
  },
  defaults(o) {
    const spec = record(o, 'spec');
    spec['restartPolicy'] ??= 'Always';
    spec['dnsPolicy'] ??= 'ClusterFirst';
    spec['schedulerName'] ??= 'default-scheduler';
    spec['terminationGracePeriodSeconds'] ??= 30;
    defaultContainers(spec['containers']);
    defaultContainers(spec['initContainers']);
  },
  prepareForCreate(o) {
    o['status'] = { phase: 'Pending' };
  },
  validate(o) {
    const spec = isRecord(o['spec']) ? o['spec'] : {};
    const errs = [...validateContainers(spec, 'containers', true), ...validateContainers(spec, 'initContainers', false)];
    const nodeName = spec['nodeName'];
    if (typeof nodeName === 'string' && nodeName !== '')
      for (const e of dns1123Subdomain(nodeName)) errs.push({ field: 'spec.nodeName', type: 'Invalid value', detail: `${quote(nodeName)}: ${e}` });
    const restart = spec['restartPolicy'];
    if (!['Always', 'OnFailure', 'Never'].includes(str(restart)))
      errs.push({ field: 'spec.restartPolicy', type: 'Unsupported value', detail: `${quote(restart)}: supported values: "Always", "OnFailure", "Never"` });
    const grace = spec['terminationGracePeriodSeconds'];
    if (typeof grace !== 'number' || !Number.isInteger(grace)) errs.push({ field: 'spec.terminationGracePeriodSeconds', type: 'Invalid value', detail: `${quote(grace)}: must be an integer` });
    return errs;
  },
  validateUpdate(o, old) {
    if (jsonEqual(immutablePodSpec(o['spec']), immutablePodSpec(old['spec']))) return [];
    return [{ field: 'spec', type: 'Forbidden', detail: POD_UPDATE_FORBIDDEN }];
  },
});

const namespaces = builtinKind({
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
  statusSubresource: true,
  shortNames: ['ns'],
  returnDeletedObject: true,
  nameRule: 'label',
  subresources: ['status', 'finalize'],
  fieldLabels: { 'status.phase': pathGetter('status.phase'), name: (o) => str(o.metadata.name) },
  prepareForUpdate: prepareNamespaceUpdate,
  validate: validateNamespace,
  defaults(o) {
    // Since 1.21 every namespace carries its own name as an immutable label.
    const name = o.metadata.name;
    if (name) o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
  },
  prepareForCreate(o) {
    const spec = record(o, 'spec');
    spec['finalizers'] = ['kubernetes'];
    o['status'] = { phase: 'Active' };
  },
});

const nodes = builtinKind({
  group: '',
  version: 'v1',
  plural: 'nodes',
  kind: 'Node',
  namespaced: false,
  statusSubresource: true,
  shortNames: ['no'],
  fieldLabels: { 'spec.unschedulable': (o) => (getPath(o, 'spec.unschedulable') === true ? 'true' : 'false') },
});

const events = builtinKind({
  group: '',
  version: 'v1',
  plural: 'events',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  allowCreateOnUpdate: true,
  fieldLabels: {
    'involvedObject.kind': pathGetter('involvedObject.kind'),
    'involvedObject.namespace': pathGetter('involvedObject.namespace'),
    'involvedObject.name': pathGetter('involvedObject.name'),
    'involvedObject.uid': pathGetter('involvedObject.uid'),
    'involvedObject.apiVersion': pathGetter('involvedObject.apiVersion'),
    'involvedObject.resourceVersion': pathGetter('involvedObject.resourceVersion'),
    'involvedObject.fieldPath': pathGetter('involvedObject.fieldPath'),
    reason: pathGetter('reason'),
    reportingComponent: pathGetter('reportingComponent'),
    source: pathGetter('source.component'),
    type: pathGetter('type'),
  },
  validate: validateEvent,
});

const STATEFULSET_UPDATE_FORBIDDEN =
  "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

export function selectorMatchesTemplate(spec: Record<string, unknown>, kind = 'statefulset'): FieldError[] {
  const sel = spec['selector'];
  if (!isRecord(sel) || (sel['matchLabels'] === undefined && sel['matchExpressions'] === undefined))
    return [{ field: 'spec.selector', type: 'Invalid value', detail: `empty selector is invalid for ${kind}` }];
  const terms: string[] = [];
  if (isRecord(sel['matchLabels'])) for (const [k, v] of Object.entries(sel['matchLabels'])) terms.push(`${k}=${str(v)}`);
  if (Array.isArray(sel['matchExpressions']))
    for (const e of sel['matchExpressions']) {
      if (!isRecord(e)) continue;
      const values = Array.isArray(e['values']) ? e['values'].map(str) : [];
      const op = str(e['operator']);
      if (op === 'In') terms.push(`${str(e['key'])} in (${values.join(',')})`);
      else if (op === 'NotIn') terms.push(`${str(e['key'])} notin (${values.join(',')})`);
      else if (op === 'Exists') terms.push(str(e['key']));
      else if (op === 'DoesNotExist') terms.push(`!${str(e['key'])}`);
      else return [{ field: 'spec.selector.matchExpressions', type: 'Unsupported value', detail: quote(op) }];
    }
  let ok: boolean;
  try {
    ok = parseLabelSelector(terms.join(',')).matches(getPath(spec, 'template.metadata.labels') as Record<string, string> | undefined);
  } catch (e) {
    if (e instanceof SelectorError) return [{ field: 'spec.selector', type: 'Invalid value', detail: e.message }];
    throw e;
  }
  return ok ? [] : [{ field: 'spec.template.metadata.labels', type: 'Invalid value', detail: `${JSON.stringify(getPath(spec, 'template.metadata.labels') ?? {})}: \`selector\` does not match template \`labels\`` }];
}

const statefulsets = builtinKind({
  group: 'apps',
  version: 'v1',
  plural: 'statefulsets',
  kind: 'StatefulSet',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['sts'],
  hasGeneration: true,
  defaults(o) {
    const spec = record(o, 'spec');
    spec['replicas'] ??= 1;
    spec['podManagementPolicy'] ??= 'OrderedReady';
    spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
    spec['revisionHistoryLimit'] ??= 10;
    spec['persistentVolumeClaimRetentionPolicy'] ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
  },
  prepareForCreate(o) {
    o['status'] = { replicas: 0, availableReplicas: 0 };
  },
  validate(o) {
    const spec = isRecord(o['spec']) ? o['spec'] : {};
    const errs = selectorMatchesTemplate(spec);
    const replicas = spec['replicas'];
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
      errs.push({ field: 'spec.replicas', type: 'Invalid value', detail: `${quote(replicas)}: must be greater than or equal to 0` });
    const template = getPath(spec, 'template.spec');
    errs.push(...validateContainers(isRecord(template) ? template : {}, 'containers', true).map((e) => ({ ...e, field: e.field.replace(/^spec\./, 'spec.template.spec.') })));
    return errs;
  },
  validateUpdate(o, old) {
    const strip = (s: unknown): unknown => {
      const c: Record<string, unknown> = isRecord(s) ? structuredClone(s) : {};
      for (const k of ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds', 'revisionHistoryLimit']) delete c[k];
      return c;
    };
    return jsonEqual(strip(o['spec']), strip(old['spec'])) ? [] : [{ field: 'spec', type: 'Forbidden', detail: STATEFULSET_UPDATE_FORBIDDEN }];
  },
});

/** Coordinated leader election's fields: a known strategy, and a preferred holder only with one. */
function validateLeaseStrategy(strategy: unknown, preferredHolder: unknown): FieldError[] {
  const errs: FieldError[] = [];
  if (typeof strategy === 'string' && strategy !== 'OldestEmulationVersion')
    errs.push({ field: 'spec.strategy', type: 'Unsupported value', detail: `${quote(strategy)}: supported values: "OldestEmulationVersion"` });
  if (typeof preferredHolder === 'string' && preferredHolder !== '' && (typeof strategy !== 'string' || strategy === ''))
    errs.push({ field: 'spec.preferredHolder', type: 'Forbidden', detail: 'may only be specified if `strategy` is defined' });
  return errs;
}

const leases = builtinKind({
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
  validate(o) {
    const errs: FieldError[] = [];
    const d = getPath(o, 'spec.leaseDurationSeconds');
    if (d !== undefined && d !== null && (typeof d !== 'number' || d <= 0)) errs.push({ field: 'spec.leaseDurationSeconds', type: 'Invalid value', detail: `${quote(d)}: must be greater than 0` });
    const t = getPath(o, 'spec.leaseTransitions');
    if (t !== undefined && t !== null && (typeof t !== 'number' || t < 0)) errs.push({ field: 'spec.leaseTransitions', type: 'Invalid value', detail: `${quote(t)}: must be greater than or equal to 0` });
    errs.push(...validateLeaseStrategy(getPath(o, 'spec.strategy'), getPath(o, 'spec.preferredHolder')));
    return errs;
  },
});

const webhookConfigurations = builtinKind({
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  plural: 'validatingwebhookconfigurations',
  kind: 'ValidatingWebhookConfiguration',
  namespaced: false,
  hasGeneration: true,
  defaults: defaultWebhookConfiguration,
  validate: validateWebhookConfiguration,
});

/** Every built-in kind (tidepool's custom resources are not among them). The specs are never mutated, so servers may share them. */
export function builtinKinds(): KindSpec[] {
  return [namespaces, nodes, pods, events, statefulsets, replicasets, deployments, daemonsets, jobs, leases, webhookConfigurations];
}
