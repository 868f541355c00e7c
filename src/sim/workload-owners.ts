// The objects that own a workload's pods in the simulated cluster, as the
// workload controllers would have made them: a StatefulSet; a Deployment
// and its ReplicaSet; a Job. Pods name their owner (controller,
// blockOwnerDeletion), so the API server's garbage collector treats them as
// in a cluster: deleting the owner deletes them, and a pod naming an owner
// that does not exist would be collected at once.
import type { KubeObject } from '../k8s/rest.ts';
import type { SimApiServer } from './api-server.ts';
import type { Rng } from './rng.ts';
import type { WorkloadSpec } from './scenario.ts';

/** What the owners need of a workload: its spec, replica count, and the owner it has now. */
export interface OwnedWorkload {
  readonly spec: WorkloadSpec;
  readonly replicas: number;
  /** The pods' owner (StatefulSet, ReplicaSet or Job) as created, or empty. */
  uid: string;
  ownerName: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
}

const apps = (ns: string, plural: string) => `/apis/apps/v1/namespaces/${ns}/${plural}`;
const jobs = (ns: string) => `/apis/batch/v1/namespaces/${ns}/jobs`;

function template(w: OwnedWorkload, image: string): Record<string, unknown> {
  const spec: Record<string, unknown> = { containers: [{ name: 'main', image }] };
  if (w.spec.kind === 'Job') spec['restartPolicy'] = 'Never';
  return { metadata: { labels: { app: w.spec.name } }, spec };
}

export interface WorkloadOwners {
  /** Makes sure the pods' owner exists (creating it, and a Deployment's ReplicaSet, when missing); false when it cannot be made now. */
  ensure(w: OwnedWorkload): boolean;
  /** The reference a new pod carries, or none for bare pods. */
  reference(w: OwnedWorkload): OwnerReference[];
  /** Deletes the top-level owner as `kubectl delete` does (background cascade); the garbage collector deletes the rest. */
  remove(w: OwnedWorkload): void;
}

export function createWorkloadOwners(deps: { api: SimApiServer; rng: Rng; trace: (line: string) => void }): WorkloadOwners {
  const { api, rng, trace } = deps;

  function create(path: string, body: Record<string, unknown>): KubeObject | undefined {
    try {
      return api.direct.create<KubeObject>(path, body);
    } catch (err) {
      trace(`${path}: not created: ${(err as Error).message}`);
      return undefined;
    }
  }

  function ensureDeployment(w: OwnedWorkload): boolean {
    const ns = w.spec.namespace;
    const selector = { matchLabels: { app: w.spec.name } };
    let deploy = api.direct.get<KubeObject>(`${apps(ns, 'deployments')}/${w.spec.name}`);
    if (!deploy) {
      deploy = create(apps(ns, 'deployments'), { metadata: { name: w.spec.name }, spec: { replicas: w.replicas, selector, template: template(w, 'registry.local/app:1') } });
      if (!deploy) return false;
      trace(`deployment ${ns}/${w.spec.name} created`);
    }
    const rs = w.ownerName ? api.direct.get<KubeObject>(`${apps(ns, 'replicasets')}/${w.ownerName}`) : undefined;
    if (rs && rs.metadata.uid === w.uid && !rs.metadata.deletionTimestamp) return true;
    const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: w.spec.name, uid: deploy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
    const name = `${w.spec.name}-${rng.hex(8)}`;
    const created = create(apps(ns, 'replicasets'), { metadata: { name, ownerReferences: [owner] }, spec: { replicas: w.replicas, selector, template: template(w, 'registry.local/app:1') } });
    if (!created) return false;
    w.uid = created.metadata.uid ?? '';
    w.ownerName = name;
    return true;
  }

  function ensureSingle(w: OwnedWorkload, path: string, body: Record<string, unknown>, what: string): boolean {
    const existing = api.direct.get<KubeObject>(`${path}/${w.spec.name}`);
    if (existing) {
      w.uid = existing.metadata.uid ?? '';
      w.ownerName = w.spec.name;
      return !existing.metadata.deletionTimestamp;
    }
    const created = create(path, { metadata: { name: w.spec.name }, spec: body });
    if (!created) return false;
    w.uid = created.metadata.uid ?? '';
    w.ownerName = w.spec.name;
    trace(`${what} ${w.spec.namespace}/${w.spec.name} created`);
    return true;
  }

  return {
    ensure(w) {
      if (w.spec.kind === 'Deployment') return ensureDeployment(w);
      if (w.spec.kind === 'Job') return ensureSingle(w, jobs(w.spec.namespace), { parallelism: w.replicas, completions: w.replicas, template: template(w, 'registry.local/job:1') }, 'job');
      return true;
    },
    reference(w) {
      if (w.spec.kind === 'Pod' || !w.uid) return [];
      const apiVersion = w.spec.kind === 'Job' ? 'batch/v1' : 'apps/v1';
      const kind = w.spec.kind === 'Deployment' ? 'ReplicaSet' : w.spec.kind;
      return [{ apiVersion, kind, name: w.ownerName || w.spec.name, uid: w.uid, controller: true, blockOwnerDeletion: true }];
    },
    remove(w) {
      const ns = w.spec.namespace;
      const path =
        w.spec.kind === 'StatefulSet' ? `${apps(ns, 'statefulsets')}/${w.spec.name}` : w.spec.kind === 'Deployment' ? `${apps(ns, 'deployments')}/${w.spec.name}` : w.spec.kind === 'Job' ? `${jobs(ns)}/${w.spec.name}` : undefined;
      w.uid = '';
      w.ownerName = '';
      if (!path) return;
      try {
        api.direct.delete(path, { propagationPolicy: 'Background' });
      } catch {
        // Already gone, with its namespace.
      }
    },
  };
}
