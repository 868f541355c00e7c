// Sets of field paths, as managedFields records them (sigs.k8s.io/
// structured-merge-diff fieldpath.Set): a path is a list of path elements,
// each written as FieldsV1 writes it — `f:<field>`, `k:<key fields as JSON>`
// for an item of a keyed list, `v:<value as JSON>` for an item of a set,
// `i:<index>`. A set is a tree: the elements that are members at this level,
// and the sets below each element. Paths are iterated, and FieldsV1 written,
// in the real element order (fields, then keys, then values, then indexes).
import { compareValues } from './values.ts';

export type PathElement = string;
export type Path = readonly PathElement[];

const RANK: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

/** The real order of path elements: by kind, then field names, key fields and values, indexes numerically. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  const ra = RANK[a[0]!] ?? 4;
  const rb = RANK[b[0]!] ?? 4;
  if (ra !== rb) return ra - rb;
  const x = a.slice(2);
  const y = b.slice(2);
  if (ra === 0) return x < y ? -1 : x > y ? 1 : 0;
  if (ra === 3) return Number(x) - Number(y);
  if (ra === 2) return compareValues(JSON.parse(x), JSON.parse(y));
  return compareKeys(JSON.parse(x) as Record<string, unknown>, JSON.parse(y) as Record<string, unknown>);
}

function compareKeys(a: Record<string, unknown>, b: Record<string, unknown>): number {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    const c = compareValues(a[ka[i]!], b[kb[i]!]);
    if (c !== 0) return c;
  }
  return ka.length - kb.length;
}

/** A path as the real server prints it in conflicts: `.spec.containers[name="app"].image`. */
export function pathString(path: Path): string {
  return path.map(elementString).join('');
}

function elementString(pe: PathElement): string {
  const body = pe.slice(2);
  switch (pe[0]) {
    case 'f':
      return `.${body}`;
    case 'k': {
      const key = JSON.parse(body) as Record<string, unknown>;
      return `[${Object.keys(key).sort().map((k) => `${k}=${valueString(key[k])}`).join(',')}]`;
    }
    case 'v':
      return `[=${valueString(JSON.parse(body))}]`;
    default:
      return `[${body}]`;
  }
}

const valueString = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : String(v));

export class FieldSet {
  private readonly members = new Set<PathElement>();
  private readonly children = new Map<PathElement, FieldSet>();

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: Path): void {
    if (path.length === 0) return;
    const [head, ...rest] = path as [PathElement, ...PathElement[]];
    if (rest.length === 0) this.members.add(head);
    else this.child(head).insert(rest);
  }

  private child(pe: PathElement): FieldSet {
    let c = this.children.get(pe);
    if (!c) this.children.set(pe, (c = new FieldSet()));
    return c;
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    const [head, ...rest] = path as [PathElement, ...PathElement[]];
    if (rest.length === 0) return this.members.has(head);
    return this.children.get(head)?.has(rest) ?? false;
  }

  isEmpty(): boolean {
    if (this.members.size > 0) return false;
    for (const c of this.children.values()) if (!c.isEmpty()) return false;
    return true;
  }

  /** The set of paths below `pe` (empty when none). */
  withPrefix(pe: PathElement): FieldSet {
    return this.children.get(pe) ?? new FieldSet();
  }

  /** The members at this level and the elements with paths below them. */
  memberElements(): PathElement[] {
    return [...this.members];
  }

  childElements(): [PathElement, FieldSet][] {
    return [...this.children.entries()];
  }

  union(o: FieldSet): FieldSet {
    const out = this.copy();
    for (const m of o.members) out.members.add(m);
    for (const [pe, c] of o.children) {
      const mine = out.children.get(pe);
      out.children.set(pe, mine ? mine.union(c) : c.copy());
    }
    return out;
  }

  difference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!o.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const theirs = o.children.get(pe);
      const rest = theirs ? c.difference(theirs) : c.copy();
      if (!rest.isEmpty()) out.children.set(pe, rest);
    }
    return out;
  }

  intersection(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (o.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      const theirs = o.children.get(pe);
      if (!theirs) continue;
      const both = c.intersection(theirs);
      if (!both.isEmpty()) out.children.set(pe, both);
    }
    return out;
  }

  /** Removes every path that is, or lies below, a member of `o` (a filter of fields the server resets). */
  recursiveDifference(o: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!o.members.has(m)) out.members.add(m);
    for (const [pe, c] of this.children) {
      if (o.members.has(pe)) continue;
      const below = o.children.get(pe);
      const rest = below ? c.recursiveDifference(below) : c.copy();
      if (!rest.isEmpty()) out.children.set(pe, rest);
    }
    return out;
  }

  copy(): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) out.members.add(m);
    for (const [pe, c] of this.children) out.children.set(pe, c.copy());
    return out;
  }

  /** Every path: this level's members first, then each child's paths, all in the real element order. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [...this.members].sort(comparePathElements).map((m) => [...prefix, m]);
    for (const pe of [...this.children.keys()].sort(comparePathElements)) out.push(...this.children.get(pe)!.paths([...prefix, pe]));
    return out;
  }

  equals(o: FieldSet): boolean {
    return JSON.stringify(this.toFieldsV1()) === JSON.stringify(o.toFieldsV1());
  }

  /** The FieldsV1 form: `{}` for a member, `{".": {}, ...}` for a member with paths below it. */
  toFieldsV1(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const elements = new Set([...this.members, ...[...this.children].filter(([, c]) => !c.isEmpty()).map(([pe]) => pe)]);
    for (const pe of [...elements].sort(comparePathElements)) {
      const below = this.children.get(pe);
      const inner = below && !below.isEmpty() ? below.toFieldsV1() : {};
      out[pe] = this.members.has(pe) && below && !below.isEmpty() ? { '.': {}, ...inner } : inner;
    }
    return out;
  }

  /** Reads FieldsV1; throws on anything that is not an object of objects. */
  static fromFieldsV1(v: unknown): FieldSet {
    const out = new FieldSet();
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('FieldsV1 must be an object');
    for (const [pe, below] of Object.entries(v as Record<string, unknown>)) {
      if (pe === '.') continue;
      if (!/^[fkvi]:/.test(pe)) throw new Error(`unknown path element ${JSON.stringify(pe)}`);
      const inner = FieldSet.fromFieldsV1(below);
      const keys = Object.keys(below as object);
      if (keys.length === 0 || keys.includes('.')) out.members.add(pe);
      if (!inner.isEmpty()) out.children.set(pe, inner);
    }
    return out;
  }
}
