import type { KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';

export type EventTarget = { kind: 'IPPool' | 'Pod'; namespace?: string; name: string; uid?: string };

/**
 * Posts core/v1 Events. An IPPool is cluster-scoped, so its Events live in
 * the controller's namespace (as `kubectl describe ippool` expects for
 * cluster-scoped objects); a Pod's live in the pod's namespace. Never throws:
 * an Event that cannot be written is logged and dropped.
 */
export function createEventPoster(opts: { rest: KubeRest; namespace: string; identity: string; clock: Clock; log: Logger }) {
  return (target: EventTarget, reason: string, message: string): void => {
    const namespace = target.kind === 'Pod' ? (target.namespace ?? 'default') : opts.namespace;
    const now = new Date(opts.clock.now()).toISOString();
    const involvedObject =
      target.kind === 'Pod'
        ? { apiVersion: 'v1', kind: 'Pod', namespace, name: target.name, ...(target.uid ? { uid: target.uid } : {}) }
        : { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', name: target.name };
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.name}.tidepool-`, namespace },
      involvedObject,
      reason,
      message,
      type: reason === 'IPReclaimed' ? 'Normal' : 'Warning',
      source: { component: 'tidepool-controller', host: opts.identity },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    opts.rest.create(`/api/v1/namespaces/${namespace}/events`, event).catch((err: unknown) => opts.log.warn('could not post event', { reason, target, err: err instanceof Error ? err.message : String(err) }));
  };
}
