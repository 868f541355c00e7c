/**
 * A minimal HTTP/1.1 client for the agent's unix socket. node:http would
 * work but costs start-up time on every pod ADD; one request per connection
 * (`Connection: close`) keeps the protocol small enough to write by hand.
 */
import { createConnection } from 'node:net';
import type { ErrorBody } from '../api/protocol.ts';
import { TidepoolError, isErrorCode } from '../ipam/errors.ts';

export interface AgentClientOptions {
  readonly socket: string;
  readonly timeoutMs: number;
}

export interface AgentClient {
  /**
   * POSTs `body` as JSON and resolves with the parsed 2xx body. Rejects with
   * a TidepoolError: AGENT_UNREACHABLE when no connection could be made
   * (missing socket, refused, timed out before connecting), AGENT_STOPPING
   * when the agent closed the connection without sending a byte (it was
   * stopped or killed; retryable), IO_FAILURE when the exchange broke
   * part-way or timed out after connecting, and the agent's own code
   * (INTERNAL for one this plugin does not know) for a non-2xx answer.
   */
  post<T>(path: string, body: unknown): Promise<T>;
}

/** A parsed response; `body` is the de-chunked, length-trimmed body as UTF-8. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** The bytes of one request; `Host` is required by HTTP/1.1 even over a unix socket. */
export function planHttpRequest(path: string, json: string): string {
  return (
    `POST ${path} HTTP/1.1\r\n` +
    'Host: tidepool\r\n' +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(json)}\r\n` +
    'Connection: close\r\n' +
    '\r\n' +
    json
  );
}

function malformed(reason: string): TidepoolError {
  return new TidepoolError('IO_FAILURE', `the agent sent a malformed HTTP response: ${reason}`);
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) throw malformed('truncated chunk size');
    // Chunk extensions after ';' carry nothing tidepool uses.
    const sizeText = data.subarray(at, eol).toString('latin1').split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw malformed(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    if (size === 0) return Buffer.concat(parts);
    const start = eol + 2;
    if (start + size + 2 > data.length) throw malformed('truncated chunk');
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

/**
 * Parses a complete response read until the server closed. Supports
 * Content-Length, chunked transfer-encoding and read-until-close bodies.
 * Throws IO_FAILURE for anything else.
 */
export function parseHttpResponse(data: Buffer): HttpResponse {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) throw malformed(data.length === 0 ? 'the connection closed without a response' : 'no end of headers');
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusMatch = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!statusMatch) throw malformed(`bad status line ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed(`bad header line ${JSON.stringify(line)}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = data.subarray(headEnd + 4);
  const transferEncoding = headers.get('transfer-encoding');
  const contentLength = headers.get('content-length');
  if (transferEncoding !== undefined && transferEncoding.toLowerCase() !== 'identity') {
    if (transferEncoding.toLowerCase() !== 'chunked') throw malformed(`unsupported transfer-encoding ${transferEncoding}`);
    body = decodeChunked(body);
  } else if (contentLength !== undefined) {
    if (!/^\d+$/.test(contentLength)) throw malformed(`bad content-length ${JSON.stringify(contentLength)}`);
    const length = Number(contentLength);
    if (body.length < length) throw malformed(`body has ${body.length} of ${length} bytes`);
    body = body.subarray(0, length);
  }
  return { status: Number(statusMatch[1]), headers, body: body.toString('utf8') };
}

/** Turns a non-2xx answer into the agent's error, keeping codes this plugin does not know visible. */
export function planAgentError(response: HttpResponse): TidepoolError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as Partial<ErrorBody> | undefined)?.error;
  if (typeof error !== 'object' || error === null || typeof error.code !== 'string') {
    const excerpt = response.body.slice(0, 200);
    return new TidepoolError('INTERNAL', `the agent answered HTTP ${response.status} without an error body: ${excerpt}`, { status: response.status });
  }
  const message = typeof error.message === 'string' ? error.message : `agent error ${error.code}`;
  const details = typeof error.details === 'object' && error.details !== null ? error.details : undefined;
  if (isErrorCode(error.code)) return new TidepoolError(error.code, message, details);
  return new TidepoolError('INTERNAL', message, { ...details, agentCode: error.code });
}

/** Creates a client for one socket; every `post` opens and closes its own connection. */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  const { socket: path, timeoutMs } = options;

  const exchange = (request: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let connected = false;
      let settled = false;
      const conn = createConnection({ path });
      const finish = (err: TidepoolError | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.destroy();
        if (err) reject(err);
        // Not a byte of answer: the agent went away (stopping, restarting, killed) before it could answer; a malformed answer has bytes.
        else if (chunks.length === 0) reject(closedWithoutAnswer());
        else resolve(Buffer.concat(chunks));
      };
      const closedWithoutAnswer = (): TidepoolError =>
        new TidepoolError('AGENT_STOPPING', `the tidepool agent at ${path} closed the connection without answering (it is probably restarting); try again`, {
          socket: path,
        });
      const timer = setTimeout(() => {
        finish(
          connected
            ? new TidepoolError('IO_FAILURE', `the agent at ${path} did not answer within ${timeoutMs} ms`, { socket: path, timeoutMs })
            : new TidepoolError('AGENT_UNREACHABLE', `could not connect to the tidepool agent at ${path} within ${timeoutMs} ms`, {
                socket: path,
                timeoutMs,
              }),
        );
      }, timeoutMs);
      conn.on('connect', () => {
        connected = true;
        // No half-close: some servers drop a request whose client already sent FIN.
        conn.write(request);
      });
      conn.on('data', (chunk: Buffer) => chunks.push(chunk));
      conn.on('end', () => finish(undefined));
      conn.on('close', () => finish(undefined));
      conn.on('error', (err: NodeJS.ErrnoException) => {
        const errno = err.code ?? 'EUNKNOWN';
        // A unix socket closed by its peer with our request unread gives ECONNRESET (or EPIPE if we were still writing).
        if (connected && chunks.length === 0 && (errno === 'ECONNRESET' || errno === 'EPIPE')) {
          finish(closedWithoutAnswer());
          return;
        }
        finish(
          connected
            ? new TidepoolError('IO_FAILURE', `talking to the tidepool agent at ${path} failed: ${err.message}`, { socket: path, errno })
            : new TidepoolError('AGENT_UNREACHABLE', `the tidepool agent is not reachable at ${path} (${errno}); is it running?`, {
                socket: path,
                errno,
              }),
        );
      });
    });

  return {
    async post<T>(apiPath: string, body: unknown): Promise<T> {
      const response = parseHttpResponse(await exchange(planHttpRequest(apiPath, JSON.stringify(body))));
      if (response.status < 200 || response.status > 299) throw planAgentError(response);
      try {
        return JSON.parse(response.body) as T;
      } catch {
        throw new TidepoolError('IO_FAILURE', `the agent answered ${apiPath} with a body that is not JSON`, { path: apiPath });
      }
    },
  };
}
