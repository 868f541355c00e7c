// The kube-controller-manager controllers whose work a client of the API
// server can observe, running inside the server on its timers: the
// ownerReference garbage collector, the namespace controller and the pod
// garbage collector. Each reaches the server through its router as its own
// service account.
import type { KindRegistry } from '../registry.ts';
import type { Router } from '../router.ts';
import type { Store } from '../store.ts';
import type { Timers } from '../timers.ts';
import type { WatchCache } from '../watch-cache.ts';
import { controllerClient, controllerUser } from './client.ts';
import { startGarbageCollector } from './garbage-collector.ts';
import { startNamespaceController } from './namespace.ts';
import { startPodGc, type PodGcOptions } from './pod-gc.ts';

/** Which controllers run; all do by default. */
export interface ControllerOptions {
  readonly garbageCollector?: boolean;
  readonly namespace?: boolean;
  /** false turns the pod garbage collector off; an object tunes its period and quarantine. */
  readonly podGc?: boolean | PodGcOptions;
}

export interface ControllerParts {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly cache: WatchCache;
  readonly router: Router;
  readonly timers: Timers;
}

export function startControllers(parts: ControllerParts, opts: ControllerOptions = {}): { stop(): void } {
  const { store, registry, cache, router, timers } = parts;
  const running: Array<{ stop(): void }> = [];
  if (opts.garbageCollector !== false)
    running.push(startGarbageCollector({ registry, cache, timers, client: controllerClient(router, controllerUser('generic-garbage-collector')) }));
  if (opts.namespace !== false)
    running.push(startNamespaceController({ registry, cache, timers, client: controllerClient(router, controllerUser('namespace-controller')) }));
  if (opts.podGc !== false) {
    const options = typeof opts.podGc === 'object' ? opts.podGc : undefined;
    running.push(startPodGc({ store, registry, cache, timers, client: controllerClient(router, controllerUser('pod-garbage-collector')), ...(options ? { options } : {}) }));
  }
  return {
    stop() {
      for (const c of running) c.stop();
    },
  };
}
