/** Timed entries ordered by time, then by insertion (`seq`): what timers and delaying queues need. */
export interface TimedEntry {
  readonly at: number;
  readonly seq: number;
}

/** A binary min-heap of timed entries; `peek` and `pop` give the earliest, ties in insertion order. */
export interface TimedHeap<T extends TimedEntry> {
  push(e: T): void;
  pop(): T | undefined;
  peek(): T | undefined;
  readonly size: number;
}

export function createTimedHeap<T extends TimedEntry>(): TimedHeap<T> {
  const heap: T[] = [];
  const less = (a: T, b: T) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
  return {
    push(e) {
      heap.push(e);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!less(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    },
    pop() {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length > 0 && last) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    },
    peek: () => heap[0],
    get size() {
      return heap.length;
    },
  };
}
