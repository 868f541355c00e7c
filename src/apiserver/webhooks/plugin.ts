// Validating admission from the stored ValidatingWebhookConfigurations, an
// admission plugin: at each request it reads the configurations, selects
// the webhooks that apply (match.ts), sends each an AdmissionReview in
// parallel (review.ts, client.ts) and answers as the real server does: the
// first denial or, under failurePolicy Fail, the first failure to get a
// usable answer (500 InternalError `failed calling webhook "<name>": ...`);
// under Ignore a failure admits the request. Warnings from every answer go
// back to the client. Requests no webhook selects are admitted at once,
// without waiting, so a server without webhooks stays synchronous.
import { Agent } from 'node:https';
import type { AdmissionAttributes, AdmissionPlugin } from '../admission.ts';
import type { KubeObject } from '../kinds.ts';
import type { Store } from '../store.ts';
import { ApiError, internalError } from '../status.ts';
import { CallError, post, readableBundle, resolveTarget, type ServiceResolver } from './client.ts';
import type { ValidatingWebhook, ValidatingWebhookConfiguration } from './configuration.ts';
import { isExempt, shouldCall } from './match.ts';
import { createReview, denial, reviewVersion, verifyResponse } from './review.ts';
import { genericServerError } from './server-errors.ts';

/** The plugin; `close` ends its kept-alive connections. */
export interface StoredWebhookAdmission extends AdmissionPlugin {
  close(): void;
}

function storedWebhooks(store: Store): ValidatingWebhook[] {
  const kind = store.kind('admissionregistration.k8s.io', 'validatingwebhookconfigurations');
  if (!kind) return [];
  // The real server orders them by configuration name, then as listed.
  const configs = [...kind.objects.values()] as ValidatingWebhookConfiguration[];
  configs.sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
  return configs.flatMap((c) => c.webhooks ?? []);
}

function namespaceLabels(store: Store): (name: string) => Record<string, string> | undefined {
  return (name) => {
    const kind = store.kind('', 'namespaces');
    const ns = kind && (kind.objects.get(name) as KubeObject | undefined);
    return ns ? (ns.metadata.labels ?? {}) : undefined;
  };
}

/** Why a call produced no usable answer, worded as the part after `failed calling webhook "<name>": `. */
async function callOnce(agent: Agent, hook: ValidatingWebhook, a: AdmissionAttributes, resolveService: ServiceResolver): Promise<ReturnType<typeof verifyResponse> | string> {
  const version = reviewVersion(hook.admissionReviewVersions);
  if (!version) return 'could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)';
  const target = resolveTarget(hook, resolveService);
  if (target.ca !== undefined && !readableBundle(target.ca)) return 'could not get REST client: unable to load root certificates: unable to parse bytes as PEM block';
  const review = createReview(a, version);
  let answer: Awaited<ReturnType<typeof post>>;
  try {
    answer = await post(agent, target, review.body, (hook.timeoutSeconds ?? 10) * 1000);
  } catch (e) {
    if (e instanceof CallError) return `failed to call webhook: Post "${target.url}": ${e.message}`;
    throw e;
  }
  if (answer.status < 200 || answer.status > 206) return `failed to call webhook: ${genericServerError(answer.status, answer.text, answer.contentType)}`;
  let decoded: unknown;
  try {
    decoded = JSON.parse(answer.text);
  } catch (e) {
    return `failed to call webhook: couldn't get version/kind; json parse error: ${(e as Error).message}`;
  }
  try {
    return verifyResponse(review, decoded);
  } catch (e) {
    return `received invalid webhook response: ${(e as Error).message}`;
  }
}

export function createStoredWebhookAdmission(opts: { readonly store: Store; readonly resolveService: ServiceResolver }): StoredWebhookAdmission {
  const agent = new Agent({ keepAlive: true });

  async function call(hook: ValidatingWebhook, a: AdmissionAttributes): Promise<ApiError | undefined> {
    const outcome = await callOnce(agent, hook, a, opts.resolveService);
    if (typeof outcome === 'string') return hook.failurePolicy === 'Ignore' ? undefined : internalError(`failed calling webhook "${hook.name}": ${outcome}`);
    for (const w of outcome.warnings) a.warn?.(w);
    return outcome.allowed ? undefined : denial(hook.name, outcome.status);
  }

  async function callAll(selected: readonly ValidatingWebhook[], a: AdmissionAttributes): Promise<void> {
    const results = await Promise.all(selected.map((h) => call(h, a)));
    const err = results.find((r) => r !== undefined);
    if (err) throw err;
  }

  return {
    name: 'ValidatingAdmissionWebhook',
    validate(a) {
      if (isExempt(a)) return undefined;
      const labels = namespaceLabels(opts.store);
      const selected = storedWebhooks(opts.store).filter((h) => shouldCall(h, a, labels));
      return selected.length === 0 ? undefined : callAll(selected, a);
    },
    close: () => agent.destroy(),
  };
}
