// One resource's window of past events in the watch cache, sized like the
// real one (watch_cache_history.go): it starts at `lower` events, doubles
// while full and its oldest event is younger than `freshMs`, halves when a
// quarter of it has gone stale, never beyond `upper`. A busy resource thus
// forgets old revisions while a quiet one still serves them; a watch from a
// revision before the window gets "too old resource version".
import type { HistoryEvent } from './store.ts';

export interface HistorySizing {
  readonly lower: number;
  readonly upper: number;
  /** How long events must be kept before the window may shrink (the real eventFreshDuration, 75 s). */
  readonly freshMs: number;
}

export const DEFAULT_HISTORY_SIZING: HistorySizing = { lower: 100, upper: 100 * 1024, freshMs: 75_000 };

interface Entry {
  readonly event: HistoryEvent;
  readonly at: number;
}

export class WatchHistory {
  private entries: Entry[] = [];
  private capacity: number;
  /** Nothing was evicted since `listRv`, the revision the cache started from: everything after it is known. */
  private removedSinceList = false;

  constructor(
    private readonly sizing: HistorySizing,
    private readonly listRv: number,
  ) {
    this.capacity = sizing.lower;
  }

  add(event: HistoryEvent, at: number): void {
    this.resize(at);
    if (this.entries.length >= this.capacity) {
      this.entries.splice(0, this.entries.length - this.capacity + 1);
      this.removedSinceList = true;
    }
    this.entries.push({ event, at });
  }

  private resize(at: number): void {
    const full = this.entries.length >= this.capacity;
    if (!full) return;
    if (at - this.entries[0]!.at < this.sizing.freshMs) {
      this.capacity = Math.min(this.capacity * 2, this.sizing.upper);
      return;
    }
    const quarter = this.entries[this.entries.length - Math.floor(this.capacity / 4)];
    if (quarter && at - quarter.at > this.sizing.freshMs) {
      this.capacity = Math.max(Math.floor(this.capacity / 2), this.sizing.lower);
      if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    }
  }

  /** The oldest revision a watch may start from, minus one (the real "(N)" of "too old resource version: X (N)"). */
  oldestServable(): number {
    if (!this.removedSinceList) return this.listRv;
    return (this.entries[0]?.event.rv ?? this.listRv + 1) - 1;
  }

  /** Events after `rv`, or undefined when the window no longer reaches back that far. */
  since(rv: number): HistoryEvent[] | undefined {
    if (rv < this.oldestServable()) return undefined;
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid]!.event.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo).map((e) => e.event);
  }
}
