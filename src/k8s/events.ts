import type { KubeRest } from './rest.ts';
import type { Logger } from '../util/logger.ts';

/** What an Event is about: a Pod (namespaced), or a cluster-scoped IPPool or Node. */
export type EventTarget =
  | { kind: 'Pod'; namespace: string; name: string; uid?: string | undefined }
  | { kind: 'IPPool' | 'Node'; name: string; uid?: string | undefined };

const API_VERSIONS: Readonly<Record<EventTarget['kind'], string>> = { Pod: 'v1', IPPool: 'tidepool.dev/v1alpha1', Node: 'v1' };

/** Reasons that report things going as they should. */
const NORMAL_REASONS: ReadonlySet<string> = new Set(['IPReclaimed']);

/**
 * The namespace an Event about `target` must be posted in: the object's own,
 * or `default` for a cluster-scoped one. The API server refuses anything else
 * (422: an Event's namespace must match its involved object's, and
 * cluster-scoped objects' Events go to `default`, as client-go's recorder
 * posts them), and `kubectl describe` looks for them there by UID.
 */
export function eventNamespace(target: EventTarget): string {
  return target.kind === 'Pod' ? target.namespace : 'default';
}

/** Posts one Event about `target`; never throws. */
export type EventPoster = (target: EventTarget, reason: string, message: string) => void;

/**
 * Posts core/v1 Events from a tidepool component (`tidepool-controller`,
 * `tidepool-agent`) running as `host` (its identity or node). Never throws:
 * an Event that cannot be written is logged and dropped. Events are Warnings
 * except the reasons listed in NORMAL_REASONS.
 */
export function createEventPoster(opts: { rest: KubeRest; component: string; host: string; now: () => number; log: Logger }): EventPoster {
  return (target, reason, message) => {
    const namespace = eventNamespace(target);
    const now = new Date(opts.now()).toISOString();
    const involvedObject = {
      apiVersion: API_VERSIONS[target.kind],
      kind: target.kind,
      ...(target.kind === 'Pod' ? { namespace } : {}),
      name: target.name,
      ...(target.uid ? { uid: target.uid } : {}),
    };
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${target.name}.tidepool-`, namespace },
      involvedObject,
      reason,
      message,
      type: NORMAL_REASONS.has(reason) ? 'Normal' : 'Warning',
      source: { component: opts.component, host: opts.host },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    opts.rest.create(`/api/v1/namespaces/${namespace}/events`, event).catch((err: unknown) => opts.log.warn('could not post event', { reason, target, err: err instanceof Error ? err.message : String(err) }));
  };
}
