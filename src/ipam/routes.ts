/**
 * The routes an ADD hands to the main plugin for one interface. Debian's
 * macvlan and bridge plugins apply exactly the routes of the result (the
 * gateway in an IP entry gives no route by itself), so a pool with a gateway
 * and no routes would leave the pod without a default route. Pure: the
 * caller passes the pools of the interface's IPs and what the pod and the
 * netconf asked for.
 */
import type { Family } from './address.ts';
import { formatAddress } from './address.ts';
import type { Pool, RouteEntry } from './pool.ts';

/** The interface that gets the default route when the pod does not name one (the Kubernetes convention for the pod's primary interface). */
export const DEFAULT_ROUTE_INTERFACE = 'eth0';

export interface RoutePlanInput {
  /** The pools of the interface's IPs, one per family, IPv4 first. */
  readonly pools: readonly Pool[];
  /** Routes the pod asked for on this interface (annotation), already validated and canonical. */
  readonly podRoutes: readonly RouteEntry[];
  /** Whether this is the pod's default-route interface. */
  readonly defaultInterface: boolean;
  /**
   * An explicit cleangateway (pod annotation, else netconf); undefined lets
   * each pool's spec.cleanGateway decide.
   */
  readonly cleanGateway: boolean | undefined;
}

function defaultDst(family: Family): string {
  return family === 4 ? '0.0.0.0/0' : '::/0';
}

/**
 * Routes for one interface, in the order the kernel should get them: the
 * pod's own routes, then each pool's `spec.routes`, then, on the default
 * interface only, a default route through each pool's gateway, per family.
 * A destination appears once (the first source wins): the kernel refuses a
 * second route to the same destination, which would fail the whole ADD.
 * With cleangateway in force for a pool, neither its gateway nor its own
 * default routes give one (the pod's explicit routes still do).
 */
export function planRoutes(input: RoutePlanInput): RouteEntry[] {
  const out: RouteEntry[] = [];
  const seen = new Set<string>();
  const add = (r: RouteEntry): void => {
    if (seen.has(r.dst)) return;
    seen.add(r.dst);
    out.push(r.gw === undefined ? { dst: r.dst } : { dst: r.dst, gw: r.gw });
  };
  for (const r of input.podRoutes) add(r);
  for (const pool of input.pools) {
    const clean = input.cleanGateway ?? pool.cleanGateway ?? false;
    for (const r of pool.routes) {
      if (clean && r.dst === defaultDst(pool.family)) continue;
      add(r);
    }
  }
  if (input.defaultInterface) {
    for (const pool of input.pools) {
      const clean = input.cleanGateway ?? pool.cleanGateway ?? false;
      if (clean || pool.gateway === undefined) continue;
      add({ dst: defaultDst(pool.family), gw: formatAddress(pool.gateway) });
    }
  }
  return out;
}
