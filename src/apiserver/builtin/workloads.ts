// The workload kinds whose objects own pods: ReplicaSets, Deployments,
// DaemonSets (apps/v1) and Jobs (batch/v1). No controller reconciles them
// here; they are served so that pods can name real owners, and so that
// deleting an owner cascades as in a cluster (the garbage collector in
// controllers/). Defaulting and validation cover what their owners' clients
// send: replicas, the selector matching the template, the template's
// containers, a Job's restart policy and generated selector.
import { defaultContainers, selectorMatchesTemplate, validateContainers } from '../builtin-kinds.ts';
import type { KubeObject } from '../kinds.ts';
import { builtinKind, getPath, isRecord, pathGetter, record } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { quote } from '../validation.ts';

/** SetDefaults_PodSpec for a template's pod spec. */
function defaultTemplate(spec: Record<string, unknown>): void {
  const template = isRecord(spec['template']) ? spec['template'] : undefined;
  const podSpec = template && isRecord(template['spec']) ? template['spec'] : undefined;
  if (!podSpec) return;
  podSpec['restartPolicy'] ??= 'Always';
  podSpec['dnsPolicy'] ??= 'ClusterFirst';
  podSpec['schedulerName'] ??= 'default-scheduler';
  podSpec['terminationGracePeriodSeconds'] ??= 30;
  defaultContainers(podSpec['containers']);
  defaultContainers(podSpec['initContainers']);
}

function nonNegative(spec: Record<string, unknown>, field: string): FieldError[] {
  const v = spec[field];
  if (v === undefined || v === null) return [];
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return [];
  return [{ field: `spec.${field}`, type: 'Invalid value', detail: `${quote(v)}: must be greater than or equal to 0` }];
}

function templateContainers(spec: Record<string, unknown>): FieldError[] {
  const podSpec = getPath(spec, 'template.spec');
  return validateContainers(isRecord(podSpec) ? podSpec : {}, 'containers', true).map((e) => ({ ...e, field: e.field.replace(/^spec\./, 'spec.template.spec.') }));
}

function validateReplicated(selectorKind: string) {
  return (o: KubeObject): FieldError[] => {
    const spec = isRecord(o['spec']) ? o['spec'] : {};
    return [...nonNegative(spec, 'replicas'), ...nonNegative(spec, 'minReadySeconds'), ...selectorMatchesTemplate(spec, selectorKind), ...templateContainers(spec)];
  };
}

export const replicasets = builtinKind({
  group: 'apps',
  version: 'v1',
  plural: 'replicasets',
  kind: 'ReplicaSet',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['rs'],
  hasGeneration: true,
  fieldLabels: { 'status.replicas': pathGetter('status.replicas') },
  defaults(o) {
    const spec = record(o, 'spec');
    spec['replicas'] ??= 1;
    defaultTemplate(spec);
  },
  prepareForCreate(o) {
    o['status'] = { replicas: 0 };
  },
  // The real ReplicaSet validation says "deployment" here.
  validate: validateReplicated('deployment'),
});

export const deployments = builtinKind({
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  kind: 'Deployment',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['deploy'],
  hasGeneration: true,
  defaults(o) {
    const spec = record(o, 'spec');
    spec['replicas'] ??= 1;
    spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
    spec['revisionHistoryLimit'] ??= 10;
    spec['progressDeadlineSeconds'] ??= 600;
    defaultTemplate(spec);
  },
  prepareForCreate(o) {
    delete o['status'];
  },
  validate: validateReplicated('deployment'),
});

export const daemonsets = builtinKind({
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
  statusSubresource: true,
  shortNames: ['ds'],
  hasGeneration: true,
  defaults(o) {
    const spec = record(o, 'spec');
    spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
    spec['revisionHistoryLimit'] ??= 10;
    defaultTemplate(spec);
  },
  prepareForCreate(o) {
    o['status'] = { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
  },
  validate(o) {
    const spec = isRecord(o['spec']) ? o['spec'] : {};
    return [...nonNegative(spec, 'minReadySeconds'), ...selectorMatchesTemplate(spec, 'daemonset'), ...templateContainers(spec)];
  },
});

/** The job strategy's generated selector: the Job's uid, in a label its pods carry. */
function generateJobSelector(o: KubeObject): void {
  const spec = record(o, 'spec');
  if (spec['manualSelector'] === true) return;
  const uid = o.metadata.uid ?? '';
  const name = o.metadata.name ?? '';
  spec['selector'] = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  const template = isRecord(spec['template']) ? spec['template'] : (spec['template'] = {});
  const meta = isRecord((template as Record<string, unknown>)['metadata']) ? ((template as Record<string, unknown>)['metadata'] as Record<string, unknown>) : ((template as Record<string, unknown>)['metadata'] = {});
  const labels = isRecord(meta['labels']) ? meta['labels'] : {};
  meta['labels'] = { ...labels, 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
}

function validateJob(o: KubeObject): FieldError[] {
  const spec = isRecord(o['spec']) ? o['spec'] : {};
  const errs = [...nonNegative(spec, 'parallelism'), ...nonNegative(spec, 'completions'), ...nonNegative(spec, 'backoffLimit'), ...templateContainers(spec)];
  // Whatever else it holds (the template's default is Always), the real message is "Required value".
  const restart = getPath(spec, 'template.spec.restartPolicy');
  if (restart !== 'OnFailure' && restart !== 'Never') errs.push({ field: 'spec.template.spec.restartPolicy', type: 'Required value', detail: 'valid values: "OnFailure", "Never"' });
  return errs;
}

export const jobs = builtinKind({
  group: 'batch',
  version: 'v1',
  plural: 'jobs',
  kind: 'Job',
  namespaced: true,
  statusSubresource: true,
  hasGeneration: true,
  // batch/v1 keeps its pods when deleted without a propagation policy, for backward compatibility.
  orphanDependentsByDefault: true,
  fieldLabels: { 'status.successful': pathGetter('status.successful') },
  defaults(o) {
    const spec = record(o, 'spec');
    spec['parallelism'] ??= 1;
    spec['completions'] ??= 1;
    spec['backoffLimit'] ??= 6;
    spec['completionMode'] ??= 'NonIndexed';
    spec['suspend'] ??= false;
    spec['podReplacementPolicy'] ??= 'TerminatingOrFailed';
    defaultTemplate(spec);
  },
  prepareForCreate(o) {
    delete o['status'];
    generateJobSelector(o);
  },
  validate: validateJob,
});
