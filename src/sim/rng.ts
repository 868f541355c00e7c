/**
 * A seeded random source (sfc32, seeded through splitmix32). Everything random
 * in a simulation draws from one of these, so a seed replays exactly; `fork`
 * derives an independent stream, so adding draws in one part of the simulator
 * does not shift every other part's choices.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** `n` lowercase hex characters. */
  hex(n: number): string;
  /** A new generator seeded from this one and `label`. */
  fork(label: string): Rng;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createRng(seed: number): Rng {
  const init = splitmix32(seed);
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  const rng: Rng = {
    next: () => u32() / 0x1_0000_0000,
    int: (n) => Math.floor(rng.next() * n),
    between: (lo, hi) => lo + rng.int(hi - lo + 1),
    chance: (p) => p > 0 && rng.next() < p,
    pick(items) {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[rng.int(items.length)]!;
    },
    hex(n) {
      let out = '';
      while (out.length < n) out += u32().toString(16).padStart(8, '0');
      return out.slice(0, n);
    },
    fork: (label) => createRng((u32() ^ hashLabel(label)) >>> 0),
  };
  return rng;
}
