// The part of the real server's bootstrap RBAC policy that a cluster without
// add-ons relies on: cluster-admin for system:masters, discovery for every
// authenticated user, the health and version paths for everyone. A server
// with RBAC stores these at start, so they can be read and listed like any
// other role, and every other grant must come from objects someone applied.
import type { KubeObject } from '../kinds.ts';
import type { KindRegistry } from '../registry.ts';
import type { Store } from '../store.ts';
import { RBAC_GROUP } from './kinds.ts';
import type { PolicyRule } from './rules.ts';

const AUTOUPDATE = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

function clusterRole(name: string, rules: PolicyRule[]): KubeObject {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: { name, labels: BOOTSTRAP_LABELS, annotations: AUTOUPDATE }, rules: rules as unknown[] };
}

function bindToGroups(name: string, groups: string[]): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: BOOTSTRAP_LABELS, annotations: AUTOUPDATE },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
  };
}

const PUBLIC_PATHS = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

/** ClusterRoles first, then the ClusterRoleBindings that refer to them. */
export function bootstrapPolicy(): { clusterRoles: KubeObject[]; clusterRoleBindings: KubeObject[] } {
  return {
    clusterRoles: [
      clusterRole('cluster-admin', [
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['*'], verbs: ['*'] },
      ]),
      clusterRole('system:discovery', [{ nonResourceURLs: [...PUBLIC_PATHS, '/openapi', '/openapi/*', '/api', '/api/*', '/apis', '/apis/*'], verbs: ['get'] }]),
      clusterRole('system:basic-user', [
        { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
        { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
      ]),
      clusterRole('system:public-info-viewer', [{ nonResourceURLs: PUBLIC_PATHS, verbs: ['get'] }]),
    ],
    clusterRoleBindings: [
      bindToGroups('cluster-admin', ['system:masters']),
      bindToGroups('system:discovery', ['system:authenticated']),
      bindToGroups('system:basic-user', ['system:authenticated']),
      bindToGroups('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
    ],
  };
}

/** Stores the bootstrap policy in a server that has just started (the RBAC kinds must be served). */
export function storeBootstrapPolicy(server: { readonly store: Store; readonly registry: KindRegistry }): void {
  const { clusterRoles, clusterRoleBindings } = bootstrapPolicy();
  for (const [plural, objects] of [['clusterroles', clusterRoles], ['clusterrolebindings', clusterRoleBindings]] as const) {
    const kind = server.registry.lookup(`${plural}.${RBAC_GROUP}`);
    for (const o of objects) server.store.commitCreate(kind, server.store.prepareCreate(kind, undefined, structuredClone(o)));
  }
}
