/**
 * The agent's HTTP/JSON API over its unix socket, shared by the CNI plugin,
 * the CLI and the agent. Types only plus path constants: importing this
 * module loads nothing.
 */
import type { OrphanReason } from '../ipam/claims.ts';
import type { IpHold } from '../store/port.ts';

/** A CNI attachment: the runtime's (container ID, interface) pair. */
export interface AttachmentRef {
  readonly containerId: string;
  readonly ifname: string;
}

/** Kubernetes identity passed by the runtime in CNI_ARGS (K8S_POD_*), when present. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string | undefined;
}

export interface AllocateRequest extends AttachmentRef {
  readonly netns: string;
  /** The netconf `name`; recorded so that CNI GC of one network never touches another's IPs. */
  readonly network?: string | undefined;
  readonly ipv4Pools?: readonly string[] | undefined;
  readonly ipv6Pools?: readonly string[] | undefined;
  readonly pod?: PodRef | undefined;
  /** The netconf's `ipam.clean_gateway`: no default route through the pools' gateways (unless the pod annotation says otherwise). */
  readonly cleanGateway?: boolean | undefined;
  /** The netconf's detection settings; each overrides the pool's and the node's. */
  readonly ipConflictDetection?: boolean | undefined;
  readonly gatewayDetection?: boolean | undefined;
  readonly detectionTimeoutMs?: number | undefined;
}

export interface AllocatedIP {
  /** CIDR notation: the IP with the pool subnet's prefix length, e.g. `10.1.0.5/24`. */
  readonly address: string;
  readonly family: 4 | 6;
  readonly gateway?: string | undefined;
  readonly pool: string;
}

export interface RouteSpec {
  readonly dst: string;
  readonly gw?: string | undefined;
}

/** Result of ADD and CHECK: every IP the attachment holds, one per family. */
export interface AllocateResponse {
  readonly ips: readonly AllocatedIP[];
  readonly routes: readonly RouteSpec[];
}

export type ReleaseRequest = AttachmentRef;

export interface ReleasedIP {
  readonly pool: string;
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly reason: string;
}

export interface ReleaseResponse {
  readonly released: readonly ReleasedIP[];
}

export type CheckRequest = AttachmentRef;

export interface GcRequest {
  /** The netconf `name` of the network being collected. */
  readonly network: string;
  readonly validAttachments: readonly AttachmentRef[];
}

export interface StatusRequest {
  readonly ipv4Pools?: readonly string[] | undefined;
  readonly ipv6Pools?: readonly string[] | undefined;
}

export interface PoolStatus {
  readonly name: string;
  readonly family: 4 | 6;
  readonly subnet: string;
  /** Decimal strings: an IPv6 pool can exceed Number.MAX_SAFE_INTEGER. */
  readonly total: string;
  readonly allocated: number;
  readonly free: string;
  readonly disabled: boolean;
  readonly default: boolean;
}

/** Held IPs that no current pool holds (standalone: the pool was removed from the pools file, or shrunk). */
export interface OrphanStatus {
  /** The pool the IPs were handed out from. */
  readonly pool: string;
  readonly reason: OrphanReason;
  /** In numeric order. */
  readonly ips: readonly string[];
}

/** The standalone pools file: what is served, and the last edit that was refused, if the file still holds it. */
export interface PoolsFileStatus {
  readonly path: string;
  /** When the pools served now were applied (ms since the epoch). */
  readonly appliedAt: number;
  /** `file`: the file as it was then; `last-applied`: the file was unusable at start, so the last pools applied before are served. */
  readonly source: 'file' | 'last-applied';
  readonly refused?: { readonly at: number; readonly code: string; readonly message: string } | undefined;
}

export interface StatusResponse {
  readonly ready: boolean;
  readonly pools: readonly PoolStatus[];
  /** Standalone only: held IPs outside every pool, by pool and reason. */
  readonly orphaned?: readonly OrphanStatus[] | undefined;
  readonly poolsFile?: PoolsFileStatus | undefined;
}

export interface AllocationView {
  readonly pool: string;
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
  readonly allocatedAt: number;
  readonly pod?: PodRef | undefined;
  /** Set when no current pool holds the IP (see OrphanStatus). */
  readonly orphaned?: OrphanReason | undefined;
  /** Set when the IP is held out of use rather than by a pod (an address another host answered for). */
  readonly hold?: IpHoldView | undefined;
}

/** Why an IP is held out of use, and until when: the store's record of it, as the API shows it. */
export type IpHoldView = IpHold;

/** Result of one standalone garbage collection run. */
export interface CollectResponse extends ReleaseResponse {
  /** Allocations whose namespace is gone but still inside the grace period. */
  readonly waiting: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly containerId: string; readonly goneSinceMs: number }>;
}

export interface ReleaseIpRequest {
  readonly ip: string;
  readonly force?: boolean | undefined;
}

/** Checks a pools file against the agent's pools and held IPs, changing nothing (standalone). */
export interface ValidatePoolsRequest {
  /** The file's name, for messages. */
  readonly file: string;
  readonly text: string;
}

/** What applying the file would do; `error` when the agent would refuse it. */
export type ValidatePoolsResponse =
  | {
      readonly valid: true;
      readonly pools: readonly string[];
      readonly added: readonly string[];
      readonly removed: readonly string[];
      readonly changed: readonly string[];
      /** Held IPs that would be re-filed under the pool whose range holds them (a rename). */
      readonly moves: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly to: string }>;
      /** Held IPs no pool of the file holds; they would stay held until DEL or the collector frees them. */
      readonly orphaned: readonly OrphanStatus[];
    }
  | { readonly valid: false; readonly error: ErrorBody['error'] };

/** Error body of every non-2xx response. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: Record<string, unknown> };
}

export const API_PATHS = {
  allocate: '/v1/allocate',
  release: '/v1/release',
  check: '/v1/check',
  gc: '/v1/gc',
  status: '/v1/status',
  pools: '/v1/pools',
  allocations: '/v1/allocations',
  releaseIp: '/v1/release-ip',
  collect: '/v1/collect',
  validatePools: '/v1/pools/validate',
  healthz: '/healthz',
} as const;

export const DEFAULT_SOCKET = '/run/tidepool/agent.sock';
