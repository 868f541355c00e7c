import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { planCrdFiles } from '../src/api/crd-schemas.ts';
import type { RenderOptions, TemplateContext } from './helpers/helm-template.ts';
import { HelmTemplateError, mergeValues, renderChart, renderTemplate } from './helpers/helm-template.ts';

const CHART = join(import.meta.dirname, '..', 'deploy', 'tidepool');

// Loose views of the rendered objects: only what the assertions read.
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [key: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy: string;
  command: string[];
  args: string[];
  env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  resources?: unknown;
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  hostNetwork?: boolean;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  initContainers?: Container[];
  containers: Container[];
  volumes?: { name: string; hostPath?: { path: string } }[];
}
interface Workload extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Service extends K8sObject {
  spec: { clusterIP?: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
}
interface WebhookConfig extends K8sObject {
  webhooks: {
    name: string;
    failurePolicy: string;
    sideEffects: string;
    admissionReviewVersions: string[];
    clientConfig: { caBundle?: string; service: { name: string; namespace: string; path: string; port: number } };
    rules: { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope?: string }[];
  }[];
}

function render(options: RenderOptions = {}): K8sObject[] {
  const out: K8sObject[] = [];
  for (const t of renderChart(CHART, options)) {
    for (const doc of parseAllDocuments(t.text)) {
      assert.deepEqual(doc.errors, [], `${t.file} is not valid YAML`);
      const value = doc.toJS() as unknown;
      if (value === null) continue;
      out.push(value as K8sObject);
    }
  }
  return out;
}

function find<T extends K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as T;
}

function container(w: Workload, name: string, init = false): Container {
  const list = init ? w.spec.template.spec.initContainers : w.spec.template.spec.containers;
  const c = list?.find((x) => x.name === name);
  assert.ok(c, `no ${init ? 'init ' : ''}container ${name} in ${w.metadata.name}`);
  return c;
}

/** Rules as `group/resource[/name]: verb` strings, one per pair, sorted, so granted access compares exactly. */
function grants(rules: Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups) {
      for (const res of r.resources) {
        const names = r.resourceNames ?? [''];
        for (const n of names) for (const v of r.verbs) out.push(`${g === '' ? 'core' : g}/${res}${n === '' ? '' : `/${n}`}: ${v}`);
      }
    }
  }
  return out.sort();
}

const expand = (target: string, verbs: string[]): string[] => verbs.map((v) => `${target}: ${v}`);
const READ = ['get', 'list', 'watch'];
const EVENTS = expand('core/events', ['create']);

const defaults = render();

describe('chart objects', () => {
  test('kinds and names with default values', () => {
    const names = defaults.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(names, [
      'ClusterRole/tidepool-agent',
      'ClusterRole/tidepool-controller',
      'ClusterRoleBinding/tidepool-agent',
      'ClusterRoleBinding/tidepool-controller',
      'DaemonSet/tidepool-agent',
      'Deployment/tidepool-controller',
      'Role/tidepool-controller',
      'RoleBinding/tidepool-controller',
      'Service/tidepool-agent-metrics',
      'Service/tidepool-controller-metrics',
      'Service/tidepool-controller-webhook',
      'ServiceAccount/tidepool-agent',
      'ServiceAccount/tidepool-controller',
      'ValidatingWebhookConfiguration/tidepool',
    ]);
  });

  test('every object has apiVersion, kind, name and the common labels; namespaced ones are in the release namespace', () => {
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration']);
    for (const options of [{}, { namespace: 'ipam', releaseName: 'tp' }]) {
      for (const o of render(options)) {
        const what = `${o.kind}/${o.metadata?.name}`;
        assert.ok(typeof o.apiVersion === 'string' && o.apiVersion !== '', `${what}: apiVersion`);
        assert.ok(typeof o.kind === 'string' && o.kind !== '', `${what}: kind`);
        assert.ok(typeof o.metadata.name === 'string' && o.metadata.name !== '', `${what}: metadata.name`);
        assert.deepEqual(
          { ...o.metadata.labels, 'app.kubernetes.io/component': undefined },
          {
            'app.kubernetes.io/name': 'tidepool',
            'app.kubernetes.io/instance': options.releaseName ?? 'tidepool',
            'app.kubernetes.io/version': '0.1.0',
            'app.kubernetes.io/managed-by': 'Helm',
            'app.kubernetes.io/part-of': 'tidepool',
            'app.kubernetes.io/component': undefined,
          },
          `${what}: labels`,
        );
        assert.ok(['agent', 'controller'].includes(o.metadata.labels?.['app.kubernetes.io/component'] ?? ''), `${what}: component label`);
        assert.equal(o.metadata.namespace, clusterScoped.has(o.kind) ? undefined : (options.namespace ?? 'kube-system'), `${what}: namespace`);
      }
    }
  });

  test('workload selectors match their pod labels, and services select the right pods by port name', () => {
    const agent = find<Workload>(defaults, 'DaemonSet', 'tidepool-agent');
    const controller = find<Workload>(defaults, 'Deployment', 'tidepool-controller');
    for (const w of [agent, controller]) {
      for (const [k, v] of Object.entries(w.spec.selector.matchLabels)) assert.equal(w.spec.template.metadata.labels[k], v, `${w.metadata.name}: ${k}`);
      assert.ok(!('app.kubernetes.io/version' in w.spec.selector.matchLabels), 'selectors are immutable, so they must not carry the version');
    }
    const targets: [string, Workload, number][] = [
      ['tidepool-controller-webhook', controller, 9443],
      ['tidepool-agent-metrics', agent, 9714],
      ['tidepool-controller-metrics', controller, 9715],
    ];
    for (const [name, w, port] of targets) {
      const svc = find<Service>(defaults, 'Service', name);
      assert.deepEqual(svc.spec.selector, w.spec.selector.matchLabels, `${name} selects ${w.metadata.name}`);
      const target = svc.spec.ports[0]?.targetPort;
      const c = w.spec.template.spec.containers[0];
      assert.equal(c?.ports?.find((p) => p.name === target)?.containerPort, port, `${name} targets port ${port}`);
    }
    assert.equal(find<Service>(defaults, 'Service', 'tidepool-controller-webhook').spec.ports[0]?.port, 443);
  });

  test('CRDs in crds/ are exactly the generated ones', () => {
    const dir = join(CHART, 'crds');
    const files = planCrdFiles();
    assert.deepEqual(readdirSync(dir).sort(), files.map((f) => f.fileName).sort());
    for (const f of files) {
      const text = readFileSync(join(dir, f.fileName), 'utf8');
      assert.ok(text === f.text, `crds/${f.fileName} is stale: run node --import tsx scripts/gen-crds.ts`);
      const crd = parse(text) as K8sObject;
      assert.equal(crd.kind, 'CustomResourceDefinition');
      // crds/ is installed verbatim by Helm, so template syntax there would be applied literally.
      assert.ok(!text.includes('{{'), `crds/${f.fileName} must not contain template syntax`);
    }
  });
});

describe('RBAC is least privilege', () => {
  test('agent ClusterRole grants exactly what the agent needs', () => {
    const role = find<K8sObject & { rules: Rule[] }>(defaults, 'ClusterRole', 'tidepool-agent');
    assert.deepEqual(
      grants(role.rules),
      [
        ...expand('core/pods', READ),
        ...expand('core/namespaces', READ),
        ...expand('core/nodes', READ),
        ...expand('tidepool.dev/ipallocations', [...READ, 'create', 'update']),
        ...expand('tidepool.dev/ippools', READ),
        ...expand('tidepool.dev/reservedips', READ),
        ...expand('apps/statefulsets', ['get']),
        ...expand('kubevirt.io/virtualmachines', ['get']),
        ...EVENTS,
      ].sort(),
    );
  });

  test('controller ClusterRole grants exactly what the controller needs', () => {
    const role = find<K8sObject & { rules: Rule[] }>(defaults, 'ClusterRole', 'tidepool-controller');
    assert.deepEqual(
      grants(role.rules),
      [
        ...expand('core/pods', READ),
        ...expand('core/nodes', READ),
        ...expand('apps/statefulsets', READ),
        ...expand('tidepool.dev/ipallocations', [...READ, 'update']),
        ...expand('kubevirt.io/virtualmachines', READ),
        ...expand('tidepool.dev/ippools', READ),
        ...expand('tidepool.dev/ippools/status', ['patch']),
        ...EVENTS,
        ...expand('admissionregistration.k8s.io/validatingwebhookconfigurations/tidepool', ['get', 'patch']),
      ].sort(),
    );
  });

  test('controller Events may be created in every namespace: `default` for IPPools and Nodes, the pod\'s own for pods', () => {
    const role = find<K8sObject & { rules: Rule[] }>(defaults, 'ClusterRole', 'tidepool-controller');
    const rule = role.rules.find((r) => r.resources.includes('events') && r.apiGroups.includes(''));
    assert.ok(rule && rule.verbs.includes('create') && rule.resourceNames === undefined, 'events: create, not limited by name');
    const binding = find<K8sObject & { roleRef: { kind: string; name: string } }>(defaults, 'ClusterRoleBinding', 'tidepool-controller');
    assert.deepEqual([binding.roleRef.kind, binding.roleRef.name], ['ClusterRole', 'tidepool-controller'], 'bound cluster-wide, so `default` is included');
  });

  test('controller Role: leader-election Lease only, in the release namespace', () => {
    const role = find<K8sObject & { rules: Rule[] }>(defaults, 'Role', 'tidepool-controller');
    assert.equal(role.metadata.namespace, 'kube-system');
    assert.deepEqual(grants(role.rules), [
      'coordination.k8s.io/leases/tidepool-controller: get',
      'coordination.k8s.io/leases/tidepool-controller: list',
      'coordination.k8s.io/leases/tidepool-controller: patch',
      'coordination.k8s.io/leases/tidepool-controller: update',
      'coordination.k8s.io/leases/tidepool-controller: watch',
      'coordination.k8s.io/leases: create',
    ]);
    const dep = find<Workload>(defaults, 'Deployment', 'tidepool-controller');
    const args = container(dep, 'controller').args;
    assert.equal(args[args.indexOf('--lease-name') + 1], 'tidepool-controller', 'the Lease the Role names is the one the controller uses');
  });

  test('no wildcards, no secrets, no privilege escalation verbs anywhere', () => {
    for (const o of defaults.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
      for (const r of (o as K8sObject & { rules: Rule[] }).rules) {
        const all = [...r.apiGroups, ...r.resources, ...r.verbs, ...(r.resourceNames ?? [])];
        assert.ok(!all.includes('*'), `${o.metadata.name}: wildcard in ${JSON.stringify(r)}`);
        assert.ok(!r.resources.includes('secrets'), `${o.metadata.name}: secrets access`);
        for (const v of ['escalate', 'bind', 'impersonate', 'deletecollection']) assert.ok(!r.verbs.includes(v), `${o.metadata.name}: ${v}`);
      }
    }
  });

  test('bindings tie each role to its own ServiceAccount in the release namespace', () => {
    for (const [kind, roleKind, name] of [
      ['ClusterRoleBinding', 'ClusterRole', 'tidepool-agent'],
      ['ClusterRoleBinding', 'ClusterRole', 'tidepool-controller'],
      ['RoleBinding', 'Role', 'tidepool-controller'],
    ] as const) {
      const b = find<K8sObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] }>(render({ namespace: 'ipam' }), kind, name);
      assert.deepEqual(b.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name });
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name, namespace: 'ipam' }]);
    }
    assert.equal(find<Workload>(defaults, 'DaemonSet', 'tidepool-agent').spec.template.spec.serviceAccountName, 'tidepool-agent');
    assert.equal(find<Workload>(defaults, 'Deployment', 'tidepool-controller').spec.template.spec.serviceAccountName, 'tidepool-controller');
  });
});

describe('agent DaemonSet', () => {
  const ds = find<Workload>(defaults, 'DaemonSet', 'tidepool-agent');
  const pod = ds.spec.template.spec;
  const agent = container(ds, 'agent');

  test('host network, node-critical priority, tolerates every taint', () => {
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.priorityClassName, 'system-node-critical');
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  });

  test('command, NODE_NAME from the downward API, image', () => {
    assert.deepEqual(agent.command, ['tidepool']);
    assert.deepEqual(agent.args, ['daemon', '--store', 'kubernetes', '--node', '$(NODE_NAME)', '--socket', '/run/tidepool/agent.sock', '--metrics-listen', '0.0.0.0:9714', '--host-proc', '/host/proc']);
    assert.deepEqual(agent.env?.find((e) => e.name === 'NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.equal(agent.image, 'tidepool:0.1.0');
    assert.equal(agent.imagePullPolicy, 'IfNotPresent');
  });

  test('init container installs the plugin into the host CNI directory', () => {
    const init = container(ds, 'install-cni', true);
    assert.deepEqual([...init.command, ...init.args], ['tidepool', 'install-cni', '--dest', '/host/opt/cni/bin']);
    assert.deepEqual(init.volumeMounts, [{ name: 'cni-bin', mountPath: '/host/opt/cni/bin' }]);
    assert.equal(init.image, agent.image);
  });

  test('host mounts: socket directory, netns with HostToContainer propagation, /proc read-only', () => {
    const hostPaths = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    const mounts = (agent.volumeMounts ?? []).map((m) => ({ host: hostPaths[m.name], at: m.mountPath, readOnly: m.readOnly ?? false, propagation: m.mountPropagation ?? 'None' }));
    assert.deepEqual(mounts, [
      { host: '/run/tidepool', at: '/run/tidepool', readOnly: false, propagation: 'None' },
      { host: '/var/run/netns', at: '/var/run/netns', readOnly: false, propagation: 'HostToContainer' },
      { host: '/proc', at: '/host/proc', readOnly: true, propagation: 'None' },
    ]);
    assert.equal(hostPaths['cni-bin'], '/opt/cni/bin');
  });

  test('probes on the metrics port', () => {
    assert.deepEqual(agent.ports, [{ name: 'metrics', containerPort: 9714, protocol: 'TCP' }]);
    assert.deepEqual(agent.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(agent.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
  });

  test('resources and security context come from values', () => {
    const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { agent: { resources: unknown; securityContext: unknown } };
    assert.deepEqual(agent.resources, values.agent.resources);
    assert.deepEqual(agent.securityContext, values.agent.securityContext);
    assert.notEqual(agent.securityContext?.['privileged'], true, 'the default must not be privileged');
  });
});

describe('controller Deployment', () => {
  const dep = find<Workload>(defaults, 'Deployment', 'tidepool-controller');
  const c = container(dep, 'controller');

  test('replicas, command and leader election', () => {
    assert.equal(dep.spec.replicas, 2);
    assert.deepEqual(c.command, ['tidepool']);
    assert.deepEqual(c.args, ['controller', '--namespace', '$(POD_NAMESPACE)', '--lease-name', 'tidepool-controller', '--webhook-listen', '0.0.0.0:9443', '--metrics-listen', '0.0.0.0:9715']);
    assert.deepEqual(c.env?.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
  });

  test('prefers spreading replicas over nodes', () => {
    assert.deepEqual(dep.spec.template.spec.affinity, {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: dep.spec.selector.matchLabels } } }],
      },
    });
  });

  test('probes and ports', () => {
    assert.deepEqual(c.ports?.map((p) => `${p.name}:${p.containerPort}`), ['webhook:9443', 'metrics:9715']);
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.equal(c.securityContext?.['runAsNonRoot'], true);
  });
});

describe('validating webhook', () => {
  const config = find<WebhookConfig>(defaults, 'ValidatingWebhookConfiguration', 'tidepool');
  const hook = config.webhooks[0];

  test('rules: ippools create/update/delete, reservedips create/update', () => {
    assert.equal(config.webhooks.length, 1);
    assert.ok(hook);
    assert.deepEqual(
      hook.rules.map((r) => `${r.apiGroups.join()}/${r.apiVersions.join()}/${r.resources.join()}: ${r.operations.join()}`),
      ['tidepool.dev/v1alpha1/ippools: CREATE,UPDATE,DELETE', 'tidepool.dev/v1alpha1/reservedips: CREATE,UPDATE'],
    );
  });

  test('calls the controller webhook service with an empty caBundle for the controller to fill', () => {
    assert.ok(hook);
    assert.deepEqual(hook.clientConfig, { caBundle: '', service: { name: 'tidepool-controller-webhook', namespace: 'kube-system', path: '/validate', port: 443 } });
    assert.equal(hook.failurePolicy, 'Fail');
    assert.equal(hook.sideEffects, 'None');
    assert.deepEqual(hook.admissionReviewVersions, ['v1']);
  });
});

describe('overrides', () => {
  const objects = render({
    releaseName: 'tp',
    namespace: 'ipam',
    values: {
      image: { repository: 'registry.example/tidepool', tag: '1.2.3', pullPolicy: 'Always' },
      // null deletes a default map, as with helm --set key=null.
      agent: { priorityClassName: 'tidepool-agent', nodeSelector: null, extraArgs: ['--gc-grace', '30s'], metrics: { service: { annotations: null } } },
      controller: { replicas: 3, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] },
      webhook: { failurePolicy: 'Ignore' },
    },
  });
  const ds = find<Workload>(objects, 'DaemonSet', 'tidepool-agent');
  const dep = find<Workload>(objects, 'Deployment', 'tidepool-controller');

  test('image, pull policy and priority', () => {
    for (const c of [container(ds, 'agent'), container(ds, 'install-cni', true), container(dep, 'controller')]) {
      assert.equal(c.image, 'registry.example/tidepool:1.2.3');
      assert.equal(c.imagePullPolicy, 'Always');
    }
    assert.equal(ds.spec.template.spec.priorityClassName, 'tidepool-agent');
  });

  test('replicas, extra args, tolerations; deleted maps leave fields out', () => {
    assert.equal(dep.spec.replicas, 3);
    assert.deepEqual(container(ds, 'agent').args.slice(-3), ['/host/proc', '--gc-grace', '30s']);
    assert.deepEqual(dep.spec.template.spec.tolerations, [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }]);
    assert.equal(ds.spec.template.spec.nodeSelector, undefined);
    assert.equal(find(objects, 'Service', 'tidepool-agent-metrics').metadata.annotations, undefined);
    assert.deepEqual(find(objects, 'Service', 'tidepool-controller-metrics').metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9715' });
  });

  test('webhook failure policy and service namespace', () => {
    const hook = find<WebhookConfig>(objects, 'ValidatingWebhookConfiguration', 'tidepool').webhooks[0];
    assert.equal(hook?.failurePolicy, 'Ignore');
    assert.equal(hook?.clientConfig.service.namespace, 'ipam');
  });

  test('defaults are untouched by another render', () => {
    assert.equal(find<Workload>(render(), 'Deployment', 'tidepool-controller').spec.replicas, 2);
  });
});

describe('helm-template renderer', () => {
  const ctx: TemplateContext = {
    Values: { a: { b: 'x', n: 0, list: [1, 2], map: { z: 1, y: 'two' }, empty: {} }, flag: true, off: false, nothing: null },
    Release: { Name: 'rel', Namespace: 'ns' },
    Chart: { Name: 'tidepool', AppVersion: '0.1.0' },
  };
  const r = (source: string): string => renderTemplate(source, ctx);

  test('values, release and chart fields', () => {
    assert.equal(r('{{ .Values.a.b }}/{{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Chart.Name }}/{{ .Chart.AppVersion }}'), 'x/rel/ns/tidepool/0.1.0');
  });

  test('trim markers remove all whitespace on their side only', () => {
    assert.equal(r('a  \n  {{- .Values.a.b -}}  \n  b'), 'axb');
    assert.equal(r('a \n{{- .Values.a.b }} \nb'), 'ax \nb');
    assert.equal(r('a {{ .Values.a.b -}}\n\n b'), 'a xb');
  });

  test('if / else on a value, with Go truthiness', () => {
    assert.equal(r('{{ if .Values.flag }}y{{ else }}n{{ end }}'), 'y');
    assert.equal(r('{{ if .Values.off }}y{{ else }}n{{ end }}'), 'n');
    assert.equal(r('{{ if .Values.a.n }}y{{ else }}n{{ end }}'), 'n');
    assert.equal(r('{{ if .Values.a.empty }}y{{ else }}n{{ end }}'), 'n');
    assert.equal(r('{{ if .Values.missing }}y{{ end }}'), '');
    assert.equal(r('{{ if .Values.a.list }}{{ if .Values.flag }}both{{ end }}{{ end }}'), 'both');
  });

  test('quote, default, toYaml | nindent, include', () => {
    assert.equal(r('{{ quote .Values.a.b }} {{ .Values.a.b | quote }} [{{ .Values.nothing | quote }}]'), '"x" "x" []');
    assert.equal(r('{{ default "d" .Values.missing }} {{ default "d" .Values.a.b }} {{ default .Chart.Name .Values.off }}'), 'd x tidepool');
    assert.equal(r('m:{{ toYaml .Values.a.map | nindent 2 }}'), 'm:\n  y: two\n  z: 1');
    assert.equal(r('{{ toYaml .Values.a.empty }}'), '{}');
    assert.equal(r('{{- define "t" -}}name={{ .Chart.Name }}{{- end -}}\n[{{ include "t" . | quote }}]'), '["name=tidepool"]');
  });

  test('comments render nothing', () => {
    assert.equal(r('a{{/* note */}}b {{- /* trimmed */ -}} c'), 'abc');
  });

  test('anything outside the subset throws', () => {
    const bad = [
      '{{ range .Values.a.list }}x{{ end }}',
      '{{ with .Values.a }}x{{ end }}',
      '{{ $x := 1 }}',
      '{{ upper .Values.a.b }}',
      '{{ .Values.a.b | indent 2 }}',
      '{{ (quote .Values.a.b) }}',
      '{{ .Files.Get "x" }}',
      '{{ .Release.Service }}',
      '{{ .Capabilities.KubeVersion }}',
      '{{ if .Values.flag }}x{{ else if .Values.off }}y{{ end }}',
      '{{ if eq .Values.a.b "x" }}y{{ end }}',
      '{{ if .Values.flag }}unclosed',
      '{{ end }}',
      '{{ template "t" . }}',
      '{{ .Values.a.b',
      '{{ quote .Values.a.b .Values.a.b }}',
    ];
    for (const source of bad) assert.throws(() => r(source), HelmTemplateError, source);
  });

  test('missing values and maps outside toYaml throw instead of rendering empty', () => {
    for (const source of ['{{ .Values.typo }}', '{{ .Values.typo | quote }}', '{{ toYaml .Values.typo }}', '{{ .Values.a.map }}', '{{ .Values.nope.deeper }}', '{{ include "undefined" . }}']) {
      assert.throws(() => r(source), HelmTemplateError, source);
    }
  });

  test('values merge like Helm: maps merge, lists and scalars replace, null deletes', () => {
    assert.deepEqual(mergeValues({ a: { b: 1, c: [1] }, d: 1, e: 2 }, { a: { c: [2] }, d: null, f: 3 }), { a: { b: 1, c: [2] }, e: 2, f: 3 });
  });
});
