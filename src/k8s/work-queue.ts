import { createTimedHeap } from '../util/heap.ts';
/**
 * A keyed, de-duplicating work queue with due times, in the manner of
 * controller-runtime: a key waits at most once in the queue (at its earliest
 * due time), a key being processed is never handed out twice at once, and a
 * key added while it is processed is handed out again after `done`. Time
 * comes from the injected `now`/`setTimer`, so tests run it in virtual time.
 */
export interface WorkQueue {
  /** Due now. */
  add(key: string): void;
  /** Due at `at` (ms); an earlier pending due time wins. */
  addAt(key: string, at: number): void;
  /** Resolves with the next due key, waiting as needed; undefined once `signal` aborts. */
  next(signal: AbortSignal): Promise<string | undefined>;
  /** Marks a key handed out by `next` as finished. */
  done(key: string): void;
  /** Keys waiting (due or not), not counting those being processed. */
  readonly size: number;
}

interface Entry {
  readonly key: string;
  readonly at: number;
  readonly seq: number;
}

export function createWorkQueue(deps: { now: () => number; setTimer: (fn: () => void, ms: number) => () => void }): WorkQueue {
  const heap = createTimedHeap<Entry>();
  // The due time that counts for each waiting key; heap entries that disagree are stale and skipped.
  const dueAt = new Map<string, number>();
  const processing = new Set<string>();
  // Keys added while being processed, with the due time asked for.
  const again = new Map<string, number>();
  const waiters: Array<() => void> = [];
  let seq = 0;
  let cancelTimer: (() => void) | undefined;
  let timerAt = Infinity;

  /** Drops stale heap tops so the top is a live entry. */
  function clean(): void {
    for (let top = heap.peek(); top && dueAt.get(top.key) !== top.at; top = heap.peek()) heap.pop();
  }
  function wake(): void {
    for (const w of waiters.splice(0)) w();
  }
  function schedule(): void {
    clean();
    const top = heap.peek();
    if (!top) return;
    if (top.at <= deps.now()) return wake();
    if (top.at >= timerAt) return;
    cancelTimer?.();
    timerAt = top.at;
    cancelTimer = deps.setTimer(() => {
      timerAt = Infinity;
      cancelTimer = undefined;
      wake();
    }, top.at - deps.now());
  }

  const queue: WorkQueue = {
    add(key) {
      queue.addAt(key, deps.now());
    },
    addAt(key, at) {
      if (processing.has(key)) {
        const pending = again.get(key);
        if (pending === undefined || at < pending) again.set(key, at);
        return;
      }
      const current = dueAt.get(key);
      if (current !== undefined && current <= at) return;
      dueAt.set(key, at);
      heap.push({ key, at, seq: seq++ });
      schedule();
    },
    async next(signal) {
      for (;;) {
        if (signal.aborted) return undefined;
        clean();
        const top = heap.peek();
        if (top && top.at <= deps.now()) {
          heap.pop();
          dueAt.delete(top.key);
          processing.add(top.key);
          return top.key;
        }
        schedule();
        await new Promise<void>((resolve) => {
          const onAbort = () => resolve();
          signal.addEventListener('abort', onAbort, { once: true });
          waiters.push(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          });
        });
      }
    },
    done(key) {
      processing.delete(key);
      const at = again.get(key);
      if (at !== undefined) {
        again.delete(key);
        queue.addAt(key, at);
      }
    },
    get size() {
      return dueAt.size;
    },
  };
  return queue;
}
