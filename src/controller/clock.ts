/**
 * Time as the controller sees it. Every wait and timestamp in src/controller
 * goes through a Clock, so tests (and the deterministic simulator) can run
 * leader election, debouncing and retries in virtual time. Only the
 * composition root builds the real one.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or early (never rejecting) once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` once after `ms`; the returned function cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/**
 * A Clock from a time source and a timer: `sleep` is a cancellable timer, so
 * every clock (real, manual, instrumented) sleeps the same way.
 */
export function createClock(now: () => number, setTimer: (fn: () => void, ms: number) => () => void): Clock {
  return {
    now,
    setTimer,
    sleep(ms, signal) {
      return new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        const onAbort = () => {
          cancel();
          resolve();
        };
        const cancel = setTimer(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}

/** A clock that moves only when told to; timers fire in due order during `advance`. */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in order and letting their callbacks' promise chains settle. */
  advance(ms: number): Promise<void>;
  /** Timers not yet fired or cancelled. */
  pending(): number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Lets already-queued promise callbacks and I/O completions run before the next timer fires. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function createManualClock(start = Date.UTC(2025, 0, 1)): ManualClock {
  let current = start;
  let seq = 0;
  const timers = new Set<Timer>();

  const clock: ManualClock = {
    ...createClock(
      () => current,
      (fn, ms) => {
        const timer: Timer = { at: current + Math.max(0, ms), seq: seq++, fn };
        timers.add(timer);
        return () => {
          timers.delete(timer);
        };
      },
    ),
    async advance(ms) {
      const target = current + ms;
      for (;;) {
        let next: Timer | undefined;
        for (const t of timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
        if (!next) break;
        timers.delete(next);
        current = Math.max(current, next.at);
        next.fn();
        await settle();
      }
      current = target;
      await settle();
    },
    pending: () => timers.size,
  };
  return clock;
}
