// A request's pipeline stays synchronous until one of its stages really has
// to wait (an admission webhook, a delayed fault). The simulator relies on
// this: with nothing asynchronous plugged in, a request is answered within
// the virtual instant it reaches the server, so runs replay exactly.

/** A value now, or later. */
export type Awaitable<T> = T | Promise<T>;

export function isPromise<T>(v: Awaitable<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/** Applies `next` at once when `value` is ready, else once it resolves. */
export function then<T, U>(value: Awaitable<T>, next: (v: T) => Awaitable<U>): Awaitable<U> {
  return isPromise(value) ? value.then(next) : next(value);
}

/** Runs `run`, turning a throw or a rejection into `onError`'s answer. */
export function attempt<T>(run: () => Awaitable<T>, onError: (err: unknown) => T): Awaitable<T> {
  let out: Awaitable<T>;
  try {
    out = run();
  } catch (err) {
    return onError(err);
  }
  return isPromise(out) ? out.catch(onError) : out;
}
