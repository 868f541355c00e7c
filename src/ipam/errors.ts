/**
 * The one error type of tidepool. Every failure that crosses a boundary
 * (CNI stdout, HTTP response, CLI exit) is a TidepoolError whose `code` is
 * stable: users script against it, and docs/errors.md documents each one.
 * A test keeps ERROR_TABLE and docs/errors.md in agreement.
 */

export type ErrorCode =
  | 'INCOMPATIBLE_VERSION'
  | 'UNKNOWN_CONTAINER'
  | 'BAD_ENVIRONMENT'
  | 'IO_FAILURE'
  | 'DECODE_FAILED'
  | 'INVALID_CONFIG'
  | 'AGENT_UNREACHABLE'
  | 'STORE_BUSY'
  | 'AGENT_NOT_READY'
  | 'POOLS_EXHAUSTED'
  | 'POOL_EXHAUSTED'
  | 'POOL_NOT_FOUND'
  | 'POOL_DISABLED'
  | 'POOL_FAMILY_MISMATCH'
  | 'NO_POOL'
  | 'INVALID_POOL'
  | 'POOL_OVERLAP'
  | 'INVALID_REQUEST'
  | 'NOT_FOUND'
  | 'NETNS_IN_USE'
  | 'INTERNAL'
  | 'INVALID_ANNOTATION'
  | 'AGENT_STOPPING'
  | 'STORE_REFUSED'
  | 'IP_CONFLICT'
  | 'GATEWAY_UNREACHABLE'
  | 'PROBE_FAILED';

/** How a caller should react to an error. */
export type RetryPolicy = 'never' | 'later' | 'after-fix';

export interface ErrorSpec {
  /** CNI error code written to stdout by the plugin (spec codes < 100, ours >= 100). */
  readonly cni: number;
  /** HTTP status the agent answers with. */
  readonly http: number;
  /** `later`: the same request may succeed unchanged; `after-fix`: the input must change; `never`: it will not succeed. */
  readonly retry: RetryPolicy;
  /** One line for docs/errors.md and `--help` output. */
  readonly summary: string;
}

/**
 * The single table that maps each code to its CNI code, HTTP status and retry
 * policy. Codes are never renumbered; new ones are appended.
 */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorSpec>> = {
  INCOMPATIBLE_VERSION: { cni: 1, http: 400, retry: 'after-fix', summary: 'The cniVersion is not one tidepool supports.' },
  UNKNOWN_CONTAINER: { cni: 3, http: 404, retry: 'never', summary: 'CHECK found no allocation for this container and interface.' },
  BAD_ENVIRONMENT: { cni: 4, http: 400, retry: 'after-fix', summary: 'A CNI_* environment variable is missing or malformed.' },
  IO_FAILURE: { cni: 5, http: 500, retry: 'later', summary: 'Reading stdin or talking to the agent failed mid-way.' },
  DECODE_FAILED: { cni: 6, http: 400, retry: 'after-fix', summary: 'The input is not valid JSON (or YAML for pool files).' },
  INVALID_CONFIG: { cni: 7, http: 400, retry: 'after-fix', summary: 'The network configuration is well-formed but wrong; the message names the field.' },
  AGENT_UNREACHABLE: { cni: 11, http: 503, retry: 'later', summary: 'The plugin could not reach the agent socket.' },
  STORE_BUSY: { cni: 11, http: 503, retry: 'later', summary: 'The store could not answer or commit in time (in Kubernetes mode: the API server answered 409, 410, 429 or 5xx, timed out or broke the connection); try again.' },
  AGENT_NOT_READY: { cni: 50, http: 503, retry: 'later', summary: 'STATUS: the agent cannot serve ADD right now.' },
  POOLS_EXHAUSTED: { cni: 50, http: 503, retry: 'later', summary: 'STATUS: every pool of an address family this network needs is full.' },
  POOL_EXHAUSTED: { cni: 100, http: 409, retry: 'later', summary: 'The named pool has no free IP; the message names the pool, and says how long the ADD waited for one to come free (`--exhausted-wait`).' },
  POOL_NOT_FOUND: { cni: 101, http: 404, retry: 'after-fix', summary: 'The netconf or request names a pool that does not exist.' },
  POOL_DISABLED: { cni: 102, http: 409, retry: 'after-fix', summary: 'The named pool has spec.disable set.' },
  POOL_FAMILY_MISMATCH: { cni: 103, http: 400, retry: 'after-fix', summary: 'A pool listed under ipv4Pools is IPv6, or the reverse.' },
  NO_POOL: { cni: 104, http: 400, retry: 'after-fix', summary: 'No pool is configured for the request and no default pool exists.' },
  INVALID_POOL: { cni: 105, http: 400, retry: 'after-fix', summary: 'A pool definition is invalid; the message names the pool and field.' },
  POOL_OVERLAP: { cni: 106, http: 400, retry: 'after-fix', summary: 'Two pools share addresses; the message names both.' },
  INVALID_REQUEST: { cni: 107, http: 400, retry: 'after-fix', summary: 'An agent API request is malformed; the message names the field.' },
  NOT_FOUND: { cni: 108, http: 404, retry: 'never', summary: 'The IP or object named is not allocated or does not exist.' },
  NETNS_IN_USE: { cni: 110, http: 409, retry: 'after-fix', summary: 'Explicit release refused: the network namespace still exists (use --force).' },
  INTERNAL: { cni: 999, http: 500, retry: 'later', summary: 'A bug in tidepool; the log has the stack.' },
  INVALID_ANNOTATION: { cni: 111, http: 400, retry: 'after-fix', summary: 'A pod or namespace annotation is malformed; the message names the pod, the annotation and the problem.' },
  AGENT_STOPPING: { cni: 11, http: 503, retry: 'later', summary: 'The agent is stopping or restarting: it cut short an ADD that was waiting for a free IP, or closed the connection without answering; try again.' },
  STORE_REFUSED: { cni: 112, http: 502, retry: 'after-fix', summary: "The API server refused tidepool's request: 401 (credentials rejected even after a refresh), 403 (RBAC), 404 (CRDs not installed), 400 or 422 (CRDs older than tidepool); the message names the request and the server's answer." },
  IP_CONFLICT: { cni: 113, http: 409, retry: 'later', summary: "Another host on the LAN answered for the pod's IP (the message names the IP and the MAC): a StatefulSet or VM pod's fixed IP, or every IP tried for a stateless pod; the conflicting IPs are held out of use." },
  GATEWAY_UNREACHABLE: { cni: 114, http: 503, retry: 'later', summary: "Gateway detection: the pool's gateway did not answer from the pod's interface within the timeout (the message names both); nothing was allocated." },
  PROBE_FAILED: { cni: 115, http: 500, retry: 'later', summary: "Gateway detection could not run on the pod's interface (no such link, a probing tool missing on the node); the message says why." },
};

export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

/** Error with a stable code; `details` carries machine-readable context (pool name, field, ...). */
export class TidepoolError extends Error {
  override readonly name = 'TidepoolError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.details = details;
  }

  get spec(): ErrorSpec {
    return ERROR_TABLE[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: { ...this.details } } : { code: this.code, message: this.message };
  }
}

/** Wraps anything thrown into a TidepoolError, keeping TidepoolErrors as they are. */
export function toTidepoolError(err: unknown): TidepoolError {
  if (err instanceof TidepoolError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TidepoolError('INTERNAL', message);
}
