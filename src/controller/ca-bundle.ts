import { isConflict, isNotFound, type KubeObject, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';
import { planWebhookCaBundles, type WebhookEntry } from './ca-bundle-plan.ts';

interface WebhookConfigurationObject extends KubeObject {
  webhooks?: WebhookEntry[];
}

export const WEBHOOK_CONFIGURATIONS_PATH = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

/** What one injection found. */
export type InjectionResult = 'patched' | 'present' | 'missing';

export interface CaBundleInjectorOptions {
  readonly rest: KubeRest;
  /** Name of the ValidatingWebhookConfiguration. */
  readonly configName: string;
  readonly caPem: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the bundle is checked again (someone may re-apply the chart's empty caBundle); default 60 s. */
  readonly recheckMs?: number;
  /** Pause before retrying after a failure; default 2 s. */
  readonly retryMs?: number;
}

export interface CaBundleInjector {
  /** Reads the configuration and merges our CA in; retries lost races, throws other API errors. */
  injectOnce(): Promise<InjectionResult>;
  /** True once our CA has been seen in every webhook's caBundle. */
  readonly injected: boolean;
  /** Keeps our CA in the bundle until `signal` aborts: injects now, retries failures, re-checks periodically. */
  run(signal: AbortSignal): Promise<void>;
}

const MAX_CONFLICT_RETRIES = 5;

export function createCaBundleInjector(opts: CaBundleInjectorOptions): CaBundleInjector {
  const { rest, clock, log } = opts;
  const path = `${WEBHOOK_CONFIGURATIONS_PATH}/${opts.configName}`;
  let injected = false;

  async function injectOnce(): Promise<InjectionResult> {
    for (let i = 0; i <= MAX_CONFLICT_RETRIES; i++) {
      let current: WebhookConfigurationObject;
      try {
        current = await rest.get<WebhookConfigurationObject>(path);
      } catch (err) {
        if (isNotFound(err)) return 'missing';
        throw err;
      }
      const webhooks = planWebhookCaBundles(current.webhooks ?? [], opts.caPem, clock.now());
      if (webhooks === undefined) {
        injected = (current.webhooks ?? []).length > 0;
        return injected ? 'present' : 'missing';
      }
      try {
        // A merge patch replaces the whole list, so it carries the resourceVersion it was computed
        // from: a replica that patched in between makes this one fail with 409 and merge again.
        // (RBAC grants get and patch on this object, not update.)
        await rest.patch(path, { metadata: { resourceVersion: current.metadata.resourceVersion }, webhooks });
        injected = true;
        return 'patched';
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    throw new Error(`ValidatingWebhookConfiguration ${opts.configName} kept changing; gave up after ${MAX_CONFLICT_RETRIES + 1} attempts`);
  }

  return {
    injectOnce,
    get injected() {
      return injected;
    },
    async run(signal) {
      let reported: InjectionResult | 'failed' | undefined;
      while (!signal.aborted) {
        let result: InjectionResult | 'failed';
        try {
          result = await injectOnce();
        } catch (err) {
          result = 'failed';
          log.warn('could not add the webhook CA to caBundle; retrying', { config: opts.configName, err: err instanceof Error ? err.message : String(err) });
        }
        if (result === 'patched') log.info('added this replica\'s CA to the webhook caBundle', { config: opts.configName });
        else if (result === 'missing' && reported !== 'missing') {
          log.warn('ValidatingWebhookConfiguration not found or has no webhooks; the API server cannot call this replica until it exists', { config: opts.configName });
        }
        reported = result;
        const settled = result === 'patched' || result === 'present';
        await clock.sleep(settled ? (opts.recheckMs ?? 60_000) : (opts.retryMs ?? 2_000), signal);
      }
    },
  };
}
