// The two limits the bench's kubelets and controllers obey: a bound on work
// in flight, and client-go's client-side rate limit.

/** A FIFO counting semaphore: kubelet's bound on sandboxes in flight per node, a client's requests in flight. */
export class Semaphore {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** Time as a token bucket sees it; injectable so tests need no real waiting. */
export interface BucketClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: BucketClock = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/**
 * client-go's client-side limit (a token bucket from golang.org/x/time/rate):
 * `qps` tokens a second, at most `burst` saved up. Each take reserves the
 * next token, so the n-th taker beyond the burst is let through at n/qps
 * seconds whenever it runs: a taker woken late does not push back the ones
 * after it. `qps` 0: no limit.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: BucketClock = realClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  take(): Promise<void> {
    if (this.qps <= 0) return Promise.resolve();
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? Promise.resolve() : this.clock.sleep((-this.tokens / this.qps) * 1000);
  }
}
