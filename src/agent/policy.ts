import { TidepoolError } from '../ipam/errors.ts';
import type { Family } from '../ipam/address.ts';
import type { Pool, RouteEntry } from '../ipam/pool.ts';
import { DEFAULT_ROUTE_INTERFACE } from '../ipam/routes.ts';
import type { AllocationRecord } from '../store/port.ts';
import type { AllocateRequest, StatusRequest } from '../api/protocol.ts';

/** The IPs one ADD must end up holding: per interface, per family, candidate pools in order. */
export interface AllocationPlan {
  readonly interfaces: ReadonlyArray<{
    readonly ifname: string;
    readonly families: ReadonlyArray<{ readonly family: Family; readonly pools: readonly Pool[] }>;
    /** Whether this interface gets the default route through its pools' gateways. */
    readonly defaultRoute: boolean;
    /** The pod's own cleangateway for this interface, when it says (it wins over the netconf's and the pools'). */
    readonly cleanGateway?: boolean | undefined;
    /** Routes the pod asked for on this interface. */
    readonly routes?: readonly RouteEntry[] | undefined;
  }>;
  /** The pod's UID: what it already holds under any container ID is reused. */
  readonly podUid?: string | undefined;
  /** Identity that outlives the pod (StatefulSet ordinal, VM): its IPs are taken over. */
  readonly stableKey?: string | undefined;
  /**
   * Set when the pod is the target of a KubeVirt live migration: the source
   * pod still runs with the VM's IPs and answers for them on the LAN, so no
   * conflict probe may run for them.
   */
  readonly migration?: { readonly job: string } | undefined;
  /** `namespace/name` of the pod, for messages and hold records. */
  readonly podRef?: string | undefined;
}

/** An address another host answered for, as the service reports it to the policy. */
export interface ConflictReport {
  readonly pool: string;
  readonly ip: string;
  readonly mac: string;
  /** The pod's IP is fixed (StatefulSet, VM): the ADD fails instead of taking another. */
  readonly fixed: boolean;
  /** When the hold ends, for a stateless pod's IP. */
  readonly heldUntil?: number | undefined;
  readonly message: string;
}

/**
 * What differs between standalone and Kubernetes mode; the allocation
 * algorithm itself (reuse, all-or-nothing, conditional writes) does not.
 */
export interface IpamPolicy {
  /** The pools known now; in Kubernetes mode they follow the API server. */
  pools(): readonly Pool[];
  /** Which interfaces and families this ADD must hold, from which pools. */
  plan(req: AllocateRequest): Promise<AllocationPlan>;
  /** The pools a STATUS for these lists is about; throws like `plan` would for unknown or wrong-family pools. */
  statusPools(req: StatusRequest | undefined): readonly Pool[];
  /** Of the records a DEL or CNI GC would release, the ones to keep. */
  retain?(records: readonly AllocationRecord[]): Promise<ReadonlySet<AllocationRecord>>;
  /** Told about every failed ADD, e.g. to post an Event on the pod. */
  allocationFailed?(req: AllocateRequest, err: TidepoolError): void;
  /** Told about every address another host answered for, e.g. to post IPConflict Events on the pod and the pool. */
  conflictDetected?(req: AllocateRequest, report: ConflictReport): void;
}

function checkedPool(pools: ReadonlyMap<string, Pool>, name: string, family: Family, field: string): Pool {
  const pool = pools.get(name);
  if (!pool) throw new TidepoolError('POOL_NOT_FOUND', `${field}: pool "${name}" does not exist`, { pool: name, field });
  if (pool.family !== family) throw new TidepoolError('POOL_FAMILY_MISMATCH', `${field}: pool "${name}" is IPv${pool.family}, not IPv${family}`, { pool: name, field });
  return pool;
}

/**
 * Standalone mode: the netconf's `ipv4Pools`/`ipv6Pools` (each an ordered
 * list), or the default pools when it names none; one interface per ADD.
 * `source` is the pool list, or a function returning the current one (the
 * pools file, which may be reloaded); each call plans with the list current
 * at its start.
 */
export function createStandalonePolicy(source: readonly Pool[] | (() => readonly Pool[])): IpamPolicy {
  const current = typeof source === 'function' ? source : () => source;
  let indexed: readonly Pool[] | undefined;
  let byName = new Map<string, Pool>();
  const index = (): { poolList: readonly Pool[]; pools: ReadonlyMap<string, Pool> } => {
    const poolList = current();
    if (poolList !== indexed) {
      indexed = poolList;
      byName = new Map(poolList.map((p) => [p.name, p]));
    }
    return { poolList, pools: byName };
  };

  function resolve(pools: ReadonlyMap<string, Pool>, names: readonly string[], family: Family, field: string): Pool[] {
    const chosen = names.map((name, i) => checkedPool(pools, name, family, `${field}[${i}]`));
    const enabled = chosen.filter((p) => !p.disabled);
    if (enabled.length === 0) throw new TidepoolError('POOL_DISABLED', `${field}: every listed pool is disabled (${names.join(', ')})`, { pools: [...names], field });
    return enabled;
  }

  return {
    pools: current,
    async plan(req) {
      const { poolList, pools } = index();
      const families: Array<{ family: Family; pools: Pool[] }> = [];
      if (req.ipv4Pools?.length) families.push({ family: 4, pools: resolve(pools, req.ipv4Pools, 4, 'ipv4Pools') });
      if (req.ipv6Pools?.length) families.push({ family: 6, pools: resolve(pools, req.ipv6Pools, 6, 'ipv6Pools') });
      if (families.length === 0) {
        for (const family of [4, 6] as const) {
          const defaults = poolList.filter((p) => p.family === family && p.isDefault && !p.disabled);
          if (defaults.length > 0) families.push({ family, pools: defaults });
        }
      }
      if (families.length === 0) throw new TidepoolError('NO_POOL', 'no pool requested (ipv4Pools/ipv6Pools are empty) and no pool has spec.default: true');
      return { interfaces: [{ ifname: req.ifname, families, defaultRoute: req.ifname === DEFAULT_ROUTE_INTERFACE }] };
    },
    statusPools(req) {
      const { poolList, pools } = index();
      const v4 = (req?.ipv4Pools ?? []).map((n, i) => checkedPool(pools, n, 4, `ipv4Pools[${i}]`));
      const v6 = (req?.ipv6Pools ?? []).map((n, i) => checkedPool(pools, n, 6, `ipv6Pools[${i}]`));
      return v4.length + v6.length > 0 ? [...v4, ...v6] : poolList;
    },
  };
}
