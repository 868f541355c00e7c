// The chart's monitoring parts: each switchable in values.yaml and off by
// default; monitors that select tidepool's metrics endpoints and name the
// jobs the alert rules expect; the rules and the dashboard taken verbatim
// from the one copy in files/ that the Prometheus tests load.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { HelmTemplateError, renderChart, renderTemplate, type RenderOptions } from './helpers/helm-template.ts';

const CHART = join(import.meta.dirname, '..', 'deploy', 'tidepool');
const RULES = join(CHART, 'files', 'prometheus-rules.yaml');
const DASHBOARD = join(CHART, 'files', 'grafana-dashboard.json');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

function render(options: RenderOptions = {}): K8sObject[] {
  return renderChart(CHART, options).flatMap((t) => parseAllDocuments(t.text).map((d) => d.toJS() as K8sObject | null)).filter((o): o is K8sObject => o !== null);
}

const monitoringKinds = new Set(['ServiceMonitor', 'PodMonitor', 'PrometheusRule']);
const all = { serviceMonitor: { enabled: true }, podMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } };
const enabled = render({ values: { monitoring: all } });
const find = (kind: string, name: string, objects = enabled): K8sObject => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind} ${name}`);
  return found[0]!;
};

describe('chart monitoring parts', () => {
  test('off by default: no monitoring object, no dashboard ConfigMap', () => {
    const objects = render();
    assert.deepEqual(objects.filter((o) => monitoringKinds.has(o.kind) || o.kind === 'ConfigMap'), []);
  });

  test('each part switches on alone', () => {
    const kinds = (part: string) => render({ values: { monitoring: { [part]: { enabled: true } } } }).filter((o) => monitoringKinds.has(o.kind) || o.kind === 'ConfigMap').map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds('serviceMonitor'), ['ServiceMonitor/tidepool-agent', 'ServiceMonitor/tidepool-controller']);
    assert.deepEqual(kinds('podMonitor'), ['PodMonitor/tidepool-agent', 'PodMonitor/tidepool-controller']);
    assert.deepEqual(kinds('prometheusRule'), ['PrometheusRule/tidepool']);
    assert.deepEqual(kinds('grafanaDashboard'), ['ConfigMap/tidepool-grafana-dashboard']);
  });

  test('monitoring.coreos.com/v1 objects in the release namespace with the common labels', () => {
    for (const o of enabled.filter((x) => monitoringKinds.has(x.kind))) {
      assert.equal(o.apiVersion, 'monitoring.coreos.com/v1', o.kind);
      assert.equal(o.metadata.namespace, 'kube-system');
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'tidepool');
    }
  });

  for (const component of ['agent', 'controller']) {
    test(`ServiceMonitor tidepool-${component} selects the ${component}'s metrics Service by its labels and port, and names the job tidepool-${component}`, () => {
      const monitor = find('ServiceMonitor', `tidepool-${component}`);
      const service = find('Service', `tidepool-${component}-metrics`);
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) assert.equal(service.metadata.labels?.[k], v, `${k} on the Service`);
      assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: ['kube-system'] });
      const [endpoint] = monitor.spec.endpoints;
      assert.ok(service.spec.ports.some((p: { name: string }) => p.name === endpoint.port), `the Service has port ${endpoint.port}`);
      assert.deepEqual(endpoint.relabelings, [{ action: 'replace', targetLabel: 'job', replacement: `tidepool-${component}` }]);
      assert.equal(endpoint.interval, '30s');
    });

    test(`PodMonitor tidepool-${component} selects the ${component} pods and their metrics port, and names the job tidepool-${component}`, () => {
      const monitor = find('PodMonitor', `tidepool-${component}`);
      const workload = find(component === 'agent' ? 'DaemonSet' : 'Deployment', `tidepool-${component}`);
      const pod = workload.spec.template;
      for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) assert.equal(pod.metadata.labels[k], v, `${k} on the pods`);
      const [endpoint] = monitor.spec.podMetricsEndpoints;
      assert.ok(pod.spec.containers[0].ports.some((p: { name: string }) => p.name === endpoint.port));
      assert.deepEqual(endpoint.relabelings, [{ action: 'replace', targetLabel: 'job', replacement: `tidepool-${component}` }]);
    });
  }

  test('extra labels and intervals from values reach the monitors and the rule', () => {
    const objects = render({ values: { monitoring: { serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'kps' } }, prometheusRule: { enabled: true, labels: { release: 'kps' } } } } });
    assert.equal(find('ServiceMonitor', 'tidepool-agent', objects).metadata.labels?.['release'], 'kps');
    assert.equal(find('ServiceMonitor', 'tidepool-agent', objects).spec.endpoints[0].interval, '15s');
    assert.equal(find('PrometheusRule', 'tidepool', objects).metadata.labels?.['release'], 'kps');
  });

  test('the PrometheusRule is files/prometheus-rules.yaml, with the alerts\' own {{ $labels }} templates untouched', () => {
    const rule = find('PrometheusRule', 'tidepool');
    assert.deepEqual(rule.spec, parse(readFileSync(RULES, 'utf8')));
    assert.match(JSON.stringify(rule.spec), /\{\{ \$labels\.pool \}\}/);
  });

  test('the dashboard ConfigMap carries the sidecar label and files/grafana-dashboard.json', () => {
    const cm = find('ConfigMap', 'tidepool-grafana-dashboard');
    assert.equal(cm.metadata.labels?.['grafana_dashboard'], '1');
    assert.deepEqual(JSON.parse(cm.data?.['tidepool.json'] ?? ''), JSON.parse(readFileSync(DASHBOARD, 'utf8')));
    const custom = find('ConfigMap', 'tidepool-grafana-dashboard', render({ values: { monitoring: { grafanaDashboard: { enabled: true, labelName: 'dashboards', labelValue: 'tidepool', annotations: { grafana_folder: 'Networking' } } } } }));
    assert.equal(custom.metadata.labels?.['dashboards'], 'tidepool');
    assert.deepEqual(custom.metadata.annotations, { grafana_folder: 'Networking' });
  });
});

describe('helm-template renderer: .Files.Get', () => {
  const ctx = { Values: {}, Release: { Name: 'r', Namespace: 'n' }, Chart: { Name: 'c', AppVersion: '1' }, Files: (p: string) => (p === 'files/a.txt' ? 'x {{ y }}\nz\n' : assert.fail(p)) };

  test('gives the file untemplated, and pipes like any value', () => {
    assert.equal(renderTemplate('a:{{ .Files.Get "files/a.txt" | nindent 2 }}', ctx), 'a:\n  x {{ y }}\n  z\n  ');
  });

  test('renderChart reads files of the chart; a missing file, a path outside the chart or in templates/, and a missing argument throw', () => {
    const chart = mkdtempSync(join(tmpdir(), 'tidepool-chart-'));
    try {
      mkdirSync(join(chart, 'templates'));
      mkdirSync(join(chart, 'files'));
      writeFileSync(join(chart, 'Chart.yaml'), 'name: c\nappVersion: "1"\n');
      writeFileSync(join(chart, 'values.yaml'), '{}\n');
      writeFileSync(join(chart, 'files', 'ok.txt'), 'fine\n');
      const renderWith = (path: string) => {
        writeFileSync(join(chart, 'templates', 'x.yaml'), `{{ .Files.Get "${path}" }}`);
        return renderChart(chart)[0]?.text;
      };
      assert.equal(renderWith('files/ok.txt'), 'fine\n');
      for (const path of ['files/none.yaml', '../Chart.yaml', 'templates/x.yaml', '/etc/hostname']) assert.throws(() => renderWith(path), HelmTemplateError, path);
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
    assert.throws(() => renderTemplate('{{ .Files.Get }}', ctx), HelmTemplateError);
    assert.throws(() => renderTemplate('{{ .Files.Glob "x" }}', ctx), HelmTemplateError);
  });
});
