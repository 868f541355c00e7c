// The controllers' work queue, as client-go's rate-limited queue behaves for
// one worker: a key is queued at most once; it is processed later than it
// was added (never inside the write that caused it); a failure puts it back
// after an exponential backoff, a success forgets its failures. Keys are
// processed one at a time, so a simulated run replays exactly.
import type { Timers } from '../timers.ts';

export interface WorkQueueOptions {
  readonly timers: Timers;
  /** First retry delay and the cap of the exponential backoff (client-go's controller limiter: 5 ms to 1000 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Told of each failure (the queue retries it). */
  readonly onError?: (key: string, err: unknown) => void;
}

/** What processing a key asks for next: nothing, or to be looked at again after a while. */
export type Outcome = void | { requeueAfterMs: number };

export interface WorkQueue {
  add(key: string): void;
  addAfter(key: string, ms: number): void;
  stop(): void;
}

export function createWorkQueue(process: (key: string) => Promise<Outcome>, opts: WorkQueueOptions): WorkQueue {
  const { timers } = opts;
  const base = opts.baseDelayMs ?? 5;
  const max = opts.maxDelayMs ?? 1_000_000;
  const queued = new Set<string>();
  const failures = new Map<string, number>();
  const delayed = new Map<string, { at: number; cancel: () => void }>();
  let busy = false;
  let scheduled = false;
  let stopped = false;

  function add(key: string): void {
    if (stopped) return;
    queued.add(key);
    if (!busy && !scheduled) {
      scheduled = true;
      timers.after(0, () => {
        scheduled = false;
        void drain();
      });
    }
  }

  function addAfter(key: string, ms: number): void {
    if (stopped) return;
    if (ms <= 0) return add(key);
    // A key already waiting keeps the earlier of its two times, as client-go's delaying queue does.
    const at = timers.now() + ms;
    const waiting = delayed.get(key);
    if (waiting && waiting.at <= at) return;
    waiting?.cancel();
    const cancel = timers.after(ms, () => {
      delayed.delete(key);
      add(key);
    });
    delayed.set(key, { at, cancel });
  }

  async function drain(): Promise<void> {
    busy = true;
    while (!stopped && queued.size > 0) {
      const key = queued.values().next().value as string;
      queued.delete(key);
      try {
        const outcome = await process(key);
        failures.delete(key);
        if (outcome) addAfter(key, outcome.requeueAfterMs);
      } catch (err) {
        const n = (failures.get(key) ?? 0) + 1;
        failures.set(key, n);
        opts.onError?.(key, err);
        addAfter(key, Math.min(max, base * 2 ** (n - 1)));
      }
    }
    busy = false;
  }

  return {
    add,
    addAfter,
    stop() {
      stopped = true;
      for (const d of delayed.values()) d.cancel();
      delayed.clear();
      queued.clear();
    },
  };
}
