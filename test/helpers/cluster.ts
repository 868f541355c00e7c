import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../../src/k8s/rest.ts';
import { createFakeApiServer, type FakeApiServer, type FakeApiServerOptions } from '../apiserver/server.ts';
import { chartDenials, installChartRbac, type ChartIdentities, type ChartKubeconfigs } from './chart-rbac.ts';

/**
 * A fake API server with authentication and the chart's RBAC, a kubeconfig
 * on disk for each tidepool component (its chart ServiceAccount) and for the
 * administrator, and an administrator's client for test setup.
 */
export interface TestCluster {
  readonly server: FakeApiServer;
  /** The administrator's client: the test playing the cluster (kubelet, scheduler, users). */
  readonly rest: KubeRest;
  /** Pass `kubeconfigs.agent` to agents, `kubeconfigs.controller` to controllers and `tidepool gc --cluster`. */
  readonly kubeconfigs: ChartKubeconfigs;
  readonly identities: ChartIdentities;
  node(name: string, labels?: Record<string, string>): Promise<void>;
  namespace(name: string, opts?: { labels?: Record<string, string>; annotations?: Record<string, string> }): Promise<void>;
  pool(name: string, spec: Record<string, unknown>): Promise<void>;
  reserved(name: string, ips: string[]): Promise<void>;
  /** Creates a pod bound to `node` and returns its UID. */
  pod(p: { namespace?: string; name: string; node: string; labels?: Record<string, string>; annotations?: Record<string, string>; owner?: { kind: string; name: string; apiVersion?: string } }): Promise<string>;
  /** Graceful delete (sets deletionTimestamp on a bound pod), or removal with `force`. */
  deletePod(namespace: string, name: string, force?: boolean): Promise<void>;
  statefulSet(namespace: string, name: string, replicas: number): Promise<void>;
  scaleStatefulSet(namespace: string, name: string, replicas: number): Promise<void>;
  allocations(): Array<{ name: string; pool: string; ip: string; state: string; owner?: Record<string, unknown> }>;
  events(namespace: string): Array<{ reason: string; message: string; involvedObject: { name: string } }>;
  /**
   * Stops the server. Fails if RBAC refused any request of the agent's or the
   * controller's ServiceAccount that the test did not take with
   * `server.takeDenials()`: a request tidepool makes that the chart does not
   * grant must never pass unnoticed, even one tidepool logs and carries on from.
   */
  close(): Promise<void>;
}

export async function startCluster(opts: FakeApiServerOptions = {}): Promise<TestCluster> {
  const server = await createFakeApiServer({ ...opts, authentication: true });
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cluster-'));
  const { identities, kubeconfigs } = await installChartRbac(server, dir);
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const rest = await createKubeRest(kc);
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra });
  return {
    server,
    rest,
    kubeconfigs,
    identities,
    async node(name, labels = {}) {
      await rest.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: meta(name, { labels }) });
    },
    async namespace(name, o = {}) {
      await rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: meta(name, { labels: o.labels ?? {}, annotations: o.annotations ?? {} }) });
    },
    async pool(name, spec) {
      await rest.create('/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: meta(name), spec });
    },
    async reserved(name, ips) {
      await rest.create('/apis/tidepool.dev/v1alpha1/reservedips', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: meta(name), spec: { ips } });
    },
    async pod(p) {
      const ns = p.namespace ?? 'default';
      let ownerReferences: unknown[] | undefined;
      if (p.owner) {
        const ownerPath =
          p.owner.kind === 'StatefulSet' ? `/apis/apps/v1/namespaces/${ns}/statefulsets/${p.owner.name}` : undefined;
        const uid = ownerPath ? ((await rest.get<{ metadata: { uid: string } }>(ownerPath)).metadata.uid) : '00000000-0000-4000-8000-000000000001';
        ownerReferences = [{ apiVersion: p.owner.apiVersion ?? 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid, controller: true }];
      }
      const created = await rest.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: meta(p.name, { namespace: ns, labels: p.labels ?? {}, annotations: p.annotations ?? {}, ...(ownerReferences ? { ownerReferences } : {}) }),
        spec: { nodeName: p.node, containers: [{ name: 'c', image: 'pause' }] },
      });
      return created.metadata.uid;
    },
    async deletePod(namespace, name, force = false) {
      await rest.delete(`/api/v1/namespaces/${namespace}/pods/${name}`, force ? { gracePeriodSeconds: 0 } : {});
    },
    async statefulSet(namespace, name, replicas) {
      await rest.create(`/apis/apps/v1/namespaces/${namespace}/statefulsets`, {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta(name, { namespace }),
        spec: {
          replicas,
          serviceName: name,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'pause' }] } },
        },
      });
    },
    async scaleStatefulSet(namespace, name, replicas) {
      await rest.patch(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`, { spec: { replicas } });
    },
    allocations() {
      return server.objects('ipallocations').map((o) => {
        const obj = o as unknown as { metadata: { name: string; labels: Record<string, string> }; spec: { pool: string; ip: string; owner?: Record<string, unknown> } };
        return { name: obj.metadata.name, pool: obj.spec.pool, ip: obj.spec.ip, state: obj.metadata.labels['tidepool.dev/state'] ?? '', owner: obj.spec.owner };
      });
    },
    events(namespace) {
      return server.objects('events').filter((e) => e.metadata.namespace === namespace) as unknown as Array<{ reason: string; message: string; involvedObject: { name: string } }>;
    },
    async close() {
      rest.close();
      const refused = chartDenials(server, identities);
      await server.close();
      rmSync(dir, { recursive: true, force: true });
      if (refused.length) throw new Error(`RBAC refused ${refused.length} request(s) of tidepool's ServiceAccounts; the chart does not grant them:\n${refused.join('\n')}`);
    },
  };
}
