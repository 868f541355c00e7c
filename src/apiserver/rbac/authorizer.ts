// RBAC from the stored ClusterRoles, Roles, ClusterRoleBindings and
// RoleBindings, evaluated on every request as the real RBAC authorizer
// evaluates them (VisitRulesFor): every ClusterRoleBinding whose subjects
// include the user grants its ClusterRole's rules everywhere; in a namespace,
// every RoleBinding there grants its Role's or ClusterRole's rules in that
// namespace only. A binding whose role does not exist grants nothing and its
// error is the denial's reason. Members of system:masters are allowed before
// RBAC is asked, as the real server's privileged-groups authorizer does.
import type { AuthorizationAttributes, Authorizer, Decision } from '../authorization.ts';
import type { KubeObject } from '../kinds.ts';
import type { KindState, Store } from '../store.ts';
import { RBAC_GROUP } from './kinds.ts';
import { ruleAllows, subjectIsUser, type PolicyRule, type Subject } from './rules.ts';

/** The group whose members every request is allowed to, whatever RBAC says. */
export const PRIVILEGED_GROUP = 'system:masters';

interface Binding extends KubeObject {
  roleRef?: { kind?: string; name?: string; apiGroup?: string };
  subjects?: Subject[];
}

interface Role extends KubeObject {
  rules?: PolicyRule[];
}

/** The roles a binding may refer to, looked up where the real resolver looks (a Role in the binding's namespace). */
function roleRules(store: Store, binding: Binding, namespace: string): PolicyRule[] | Error {
  const ref = binding.roleRef ?? {};
  const name = ref.name ?? '';
  if (ref.kind === 'ClusterRole') {
    const role = kindOf(store, 'clusterroles').objects.get(name) as Role | undefined;
    return role ? (role.rules ?? []) : new Error(`clusterrole.rbac.authorization.k8s.io "${name}" not found`);
  }
  if (ref.kind === 'Role') {
    const role = kindOf(store, 'roles').objects.get(`${namespace}/${name}`) as Role | undefined;
    return role ? (role.rules ?? []) : new Error(`role.rbac.authorization.k8s.io "${name}" not found`);
  }
  return new Error(`unsupported role reference kind: "${ref.kind ?? ''}"`);
}

function kindOf(store: Store, plural: string): KindState {
  const k = store.kind(RBAC_GROUP, plural);
  if (!k) throw new Error(`the RBAC authorizer needs ${plural}.${RBAC_GROUP} served`);
  return k;
}

/** How the real authorizer names what allowed a request (clusterRoleBindingDescriber, roleBindingDescriber). */
function allowedBy(binding: Binding, namespace: string, subject: Subject): string {
  const ref = binding.roleRef ?? {};
  const who = subject.kind === 'ServiceAccount' ? `ServiceAccount "${subject.name}/${subject.namespace || namespace}"` : `${subject.kind} "${subject.name}"`;
  const what = namespace ? `RoleBinding "${binding.metadata.name}/${namespace}"` : `ClusterRoleBinding "${binding.metadata.name}"`;
  return `RBAC: allowed by ${what} of ${ref.kind} "${ref.name}" to ${who}`;
}

/** The bindings that may apply: all ClusterRoleBindings, then the RoleBindings of the request's namespace. */
function* bindings(store: Store, namespace: string | undefined): Generator<{ binding: Binding; namespace: string }> {
  for (const b of kindOf(store, 'clusterrolebindings').objects.values()) yield { binding: b as Binding, namespace: '' };
  if (!namespace) return;
  for (const [key, b] of kindOf(store, 'rolebindings').objects) if (key.startsWith(`${namespace}/`)) yield { binding: b as Binding, namespace };
}

/** Decides from the RBAC objects in `store` (which must serve the rbac.authorization.k8s.io kinds). */
export function rbacAuthorizer(store: Store): Authorizer {
  return (a: AuthorizationAttributes): Decision => {
    if (a.user.groups.includes(PRIVILEGED_GROUP)) return { allowed: true };
    const errors: string[] = [];
    for (const { binding, namespace } of bindings(store, a.info.namespace)) {
      const subject = (binding.subjects ?? []).find((s) => subjectIsUser(s, a.user, namespace));
      if (!subject) continue;
      const rules = roleRules(store, binding, namespace);
      if (rules instanceof Error) errors.push(rules.message);
      else if (rules.some((r) => ruleAllows(a, r))) return { allowed: true, reason: allowedBy(binding, namespace, subject) };
    }
    // An aggregate of one error reads as that error; of several, as a bracketed list.
    if (errors.length === 0) return { allowed: false };
    return { allowed: false, reason: `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}` };
  };
}
