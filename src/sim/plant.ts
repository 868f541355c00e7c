import type { PoolScopedStore } from '../agent/kube-agent.ts';
import type { IpamPolicy } from '../agent/policy.ts';
import type { GcReconcilerDeps } from '../controller/gc.ts';

/**
 * A known bug, planted into the real code through its dependency seams, to
 * prove the simulator notices it. The simulator only takes one; the bugs
 * themselves live with the tests (test/sim/plants.ts), so nothing that ships
 * can plant one.
 */
export interface Plant {
  readonly name: string;
  readonly description: string;
  /** Wraps each agent's store. */
  readonly agentStore?: (store: PoolScopedStore) => PoolScopedStore;
  /** Wraps each agent's Kubernetes policy (what a DEL keeps, what an ADD plans). */
  readonly agentPolicy?: (policy: IpamPolicy) => IpamPolicy;
  /** Rewires the controller's garbage collector. */
  readonly gc?: (deps: GcReconcilerDeps) => GcReconcilerDeps;
}
