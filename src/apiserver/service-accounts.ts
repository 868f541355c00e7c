// ServiceAccounts (core/v1) and the identity their tokens carry. A token
// minted for a ServiceAccount authenticates, as on the real server, as
// `system:serviceaccount:<namespace>:<name>` in the groups
// system:serviceaccounts, system:serviceaccounts:<namespace> and
// system:authenticated, with the ServiceAccount's UID, and only while that
// ServiceAccount exists with that UID.
import type { UserInfo } from './authentication.ts';
import { builtinKind, type KindSpec, type KubeObject } from './kinds.ts';

export function serviceAccountKind(): KindSpec {
  return builtinKind({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'] });
}

/** The username of a ServiceAccount's tokens. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/** Who a token of the stored ServiceAccount `sa` is. */
export function serviceAccountUser(sa: KubeObject): UserInfo {
  const namespace = sa.metadata.namespace ?? '';
  const user: UserInfo = {
    username: serviceAccountUsername(namespace, sa.metadata.name ?? ''),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
  return sa.metadata.uid ? { ...user, uid: sa.metadata.uid } : user;
}
