import { createTimedHeap } from '../util/heap.ts';
import { noWorkQueueMetrics, type WorkQueueMetrics } from './work-queue-metrics.ts';
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
  /** `addAt` for a key whose processing failed: counted as a retry. */
  retryAt(key: string, at: number): void;
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

export interface WorkQueueDeps {
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => () => void;
  readonly metrics?: WorkQueueMetrics;
}

export function createWorkQueue(deps: WorkQueueDeps): WorkQueue {
  const metrics = deps.metrics ?? noWorkQueueMetrics;
  const heap = createTimedHeap<Entry>();
  // When each waiting key was first put on the queue, and when each key handed out was: for the latency metrics.
  const addedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
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

  /** Puts a key that is not being processed on the queue; false if it already waits as early. */
  function enqueue(key: string, at: number): boolean {
    const current = dueAt.get(key);
    if (current !== undefined && current <= at) return false;
    if (current === undefined) addedAt.set(key, deps.now());
    dueAt.set(key, at);
    heap.push({ key, at, seq: seq++ });
    metrics.depth(dueAt.size);
    schedule();
    return true;
  }

  /** A key leaves the queue for a worker: its wait counts from when it was both added and due. */
  function handOut(entry: Entry): void {
    const now = deps.now();
    const since = Math.max(entry.at, addedAt.get(entry.key) ?? entry.at);
    addedAt.delete(entry.key);
    startedAt.set(entry.key, now);
    metrics.waited(Math.max(0, now - since) / 1000);
    metrics.depth(dueAt.size);
  }

  const queue: WorkQueue = {
    add(key) {
      queue.addAt(key, deps.now());
    },
    addAt(key, at) {
      if (processing.has(key)) {
        const pending = again.get(key);
        if (pending === undefined || at < pending) {
          again.set(key, at);
          metrics.added();
        }
        return;
      }
      if (enqueue(key, at)) metrics.added();
    },
    retryAt(key, at) {
      metrics.retried();
      queue.addAt(key, at);
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
          handOut(top);
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
      const started = startedAt.get(key);
      if (started !== undefined) metrics.worked(Math.max(0, deps.now() - started) / 1000);
      startedAt.delete(key);
      processing.delete(key);
      const at = again.get(key);
      if (at !== undefined) {
        again.delete(key);
        // Counted as added when it was asked for during processing.
        enqueue(key, at);
      }
    },
    get size() {
      return dueAt.size;
    },
  };
  return queue;
}
