/**
 * Reads Prometheus' text exposition format as a test needs it: the families
 * a process declares (`# TYPE`) and the label names of each series, with a
 * histogram's `_bucket`, `_sum` and `_count` series filed under its family.
 */
export interface Exposition {
  /** Family name to its type (counter, gauge, histogram, ...). */
  readonly types: ReadonlyMap<string, string>;
  /** Family name to the label names seen on its series (`le` left out). */
  readonly labels: ReadonlyMap<string, ReadonlySet<string>>;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!sample) continue;
    const family = familyOf(sample[1]!, types);
    const names = labels.get(family) ?? new Set<string>();
    for (const l of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) if (l[1] !== 'le') names.add(l[1]!);
    labels.set(family, names);
  }
  return { types, labels };
}

function familyOf(series: string, types: ReadonlyMap<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = series.slice(0, -suffix.length);
    if (series.endsWith(suffix) && types.get(base) === 'histogram') return base;
  }
  return series;
}
