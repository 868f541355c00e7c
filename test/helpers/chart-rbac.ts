// The chart's own RBAC in the test API server: the ServiceAccounts,
// ClusterRoles, Roles and bindings of deploy/tidepool rendered with default
// values (helm-template.ts) and created through the server's API as the
// administrator, before any tidepool process starts. Each tidepool process
// then authenticates as the ServiceAccount the chart runs it as, so every
// request it makes is allowed only if the chart grants it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/apiserver/kinds.ts';
import { ADMIN } from '../../src/apiserver/server.ts';
import { serviceAccountUsername } from '../../src/apiserver/service-accounts.ts';
import type { FakeApiServer } from '../apiserver/server.ts';
import { renderChart, type RenderOptions } from './helm-template.ts';

export const CHART_DIR = join(import.meta.dirname, '..', '..', 'deploy', 'tidepool');

/** A ServiceAccount the chart creates and runs a component as. */
export interface ChartServiceAccount {
  readonly namespace: string;
  readonly name: string;
}

/** Who each tidepool component is in a cluster the chart was installed in. */
export interface ChartIdentities {
  /** The agent DaemonSet's ServiceAccount. */
  readonly agent: ChartServiceAccount;
  /** The controller Deployment's; `tidepool gc --cluster` runs as it too (`kubectl exec` into a controller pod). */
  readonly controller: ChartServiceAccount;
}

/** Kubeconfig files for the administrator (the test playing the cluster) and each component. */
export interface ChartKubeconfigs {
  readonly admin: string;
  readonly agent: string;
  readonly controller: string;
}

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** Every object the chart renders to with `options` (default: `helm install tidepool -n kube-system`). */
export function renderChartObjects(options: RenderOptions = {}): KubeObject[] {
  return renderChart(CHART_DIR, options).flatMap((t) => parseAllDocuments(t.text).map((d) => d.toJS() as KubeObject | null)).filter((o): o is KubeObject => o !== null);
}

/** The chart's ServiceAccounts, roles and bindings, roles before the bindings that name them. */
export function chartRbacObjects(options: RenderOptions = {}): KubeObject[] {
  const order = ['ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];
  return renderChartObjects(options)
    .filter((o) => RBAC_KINDS.has(o.kind ?? ''))
    .sort((a, b) => order.indexOf(a.kind!) - order.indexOf(b.kind!));
}

/** The ServiceAccounts the chart's DaemonSet and Deployment run as. */
export function chartIdentities(objects: readonly KubeObject[] = renderChartObjects()): ChartIdentities {
  const accountOf = (kind: string): ChartServiceAccount => {
    const w = objects.find((o) => o.kind === kind) as (KubeObject & { spec: { template: { spec: { serviceAccountName: string } } } }) | undefined;
    if (!w) throw new Error(`the chart renders no ${kind}`);
    return { namespace: w.metadata.namespace ?? '', name: w.spec.template.spec.serviceAccountName };
  };
  return { agent: accountOf('DaemonSet'), controller: accountOf('Deployment') };
}

function collectionPath(o: KubeObject): string {
  const [group, version] = o.apiVersion!.includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion!];
  const plural = `${o.kind!.toLowerCase()}s`;
  const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
  return group ? `/apis/${group}/${version}${ns}/${plural}` : `/api/${version}${ns}/${plural}`;
}

/** Creates `objects` through the server's API as the administrator; any refusal throws. */
export async function applyAsAdmin(server: FakeApiServer, objects: readonly KubeObject[]): Promise<void> {
  for (const o of objects) {
    const res = await server.core.router.handle({ method: 'POST', path: collectionPath(o), query: new URLSearchParams(), contentType: 'application/json', body: { value: structuredClone(o) }, user: ADMIN });
    if (res.kind !== 'response' || res.status >= 300) throw new Error(`applying ${o.kind} ${o.metadata.name}: ${JSON.stringify(res.kind === 'response' ? res.body : res.kind)}`);
  }
}

/** Applies the chart's RBAC (the server must have authentication on) and says who each component is. */
export async function applyChartRbac(server: FakeApiServer, options: RenderOptions = {}): Promise<ChartIdentities> {
  await applyAsAdmin(server, chartRbacObjects(options));
  return chartIdentities(renderChartObjects(options));
}

/** A kubeconfig (text) whose user is `sa`, with a token that lasts until the server stops. */
export function serviceAccountKubeconfig(server: FakeApiServer, sa: ChartServiceAccount): string {
  return server.kubeconfig({ token: server.serviceAccountToken(sa.namespace, sa.name) });
}

/** Applies the chart's RBAC and writes a kubeconfig file for the administrator and for each component into `dir`. */
export async function installChartRbac(server: FakeApiServer, dir: string, options: RenderOptions = {}): Promise<{ identities: ChartIdentities; kubeconfigs: ChartKubeconfigs }> {
  const identities = await applyChartRbac(server, options);
  mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string): string => {
    const path = join(dir, `${name}.kubeconfig`);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  return {
    identities,
    kubeconfigs: {
      admin: write('admin', server.kubeconfig()),
      agent: write('agent', serviceAccountKubeconfig(server, identities.agent)),
      controller: write('controller', serviceAccountKubeconfig(server, identities.controller)),
    },
  };
}

/** The authorization refusals so far of requests by the chart's ServiceAccounts, and of nobody else's. */
export function chartDenials(server: FakeApiServer, identities: ChartIdentities): string[] {
  const users = [identities.agent, identities.controller].map((sa) => `User "${serviceAccountUsername(sa.namespace, sa.name)}"`);
  return server.denials().filter((m) => users.some((u) => m.includes(u)));
}
