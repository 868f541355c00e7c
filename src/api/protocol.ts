/**
 * The agent's HTTP/JSON API over its unix socket, shared by the CNI plugin,
 * the CLI and the agent. Types only plus path constants: importing this
 * module loads nothing.
 */

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

export interface StatusResponse {
  readonly ready: boolean;
  readonly pools: readonly PoolStatus[];
}

export interface AllocationView {
  readonly pool: string;
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
  readonly allocatedAt: number;
  readonly pod?: PodRef | undefined;
}

/** Result of one standalone garbage collection run. */
export interface CollectResponse extends ReleaseResponse {
  /** Allocations whose namespace is gone but still inside the grace period. */
  readonly waiting: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly containerId: string; readonly goneSinceMs: number }>;
}

export interface ReleaseIpRequest {
  readonly ip: string;
  readonly force?: boolean | undefined;
}

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
  healthz: '/healthz',
} as const;

export const DEFAULT_SOCKET = '/run/tidepool/agent.sock';
