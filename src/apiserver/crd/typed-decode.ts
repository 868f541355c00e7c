// Decoding JSON into a Go-typed object the way the real server's strict
// decoder (sigs.k8s.io/json) does it, for kinds this server serves as typed
// objects: a value of the wrong JSON type fails the whole request with Go's
// `json: cannot unmarshal string into Go struct field
// CustomResourceDefinitionSpec.spec.versions of type []v1.CustomResourceDefinitionVersion`,
// a null leaves the field unset, and fields the type does not have are dropped
// and reported (`spec.foo`) for fieldValidation.

/** A Go type, described by the JSON it accepts. */
export type GoType =
  | { readonly k: 'scalar'; readonly json: 'string' | 'bool' | 'number' | 'integer'; readonly go: string }
  | { readonly k: 'any' }
  | { readonly k: 'struct'; readonly go: string; readonly fields: () => Readonly<Record<string, GoType>> }
  | { readonly k: 'list'; readonly go: string; readonly of: GoType }
  | { readonly k: 'map'; readonly go: string; readonly of: GoType }
  /** A value that is one of several shapes (JSONSchemaPropsOrBool, OrArray): the first whose JSON kind matches decodes it. */
  | { readonly k: 'either'; readonly go: string; readonly options: readonly GoType[] };

export const STRING: GoType = { k: 'scalar', json: 'string', go: 'string' };
export const BOOL: GoType = { k: 'scalar', json: 'bool', go: 'bool' };
export const INT64: GoType = { k: 'scalar', json: 'integer', go: 'int64' };
export const INT32: GoType = { k: 'scalar', json: 'integer', go: 'int32' };
export const FLOAT64: GoType = { k: 'scalar', json: 'number', go: 'float64' };
export const ANY: GoType = { k: 'any' };
export const listOf = (of: GoType): GoType => ({ k: 'list', go: `[]${goName(of)}`, of });
export const mapOf = (of: GoType): GoType => ({ k: 'map', go: `map[string]${goName(of)}`, of });

function goName(t: GoType): string {
  return t.k === 'any' ? 'interface {}' : t.go;
}

/** A JSON value's kind as Go's decoder names it in errors. */
function jsonTypeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  return 'object';
}

/** Go's UnmarshalTypeError text. */
export class TypeMismatch extends Error {}

interface Walk {
  /** JSON path for unknown-field reports (`spec.versions[0].foo`). */
  path: string;
  /** Go's error path: struct field names from the root, without indexes (`spec.versions.schema`). */
  goPath: string;
  struct: string;
  readonly unknown: string[];
}

const matches = (t: GoType, v: unknown): boolean => {
  switch (t.k) {
    case 'any':
      return true;
    case 'scalar':
      if (t.json === 'integer') return typeof v === 'number' && Number.isInteger(v);
      return jsonTypeName(v) === t.json;
    case 'list':
      return Array.isArray(v);
    case 'either':
      return t.options.some((o) => matches(o, v));
    default:
      return jsonTypeName(v) === 'object';
  }
};

function mismatch(t: GoType, v: unknown, w: Walk): TypeMismatch {
  const what = typeof v === 'number' && !Number.isInteger(v) ? `number ${v}` : jsonTypeName(v);
  return new TypeMismatch(`json: cannot unmarshal ${what} into Go struct field ${w.struct}.${w.goPath} of type ${goName(t)}`);
}

/** Decodes `v` as `t` in place: returns the value to keep (undefined drops it); throws TypeMismatch. */
function decodeValue(v: unknown, t: GoType, w: Walk): unknown {
  if (v === null) return undefined;
  if (!matches(t, v)) throw mismatch(t, v, w);
  switch (t.k) {
    case 'any':
    case 'scalar':
      return v;
    case 'either':
      return decodeValue(v, t.options.find((o) => matches(o, v))!, w);
    case 'list':
      (v as unknown[]).forEach((x, i) => ((v as unknown[])[i] = inner(w, `${w.path}[${i}]`, w.goPath, () => decodeValue(x, t.of, w) ?? null)));
      return v;
    case 'map': {
      const m = v as Record<string, unknown>;
      for (const k of Object.keys(m)) m[k] = inner(w, `${w.path}.${k}`, w.goPath, () => decodeValue(m[k], t.of, w) ?? null);
      return v;
    }
    case 'struct':
      return decodeStruct(v as Record<string, unknown>, t, w);
  }
}

function decodeStruct(o: Record<string, unknown>, t: Extract<GoType, { k: 'struct' }>, w: Walk): Record<string, unknown> {
  const fields = t.fields();
  const saved = w.struct;
  for (const k of Object.keys(o)) {
    const ft = fields[k];
    const path = w.path === '' ? k : `${w.path}.${k}`;
    if (!ft) {
      w.unknown.push(path);
      delete o[k];
      continue;
    }
    w.struct = t.go.replace(/^.*\./, '');
    const kept = inner(w, path, w.goPath === '' ? k : `${w.goPath}.${k}`, () => decodeValue(o[k], ft, w));
    if (kept === undefined) delete o[k];
    else o[k] = kept;
  }
  w.struct = saved;
  return o;
}

function inner<T>(w: Walk, path: string, goPath: string, run: () => T): T {
  const [p, g] = [w.path, w.goPath];
  w.path = path;
  w.goPath = goPath;
  try {
    return run();
  } finally {
    w.path = p;
    w.goPath = g;
  }
}

/**
 * Decodes the fields of `obj` listed in `fields` in place (others are left
 * alone: `metadata` has its own decoding) and returns the unknown fields' paths.
 */
export function decodeTyped(obj: Record<string, unknown>, root: Readonly<Record<string, GoType>>, rootStruct: string): string[] {
  const w: Walk = { path: '', goPath: '', struct: rootStruct, unknown: [] };
  for (const [k, t] of Object.entries(root)) {
    if (!(k in obj)) continue;
    const kept = inner(w, k, k, () => decodeValue(obj[k], t, w));
    if (kept === undefined) delete obj[k];
    else obj[k] = kept;
  }
  return w.unknown;
}
