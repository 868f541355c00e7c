// tidepool's own custom resources, as its CRDs define them, for servers
// that serve them from the start (tests, the simulator). A server started
// without them serves them once they are registered.
import type { KindOptions } from './kinds.ts';

/** IPPool, IPAllocation and ReservedIP, cluster-scoped, in tidepool.dev/v1alpha1. */
export const TIDEPOOL_KINDS: KindOptions[] = [
  { group: 'tidepool.dev', version: 'v1alpha1', plural: 'ippools', kind: 'IPPool', namespaced: false, statusSubresource: true },
  { group: 'tidepool.dev', version: 'v1alpha1', plural: 'ipallocations', kind: 'IPAllocation', namespaced: false },
  { group: 'tidepool.dev', version: 'v1alpha1', plural: 'reservedips', kind: 'ReservedIP', namespaced: false },
];
