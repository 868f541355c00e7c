// How one RBAC PolicyRule and one binding subject are matched against a
// request, as the real RBAC authorizer matches them (RuleAllows and
// appliesToUser in the real server): `*` for verbs, groups and resources,
// `*/subresource`, resourceNames, and nonResourceURLs with a trailing `*`.
import type { UserInfo } from '../authentication.ts';
import type { AuthorizationAttributes } from '../authorization.ts';
import { serviceAccountUsername } from '../service-accounts.ts';

/** rbac.authorization.k8s.io/v1 PolicyRule, as stored. */
export interface PolicyRule {
  readonly verbs?: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

/** rbac.authorization.k8s.io/v1 Subject. */
export interface Subject {
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly apiGroup?: string;
}

const has = (list: readonly string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some((r) => r === '*' || r === combined || (subresource !== undefined && r === `*/${subresource}`));
}

function nameMatches(rule: PolicyRule, name: string | undefined): boolean {
  const names = rule.resourceNames ?? [];
  // A rule limited by name allows nothing without one (a list, or a create).
  return names.length === 0 || (name !== undefined && names.includes(name));
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

/** Whether `rule` allows the request. */
export function ruleAllows(a: AuthorizationAttributes, rule: PolicyRule): boolean {
  const { info } = a;
  const verb = String(info.verb ?? '');
  if (!has(rule.verbs, verb)) return false;
  if (!info.isResourceRequest) return urlMatches(rule, info.path);
  return has(rule.apiGroups, info.apiGroup) && resourceMatches(rule, info.resource, info.subresource) && nameMatches(rule, a.name);
}

/**
 * Whether `subject` of a binding in `bindingNamespace` ('' for a
 * ClusterRoleBinding) is `user`. A ServiceAccount subject without a
 * namespace means the binding's own.
 */
export function subjectIsUser(subject: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return subject.name === user.username;
    case 'Group':
      return subject.name !== undefined && user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      return ns !== '' && subject.name !== undefined && user.username === serviceAccountUsername(ns, subject.name);
    }
    default:
      return false;
  }
}
