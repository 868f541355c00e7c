// JSON merge patch (RFC 7386) and JSON patch (RFC 6902), the two patch
// formats the real API server accepts for every kind. Failures carry the
// HTTP code the real server uses: 400 for a malformed patch document, 422
// when a well-formed patch cannot be applied (including a failed `test`).
import { isRecord } from './kinds.ts';
import { deepEqual } from './patch/values.ts';

/** A patch that could not be decoded (400) or applied (422). */
export class PatchError extends Error {
  readonly code: 400 | 422;
  constructor(code: 400 | 422, message: string) {
    super(message);
    this.code = code;
  }
}

/** Sets an own property even for `__proto__`, which JSON.parse can produce as a plain key. */
export function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** RFC 7386: returns a new document; `target` is not modified. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = {};
  if (isRecord(target)) for (const [k, v] of Object.entries(target)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, applyMergePatch(Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined, v));
  }
  return out;
}

interface Op {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(422, `JSON pointer must be empty or start with a "/": ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(seg: string, length: number, forInsert: boolean, op: string, path: string): number {
  if (forInsert && seg === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(seg)) throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: invalid index referenced: ${seg}`);
  const i = Number(seg);
  if (forInsert ? i > length : i >= length) throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: index out of bounds`);
  return i;
}

/** Walks to the container that holds the last segment of `path`. */
function parentOf(doc: unknown, segs: string[], op: string, path: string): unknown {
  let cur = doc;
  for (const seg of segs.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(seg, cur.length, false, op, path)];
    else if (isRecord(cur) && Object.prototype.hasOwnProperty.call(cur, seg)) cur = cur[seg];
    else throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
  }
  return cur;
}

function getAt(doc: unknown, path: string, op: string): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) return doc;
  const parent = parentOf(doc, segs, op, path);
  const last = segs[segs.length - 1]!;
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, op, path)];
  if (isRecord(parent) && Object.prototype.hasOwnProperty.call(parent, last)) return parent[last];
  throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
}

function removeAt(doc: unknown, path: string, op: string): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) throw new PatchError(422, `${op} operation does not apply: cannot remove the whole document`);
  const parent = parentOf(doc, segs, op, path);
  const last = segs[segs.length - 1]!;
  if (Array.isArray(parent)) return parent.splice(arrayIndex(last, parent.length, false, op, path), 1)[0];
  if (isRecord(parent) && Object.prototype.hasOwnProperty.call(parent, last)) {
    const v = parent[last];
    delete parent[last];
    return v;
  }
  throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
}

/** Returns the new document root (a root-level add/replace swaps it). */
function addAt(doc: unknown, path: string, value: unknown, op: string, replace: boolean): unknown {
  const segs = parsePointer(path);
  if (segs.length === 0) return value;
  const parent = parentOf(doc, segs, op, path);
  const last = segs[segs.length - 1]!;
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, !replace, op, path);
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isRecord(parent)) {
    if (replace && !Object.prototype.hasOwnProperty.call(parent, last))
      throw new PatchError(422, `replace operation does not apply: doc is missing key: ${path}: missing value`);
    setOwn(parent, last, value);
  } else throw new PatchError(422, `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`);
  return doc;
}

/** RFC 6902: returns a new document; `target` is not modified. */
export function applyJsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError(400, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  const ops: Op[] = patch.map((raw) => {
    if (!isRecord(raw) || typeof raw['op'] !== 'string') throw new PatchError(400, 'Unexpected kind: unknown');
    if (typeof raw['path'] !== 'string') throw new PatchError(422, `${raw['op']} operation does not apply: missing path`);
    return raw as unknown as Op;
  });
  let doc = structuredClone(target);
  for (const o of ops) {
    switch (o.op) {
      case 'add':
        if (!('value' in o)) throw new PatchError(422, 'add operation does not apply: missing value');
        doc = addAt(doc, o.path, structuredClone(o.value), 'add', false);
        break;
      case 'replace':
        if (!('value' in o)) throw new PatchError(422, 'replace operation does not apply: missing value');
        getAt(doc, o.path, 'replace');
        doc = addAt(doc, o.path, structuredClone(o.value), 'replace', true);
        break;
      case 'remove':
        removeAt(doc, o.path, 'remove');
        break;
      case 'move': {
        if (typeof o.from !== 'string') throw new PatchError(422, 'move operation does not apply: missing from');
        if (o.path.startsWith(`${o.from}/`)) throw new PatchError(422, 'move operation does not apply: from is a prefix of path');
        const v = removeAt(doc, o.from, 'move');
        doc = addAt(doc, o.path, v, 'move', false);
        break;
      }
      case 'copy': {
        if (typeof o.from !== 'string') throw new PatchError(422, 'copy operation does not apply: missing from');
        const v = structuredClone(getAt(doc, o.from, 'copy'));
        doc = addAt(doc, o.path, v, 'copy', false);
        break;
      }
      case 'test': {
        let actual: unknown;
        try {
          actual = getAt(doc, o.path, 'test');
        } catch {
          actual = undefined;
        }
        if (actual === undefined || !deepEqual(actual, o.value ?? null)) throw new PatchError(422, `testing value ${o.path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError(422, `Unexpected kind: ${o.op}`);
    }
  }
  return doc;
}
