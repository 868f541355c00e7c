import { createInformer } from '../k8s/informer.ts';
import type { KubeObject, KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';

/** Annotation on the leader Lease that `tidepool gc` sets to ask the leader for a scan now. */
export const SCAN_REQUEST_ANNOTATION = 'tidepool.dev/scan-requested-at';

/**
 * Watches the leader Lease for a new scan request. The request travels
 * through the API server, so `tidepool gc` needs no route to the leader, only
 * permission to patch one Lease; whichever replica leads acts on it.
 */
export function createScanRequestWatch(opts: { rest: KubeRest; namespace: string; leaseName: string; clock: Clock; log: Logger }) {
  return (onRequest: () => void): (() => void) => {
    const leases = createInformer<KubeObject>({
      rest: opts.rest,
      path: `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`,
      fieldSelector: `metadata.name=${opts.leaseName}`,
      delay: (ms) => opts.clock.sleep(ms),
    });
    let last: string | undefined;
    let primed = false;
    leases.onChange((_type, obj) => {
      const value = obj.metadata.annotations?.[SCAN_REQUEST_ANNOTATION];
      // The value present when the watch starts is an old request, already served by the takeover scan.
      if (!primed) {
        primed = true;
        last = value;
        return;
      }
      if (value !== undefined && value !== last) {
        last = value;
        opts.log.info('scan requested', { requestedAt: value });
        onRequest();
      }
    });
    leases.start();
    void leases.waitForSync().then(() => (primed = true));
    return () => void leases.stop();
  };
}
