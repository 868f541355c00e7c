// The API server component driven in process on manual timers, for tests of
// what happens over time (watch lag, bookmarks, controllers) that must not
// depend on the machine's speed: time moves only when the test says so.
import { isPromise } from '../../src/apiserver/awaitable.ts';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import { customKind } from '../../src/apiserver/kinds.ts';
import type { ApiRequest, ApiResponse, WatchResponse } from '../../src/apiserver/request.ts';
import { ADMIN, createApiServer, type ApiServer, type ApiServerOptions } from '../../src/apiserver/server.ts';
import { TIDEPOOL_KINDS } from '../../src/apiserver/tidepool-kinds.ts';
import type { Timers } from '../../src/apiserver/timers.ts';

export const T0 = Date.parse('2030-05-01T00:00:00Z');

export interface ManualTimers extends Timers {
  /** Runs every callback due within `ms`, in time order, letting promises settle after each. */
  advance(ms: number): Promise<void>;
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

export function manualTimers(start = T0): ManualTimers {
  let now = start;
  let seq = 0;
  const due: { at: number; seq: number; fn: () => void }[] = [];
  return {
    now: () => now,
    after(ms, fn) {
      const entry = { at: now + Math.max(0, ms), seq: seq++, fn };
      due.push(entry);
      return () => {
        const i = due.indexOf(entry);
        if (i >= 0) due.splice(i, 1);
      };
    },
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        due.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = due[0];
        if (!next || next.at > end) break;
        due.shift();
        now = next.at;
        next.fn();
        await settle();
      }
      now = end;
    },
  };
}

export interface Answer {
  status: number;
  body: any;
  headers: Readonly<Record<string, string>>;
}

export interface Stream {
  readonly events: Array<{ type: string; object: any }>;
  /** Whether the server ended the stream (an ERROR, or nothing to stream). */
  readonly ended: boolean;
  stop(): void;
}

export interface InProcess {
  readonly core: ApiServer;
  readonly timers: ManualTimers;
  call(method: string, path: string, opts?: { body?: unknown; query?: Record<string, string>; contentType?: string }): Promise<Answer>;
  watch(path: string, query?: Record<string, string>): Promise<Stream>;
  stop(): void;
}

/** A server with the built-in and tidepool kinds on manual timers; `watchLag` defaults to a fixed 5 ms. */
export function startInProcess(opts: Partial<ApiServerOptions> = {}): InProcess {
  const timers = manualTimers();
  const core = createApiServer({ now: () => new Date(timers.now()), timers, watchLag: () => 5, kinds: [...builtinKinds(), ...TIDEPOOL_KINDS.map(customKind)], ...opts });
  const request = (method: string, path: string, o: { body?: unknown; query?: Record<string, string>; contentType?: string } = {}): ApiRequest => {
    const req: { -readonly [K in keyof ApiRequest]: ApiRequest[K] } = { method, path, query: new URLSearchParams(o.query ?? {}), contentType: o.body === undefined ? '' : (o.contentType ?? 'application/json'), user: ADMIN };
    if (o.body !== undefined) req.body = { value: o.body };
    return req;
  };
  return {
    core,
    timers,
    async call(method, path, o) {
      const handled = core.router.handle(request(method, path, o));
      const r = (isPromise(handled) ? await handled : handled) as ApiResponse;
      return { status: r.status, body: structuredClone(r.body), headers: r.headers };
    },
    async watch(path, query = {}) {
      const handled = core.router.handle(request('GET', path, { query: { ...query, watch: 'true' } }));
      const r = (isPromise(handled) ? await handled : handled) as WatchResponse | ApiResponse;
      if (r.kind !== 'watch') throw new Error(`watch ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      const events: Array<{ type: string; object: any }> = [];
      let ended = false;
      const stream = r.start({ write: (line) => void events.push(JSON.parse(line)) });
      if (!stream) ended = true;
      return {
        events,
        get ended() {
          return ended || events.some((e) => e.type === 'ERROR');
        },
        stop: () => stream?.stop(),
      };
    },
    stop: () => core.stop(),
  };
}
