// Which stored webhooks a request is sent to, decided as the real server's
// ShouldCallHook decides it: the namespaceSelector (on the namespace's
// labels; a cluster-scoped object other than a Namespace is never
// exempted), the objectSelector (on the new or the old object's labels),
// then the rules (scope, operations, groups, versions, resources with
// `*` and `res/sub` forms). The webhook configuration kinds themselves are
// never sent to webhooks, so a broken webhook cannot lock its own
// configuration. With one served version per resource, matchPolicy
// Equivalent matches what Exact matches.
import type { AdmissionAttributes } from '../admission.ts';
import type { KubeObject } from '../kinds.ts';
import { parseLabelSelector } from '../selectors.ts';
import { notFound } from '../status.ts';
import type { LabelSelectorObject, RuleWithOperations, ValidatingWebhook } from './configuration.ts';

/** Labels of a namespace, or undefined if it does not exist. */
export type NamespaceLabels = (name: string) => Record<string, string> | undefined;

const EXEMPT_KINDS = new Set([
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
]);

export function isExempt(a: AdmissionAttributes): boolean {
  return a.spec.group === 'admissionregistration.k8s.io' && EXEMPT_KINDS.has(a.spec.kind);
}

const isNamespaceObject = (a: AdmissionAttributes): boolean => a.spec.group === '' && a.spec.plural === 'namespaces';

/** The request's namespace as admission sees it: a Namespace object's own name for requests on it. */
export function admissionNamespace(a: AdmissionAttributes): string {
  return isNamespaceObject(a) ? a.name : (a.namespace ?? '');
}

/** Whether `labels` satisfy a metav1.LabelSelector; an empty selector matches everything. */
export function selectorMatches(sel: LabelSelectorObject | undefined, labels: Record<string, string> | undefined): boolean {
  const terms: string[] = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') terms.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') terms.push(`${e.key}`);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
    else return false;
  }
  return terms.length === 0 || parseLabelSelector(terms.join(',')).matches(labels);
}

function namespaceMatches(hook: ValidatingWebhook, a: AdmissionAttributes, labelsOf: NamespaceLabels): boolean {
  if (!a.spec.namespaced && !isNamespaceObject(a)) return true;
  const sel = hook.namespaceSelector;
  if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) return true;
  // A Namespace being created or updated is judged by its new labels; deleted, by the stored ones.
  const own = isNamespaceObject(a) && !a.subresource && (a.operation === 'CREATE' || a.operation === 'UPDATE');
  const name = admissionNamespace(a);
  const labels = own ? (a.object?.metadata.labels ?? {}) : labelsOf(name);
  if (labels === undefined) throw notFound({ group: '', plural: 'namespaces', kind: 'Namespace' }, name);
  return selectorMatches(sel, labels);
}

function objectMatches(hook: ValidatingWebhook, a: AdmissionAttributes): boolean {
  const sel = hook.objectSelector;
  if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) return true;
  const labelsOf = (o: KubeObject | undefined) => (o ? selectorMatches(sel, o.metadata.labels ?? {}) : false);
  return labelsOf(a.object) || labelsOf(a.oldObject);
}

const exactOrAll = (list: readonly string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);

function ruleMatches(rule: RuleWithOperations, a: AdmissionAttributes): boolean {
  const scope = rule.scope ?? '*';
  const clusterScoped = isNamespaceObject(a) || !a.spec.namespaced;
  if (scope === 'Cluster' && !clusterScoped) return false;
  if (scope === 'Namespaced' && clusterScoped) return false;
  if (!exactOrAll(rule.operations, a.operation)) return false;
  if (!exactOrAll(rule.apiGroups, a.spec.group) || !exactOrAll(rule.apiVersions, a.spec.version)) return false;
  return (rule.resources ?? []).some((r) => {
    const [res, sub = ''] = r.split(/\/(.*)/s) as [string, string?];
    return (res === '*' || res === a.spec.plural) && (sub === '*' || sub === (a.subresource ?? ''));
  });
}

/**
 * Whether `hook` is called for the request. A namespace that does not exist
 * is the real server's 404, but only for a webhook whose rules match.
 */
export function shouldCall(hook: ValidatingWebhook, a: AdmissionAttributes, labelsOf: NamespaceLabels): boolean {
  let nsMatch: boolean | Error;
  try {
    nsMatch = namespaceMatches(hook, a, labelsOf);
  } catch (e) {
    nsMatch = e as Error;
  }
  if (nsMatch === false || !objectMatches(hook, a)) return false;
  if (!(hook.rules ?? []).some((r) => ruleMatches(r, a))) return false;
  if (nsMatch instanceof Error) throw nsMatch;
  return true;
}
