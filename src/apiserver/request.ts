// The router's contract with its transports: a request as a transport has
// parsed it, and what the router answers. Nothing here knows HTTP or
// virtual time; each transport maps its own wire onto these types, so the
// same request gets the same answer through either.
import type { UserInfo } from './authentication.ts';

/** A request body: bytes off a wire (decoded by media type), or a value an in-process client passes as is (treated as JSON). */
export type RequestBody = { readonly bytes: Uint8Array } | { readonly value: unknown };

/** One API request, as the router takes it. */
export interface ApiRequest {
  /** HTTP method: GET, POST, PUT, PATCH, DELETE. */
  readonly method: string;
  /** The URL path as sent (percent-encoded segments are decoded by the router). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The body's media type, lower-case, without parameters; '' when none was sent. */
  readonly contentType: string;
  /** The Accept header as sent, when one was (Table output, the OpenAPI v2 document's protobuf). */
  readonly accept?: string;
  /** The Authorization header, for the authentication stage. */
  readonly authorization?: string;
  /** The User-Agent header: names the field manager of writes that send no fieldManager. */
  readonly userAgent?: string;
  readonly body?: RequestBody;
  /** A user the transport vouches for (an in-process client): authentication is skipped. */
  readonly user?: UserInfo;
}

/** A complete answer. `body` is a JSON value for application/json (it may be a stored object: never mutate it), else text. */
export interface ApiResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

/** Where a watch writes its newline-terminated JSON event lines. */
export interface WatchSink {
  write(line: string): void;
}

/** A running watch; `stop` unregisters it (the transport ends its stream). */
export interface WatchStream {
  stop(): void;
}

/**
 * A watch that was accepted (HTTP 200). The transport sends the headers,
 * then calls `start`, which writes the initial events at once; undefined
 * means the stream already ended (an ERROR event was written) and the
 * transport closes it. The server ends the stream after `timeoutMs`.
 */
export interface WatchResponse {
  readonly kind: 'watch';
  readonly status: 200;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number | undefined;
  start(sink: WatchSink): WatchStream | undefined;
}

/** No answer at all: the connection breaks (`reset`) or stays silent (`hang`). Only injected faults produce it. */
export interface NoAnswer {
  readonly kind: 'no-answer';
  readonly how: 'reset' | 'hang';
}

export type ApiResult = ApiResponse | WatchResponse | NoAnswer;

export const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json', 'cache-control': 'no-cache, private' };

/** A JSON answer. */
export function jsonResponse(status: number, body: unknown): ApiResponse {
  return { kind: 'response', status, headers: JSON_HEADERS, body };
}
