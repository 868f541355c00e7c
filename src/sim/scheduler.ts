import { createClock, type Clock } from '../controller/clock.ts';
import { createTimedHeap } from '../util/heap.ts';

/**
 * Virtual time for a simulation: one queue of timed callbacks, run strictly
 * in (time, insertion) order. Between callbacks every pending promise
 * continuation runs to completion (`settle`), so the real code under test
 * advances exactly as far as the events allow and no further. Nothing here
 * reads the wall clock or sleeps.
 */
export interface Scheduler {
  readonly now: number;
  /** Runs `fn` at virtual time `at` (not before now). `owner` lets a killed process drop its timers. */
  at(at: number, fn: () => void, owner?: string): () => void;
  after(ms: number, fn: () => void, owner?: string): () => void;
  /** Cancels every pending callback of `owner`. */
  cancelOwner(owner: string): void;
  /** A Clock over virtual time whose timers belong to `owner`. */
  clock(owner?: string): Clock;
  readonly pending: number;
  /** Runs the next callback and settles; false when none is due at or before `until`. */
  step(until: number): Promise<boolean>;
  /** Advances the clock to `t` without running anything (only when nothing is due before it). */
  advanceTo(t: number): void;
  readonly steps: number;
}

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
  owner: string | undefined;
  cancelled: boolean;
}

/** Lets every queued promise continuation run; setImmediate fires only after the microtask queue is empty. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function createScheduler(start: number): Scheduler {
  let now = start;
  let seq = 0;
  let steps = 0;
  const heap = createTimedHeap<Entry>();
  const byOwner = new Map<string, Set<Entry>>();
  let live = 0;
  function forget(e: Entry): void {
    if (e.owner !== undefined) byOwner.get(e.owner)?.delete(e);
  }

  const sched: Scheduler = {
    get now() {
      return now;
    },
    get pending() {
      return live;
    },
    get steps() {
      return steps;
    },
    at(at, fn, owner) {
      const e: Entry = { at: Math.max(at, now), seq: seq++, fn, owner, cancelled: false };
      heap.push(e);
      live++;
      if (owner !== undefined) {
        let set = byOwner.get(owner);
        if (!set) byOwner.set(owner, (set = new Set()));
        set.add(e);
      }
      return () => {
        if (e.cancelled) return;
        e.cancelled = true;
        live--;
        forget(e);
      };
    },
    after: (ms, fn, owner) => sched.at(now + Math.max(0, ms), fn, owner),
    cancelOwner(owner) {
      for (const e of byOwner.get(owner) ?? []) {
        if (!e.cancelled) live--;
        e.cancelled = true;
      }
      byOwner.delete(owner);
    },
    clock: (owner) => createClock(() => now, (fn, ms) => sched.after(ms, fn, owner)),
    async step(until) {
      for (;;) {
        const top = heap.peek();
        if (!top) return false;
        if (top.cancelled) {
          heap.pop();
          continue;
        }
        if (top.at > until) return false;
        heap.pop();
        top.cancelled = true;
        live--;
        forget(top);
        now = top.at;
        steps++;
        top.fn();
        await settle();
        return true;
      }
    },
    advanceTo(t) {
      if (t > now) now = t;
    },
  };
  return sched;
}
