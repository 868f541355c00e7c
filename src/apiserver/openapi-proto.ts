// The OpenAPI v2 document in protobuf (gnostic's openapi_v2.Document, the
// field numbers of its OpenAPIv2.proto), the only encoding kubectl and
// client-go read /openapi/v2 in. Values that are JSON in the document
// (defaults, enums, vendor extensions) travel as YAML text, as gnostic
// carries them; JSON is YAML, so they are written as JSON.
import { isRecord } from './kinds.ts';

type Json = Record<string, unknown>;

/** A protobuf message being written; proto3 leaves out scalars at their zero value. */
class Message {
  private readonly bytes: number[] = [];

  private varint(n: number): void {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n;
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  private raw(field: number, data: Uint8Array | readonly number[]): void {
    this.tag(field, 2);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
  }

  string(field: number, v: unknown): this {
    if (typeof v === 'string' && v !== '') this.raw(field, new TextEncoder().encode(v));
    return this;
  }

  strings(field: number, v: unknown): this {
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') this.raw(field, new TextEncoder().encode(s));
    return this;
  }

  bool(field: number, v: unknown): this {
    if (v === true) {
      this.tag(field, 0);
      this.varint(1);
    }
    return this;
  }

  int64(field: number, v: unknown): this {
    if (typeof v === 'number' && v !== 0) {
      this.tag(field, 0);
      this.varint(Math.trunc(v));
    }
    return this;
  }

  double(field: number, v: unknown): this {
    if (typeof v === 'number' && v !== 0) {
      this.tag(field, 1);
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      for (const x of b) this.bytes.push(x);
    }
    return this;
  }

  message(field: number, m: Message | undefined): this {
    if (m) this.raw(field, m.bytes);
    return this;
  }

  encode(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** Any{yaml}: a JSON value as YAML text. */
const any = (v: unknown): Message => new Message().string(2, JSON.stringify(v));

/** NamedAny vendor extensions: every `x-` key of `o`. */
function extensions(m: Message, field: number, o: Json): Message {
  for (const [k, v] of Object.entries(o)) if (k.startsWith('x-')) m.message(field, new Message().string(1, k).message(2, any(v)));
  return m;
}

function schema(s: unknown): Message {
  const m = new Message();
  if (!isRecord(s)) return m;
  m.string(1, s['$ref']).string(2, s['format']).string(3, s['title']).string(4, s['description']);
  if (s['default'] !== undefined) m.message(5, any(s['default']));
  m.double(6, s['multipleOf']).double(7, s['maximum']).bool(8, s['exclusiveMaximum']).double(9, s['minimum']).bool(10, s['exclusiveMinimum']);
  m.int64(11, s['maxLength']).int64(12, s['minLength']).string(13, s['pattern']).int64(14, s['maxItems']).int64(15, s['minItems']).bool(16, s['uniqueItems']);
  m.int64(17, s['maxProperties']).int64(18, s['minProperties']).strings(19, s['required']);
  if (Array.isArray(s['enum'])) for (const e of s['enum']) m.message(20, any(e));
  const ap = s['additionalProperties'];
  if (typeof ap === 'boolean') m.message(21, new Message().bool(2, ap));
  else if (isRecord(ap)) m.message(21, new Message().message(1, schema(ap)));
  if (typeof s['type'] === 'string') m.message(22, new Message().strings(1, [s['type']]));
  if (isRecord(s['items'])) m.message(23, new Message().message(1, schema(s['items'])));
  if (Array.isArray(s['allOf'])) for (const a of s['allOf']) m.message(24, schema(a));
  if (isRecord(s['properties'])) {
    const props = new Message();
    for (const [k, v] of Object.entries(s['properties'])) props.message(1, new Message().string(1, k).message(2, schema(v)));
    m.message(25, props);
  }
  if (s['example'] !== undefined) m.message(30, any(s['example']));
  return extensions(m, 31, s);
}

function parameter(p: Json): Message {
  if (p['in'] === 'body') {
    return new Message().message(1, new Message().message(1, new Message().string(1, p['description']).string(2, p['name']).string(3, 'body').bool(4, p['required']).message(5, schema(p['schema']))));
  }
  // NonBodyParameter: query (3) or path (4) sub-schema, whose type and uniqueItems fields differ by one.
  const query = p['in'] === 'query';
  const sub = new Message().bool(1, p['required']).string(2, p['in']).string(3, p['description']).string(4, p['name']);
  if (query) sub.string(6, p['type']).bool(20, p['uniqueItems']);
  else sub.string(5, p['type']).bool(19, p['uniqueItems']);
  return new Message().message(1, new Message().message(2, new Message().message(query ? 3 : 4, sub)));
}

function operation(o: Json): Message {
  const m = new Message().string(3, o['description']).string(5, o['operationId']);
  for (const p of (o['parameters'] as Json[] | undefined) ?? []) m.message(8, parameter(p));
  const responses = new Message();
  for (const [code, r] of Object.entries((o['responses'] as Json | undefined) ?? {})) {
    const resp = r as Json;
    const response = new Message().string(1, resp['description']);
    if (resp['schema'] !== undefined) response.message(2, new Message().message(1, schema(resp['schema'])));
    responses.message(1, new Message().string(1, code).message(2, new Message().message(1, response)));
  }
  m.message(9, responses);
  return extensions(m, 13, o);
}

const PATH_METHODS: ReadonlyArray<[string, number]> = [['get', 2], ['put', 3], ['post', 4], ['delete', 5], ['patch', 8]];

/** The Swagger 2.0 document `doc` (as openApiV2Document builds it) in protobuf. */
export function encodeOpenApiV2(doc: Json): Uint8Array {
  const info = doc['info'] as Json;
  const paths = new Message();
  for (const [path, item] of Object.entries(doc['paths'] as Json)) {
    const it = item as Json;
    const pm = new Message();
    for (const [method, field] of PATH_METHODS) if (isRecord(it[method])) pm.message(field, operation(it[method]));
    for (const p of (it['parameters'] as Json[] | undefined) ?? []) pm.message(9, parameter(p));
    paths.message(2, new Message().string(1, path).message(2, pm));
  }
  const definitions = new Message();
  for (const [name, s] of Object.entries(doc['definitions'] as Json)) definitions.message(1, new Message().string(1, name).message(2, schema(s)));
  return new Message().string(1, doc['swagger']).message(2, new Message().string(1, info['title']).string(2, info['version'])).message(8, paths).message(9, definitions).encode();
}
