// The rbac.authorization.k8s.io/v1 kinds, stored and validated as the real
// server validates them (ValidateRole, ValidateClusterRoleBinding, ...):
// names need only be path segments (`system:discovery`), rules need verbs
// and either resources with API groups or, in ClusterRoles only,
// nonResourceURLs; a binding's roleRef never changes. The RBAC authorizer
// reads these objects on every request.
import { builtinKind, isRecord, type KindSpec, type KubeObject } from '../kinds.ts';
import type { FieldError } from '../status.ts';
import { pathSegmentName, quote } from '../validation.ts';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const goStrings = (v: string[]): string => `[]string{${v.map((s) => JSON.stringify(s)).join(', ')}}`;
const unsupported = (field: string, value: string, valid: string[]): FieldError => ({ field, type: 'Unsupported value', detail: `${quote(value)}: supported values: ${valid.map((v) => quote(v)).join(', ')}` });

function ruleErrors(rule: Record<string, unknown>, namespaced: boolean, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const [verbs, groups, resources, names, urls] = ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'].map((k) => strings(rule[k])) as [string[], string[], string[], string[], string[]];
  if (verbs.length === 0) errs.push({ field: `${at}.verbs`, type: 'Required value', detail: 'verbs must contain at least one value' });
  if (urls.length > 0) {
    if (namespaced) errs.push({ field: `${at}.nonResourceURLs`, type: 'Invalid value', detail: `${goStrings(urls)}: namespaced rules cannot apply to non-resource URLs` });
    if (groups.length || resources.length || names.length)
      errs.push({ field: `${at}.nonResourceURLs`, type: 'Invalid value', detail: `${goStrings(urls)}: rules cannot apply to both regular resources and non-resource URLs` });
    return errs;
  }
  if (groups.length === 0) errs.push({ field: `${at}.apiGroups`, type: 'Required value', detail: 'resource rules must supply at least one api group' });
  if (resources.length === 0) errs.push({ field: `${at}.resources`, type: 'Required value', detail: 'resource rules must supply at least one resource' });
  if (names.length > 0 && resources.length > 1) errs.push({ field: `${at}.resourceNames`, type: 'Required value', detail: 'resource names cannot apply to multiple resources' });
  return errs;
}

function roleErrors(namespaced: boolean): (o: KubeObject) => FieldError[] {
  return (o) => (Array.isArray(o['rules']) ? o['rules'] : []).flatMap((r: unknown, i) => ruleErrors(isRecord(r) ? r : {}, namespaced, `rules[${i}]`));
}

function subjectErrors(s: Record<string, unknown>, namespaced: boolean, at: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = typeof s['name'] === 'string' ? s['name'] : '';
  const apiGroup = typeof s['apiGroup'] === 'string' ? s['apiGroup'] : '';
  if (!name) errs.push({ field: `${at}.name`, type: 'Required value', detail: '' });
  if (s['kind'] === 'ServiceAccount') {
    if (apiGroup) errs.push(unsupported(`${at}.apiGroup`, apiGroup, ['']));
    if (!namespaced && !s['namespace']) errs.push({ field: `${at}.namespace`, type: 'Required value', detail: '' });
  } else if (s['kind'] === 'User' || s['kind'] === 'Group') {
    if (!name) errs.push({ field: `${at}.name`, type: 'Invalid value', detail: `"": ${s['kind'] === 'User' ? 'user' : 'group'} name cannot be empty` });
    if (apiGroup !== RBAC_GROUP) errs.push(unsupported(`${at}.apiGroup`, apiGroup, [RBAC_GROUP]));
  } else errs.push(unsupported(`${at}.kind`, String(s['kind'] ?? ''), ['ServiceAccount', 'User', 'Group']));
  return errs;
}

function bindingErrors(namespaced: boolean): (o: KubeObject) => FieldError[] {
  return (o) => {
    const errs: FieldError[] = [];
    const ref = isRecord(o['roleRef']) ? o['roleRef'] : {};
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if (ref['apiGroup'] !== RBAC_GROUP) errs.push(unsupported('roleRef.apiGroup', String(ref['apiGroup'] ?? ''), [RBAC_GROUP]));
    if (!kinds.includes(String(ref['kind']))) errs.push(unsupported('roleRef.kind', String(ref['kind'] ?? ''), kinds));
    const name = typeof ref['name'] === 'string' ? ref['name'] : '';
    if (!name) errs.push({ field: 'roleRef.name', type: 'Required value', detail: '' });
    else for (const e of pathSegmentName(name)) errs.push({ field: 'roleRef.name', type: 'Invalid value', detail: `${quote(name)}: ${e}` });
    const subjects = Array.isArray(o['subjects']) ? o['subjects'] : [];
    subjects.forEach((s: unknown, i) => errs.push(...subjectErrors(isRecord(s) ? s : {}, namespaced, `subjects[${i}]`)));
    return errs;
  };
}

/** v1 defaulting: User and Group subjects are in the RBAC group unless they say otherwise. */
function defaultSubjects(o: KubeObject): void {
  for (const s of Array.isArray(o['subjects']) ? o['subjects'] : []) {
    if (isRecord(s) && (s['kind'] === 'User' || s['kind'] === 'Group') && !s['apiGroup']) s['apiGroup'] = RBAC_GROUP;
  }
}

function roleRefUnchanged(o: KubeObject, old: KubeObject): FieldError[] {
  const ref = (x: KubeObject) => (isRecord(x['roleRef']) ? x['roleRef'] : {});
  const [a, b] = [ref(o), ref(old)];
  if (a['apiGroup'] === b['apiGroup'] && a['kind'] === b['kind'] && a['name'] === b['name']) return [];
  const shown = `rbac.RoleRef{APIGroup:${quote(String(a['apiGroup'] ?? ''))}, Kind:${quote(String(a['kind'] ?? ''))}, Name:${quote(String(a['name'] ?? ''))}}`;
  return [{ field: 'roleRef', type: 'Invalid value', detail: `${shown}: cannot change roleRef` }];
}

const rbacKind = (plural: string, kind: string, namespaced: boolean, more: Partial<KindSpec>): KindSpec =>
  builtinKind({ group: RBAC_GROUP, version: 'v1', plural, kind, namespaced, nameRule: 'path-segment', ...more });

/** ClusterRoles, ClusterRoleBindings, Roles and RoleBindings. */
export function rbacKinds(): KindSpec[] {
  return [
    rbacKind('clusterroles', 'ClusterRole', false, { validate: roleErrors(false) }),
    rbacKind('clusterrolebindings', 'ClusterRoleBinding', false, { defaults: defaultSubjects, validate: bindingErrors(false), validateUpdate: roleRefUnchanged }),
    rbacKind('roles', 'Role', true, { validate: roleErrors(true) }),
    rbacKind('rolebindings', 'RoleBinding', true, { defaults: defaultSubjects, validate: bindingErrors(true), validateUpdate: roleRefUnchanged }),
  ];
}
