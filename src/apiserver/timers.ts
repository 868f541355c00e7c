// Time for the parts of the API server that act on their own: the watch
// cache's lag and bookmarks, waits for a fresh cache, and the controllers
// running in the server. Injected, so the simulator runs them in virtual
// time and a seed replays exactly; the HTTP test server uses the real clock.

/** A clock and one-shot timers; `after` returns a cancel function. */
export interface Timers {
  now(): number;
  after(ms: number, fn: () => void): () => void;
}

/** Timers on the real clock; they do not keep the process alive. */
export function realTimers(): Timers {
  return {
    now: () => Date.now(),
    after(ms, fn) {
      const t = setTimeout(fn, Math.max(0, ms));
      t.unref();
      return () => clearTimeout(t);
    },
  };
}

/** Wraps timers so that everything scheduled through them can be cancelled at once (a server that stops). */
export function cancellableTimers(base: Timers): Timers & { cancelAll(): void } {
  const pending = new Set<() => void>();
  let stopped = false;
  return {
    now: () => base.now(),
    after(ms, fn) {
      if (stopped) return () => {};
      let cancel: () => void = () => {};
      const entry = () => cancel();
      cancel = base.after(ms, () => {
        pending.delete(entry);
        if (!stopped) fn();
      });
      pending.add(entry);
      return () => {
        pending.delete(entry);
        cancel();
      };
    },
    cancelAll() {
      stopped = true;
      for (const c of [...pending]) c();
      pending.clear();
    },
  };
}
