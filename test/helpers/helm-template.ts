/**
 * A renderer for the small subset of Helm's template language that
 * deploy/tidepool uses, so tests can render the chart without a `helm`
 * binary. Anything outside the subset throws, naming the file and action:
 * the chart cannot drift into syntax these tests would silently mis-render.
 *
 * Supported, with Helm's meaning:
 *   {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Release.Namespace }}
 *   {{ .Chart.Name }}  {{ .Chart.AppVersion }}
 *   {{- ... -}}                    trims all whitespace before / after the action
 *   {{/* comment *\/}}             (also with trim markers) renders nothing
 *   {{ if PATH }} ... {{ else }} ... {{ end }}
 *                                  PATH is one value; false, 0, "", null, missing,
 *                                  [] and {} are false
 *   {{ define "name" }} ... {{ end }}  top level only
 *   Pipelines `a | f | g` (the piped value becomes the last argument) of:
 *     quote X            Go-quoted string; a null value quotes to nothing
 *     toYaml X           YAML with sorted keys and no trailing newline
 *     nindent N S        newline, then S with every line indented by N spaces
 *     default D X        X, or D when X is empty (as `if` judges)
 *     include "name" .   renders a define with the whole context
 *     .Files.Get "path"  a chart file's text, untemplated (a missing file throws;
 *                        Helm would give "")
 *
 * Stricter than Helm on purpose: a value that is missing (a typo in a
 * values path) throws unless it is the condition of `if` or the last
 * argument of `default`, and maps or lists print only through toYaml.
 * Not supported: range, with, else if, variables, parentheses, other
 * functions, `.Files` other than Get, `.Capabilities`, `tpl`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/** The data a template sees as `.`. */
export interface TemplateContext {
  readonly Values: Readonly<Record<string, unknown>>;
  readonly Release: { readonly Name: string; readonly Namespace: string };
  readonly Chart: { readonly Name: string; readonly AppVersion: string };
  /** What `.Files.Get` reads: a path relative to the chart; absent, `.Files.Get` throws. */
  readonly Files?: (path: string) => string;
}

/** A template outside the supported subset, or a render-time failure; names the file. */
export class HelmTemplateError extends Error {
  override readonly name = 'HelmTemplateError';
}

type Operand = { kind: 'path'; path: string[]; text: string } | { kind: 'dot' } | { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'bool'; value: boolean };
type Command = { fn: string | undefined; args: Operand[] };
type Node =
  | { kind: 'text'; value: string }
  | { kind: 'output'; pipeline: Command[]; source: string }
  | { kind: 'if'; cond: Operand & { kind: 'path' }; then: Node[]; else: Node[]; source: string };

/** A parsed template file: its output nodes and the templates it defines. */
export interface ParsedTemplate {
  readonly nodes: Node[];
  readonly defines: Map<string, Node[]>;
}

const FUNCTIONS: Readonly<Record<string, number>> = { quote: 1, toYaml: 1, nindent: 2, default: 2, include: 2, '.Files.Get': 1 };
const ROOTS: Readonly<Record<string, readonly string[] | undefined>> = {
  Values: undefined,
  Release: ['Name', 'Namespace'],
  Chart: ['Name', 'AppVersion'],
};

interface RawAction {
  readonly body: string;
  readonly source: string;
}

/** Splits a template into text and action bodies, applying trim markers. */
function tokenize(source: string, file: string): (string | RawAction)[] {
  const out: (string | RawAction)[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = source.slice(i, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      out.push(text);
      break;
    }
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new HelmTemplateError(`${file}: unclosed {{`);
    let body = source.slice(open + 2, close);
    const raw = source.slice(open, close + 2);
    // Go requires whitespace after `{{-` and before `-}}`; `{{-3}}` is a number.
    if (/^-\s/.test(body)) {
      text = text.replace(/\s+$/, '');
      body = body.slice(1);
    }
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -1);
    out.push(text, { body: body.trim(), source: raw });
    i = close + 2;
  }
  return out;
}

function lexAction(body: string, where: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?|-?[0-9]+|\|)\s*/y;
  let at = 0;
  while (at < body.length) {
    re.lastIndex = at;
    const m = re.exec(body);
    if (m === null) throw new HelmTemplateError(`${where}: unsupported syntax at ${JSON.stringify(body.slice(at))}`);
    tokens.push(m[1] as string);
    at = re.lastIndex;
  }
  return tokens;
}

function parseOperand(token: string, where: string): Operand {
  if (token === '.') return { kind: 'dot' };
  if (token.startsWith('"')) return { kind: 'string', value: JSON.parse(token) as string };
  if (/^-?[0-9]+$/.test(token)) return { kind: 'number', value: Number(token) };
  if (token === 'true' || token === 'false') return { kind: 'bool', value: token === 'true' };
  if (token.startsWith('.')) {
    const path = token.slice(1).split('.');
    const [root, ...rest] = path;
    if (root === undefined || !Object.hasOwn(ROOTS, root)) throw new HelmTemplateError(`${where}: unsupported object ${token}`);
    const allowed = ROOTS[root];
    if (allowed !== undefined && (rest.length !== 1 || !allowed.includes(rest[0] as string))) {
      throw new HelmTemplateError(`${where}: unsupported field ${token} (only ${allowed.map((f) => `.${root}.${f}`).join(', ')})`);
    }
    if (root === 'Values' && rest.length === 0) throw new HelmTemplateError(`${where}: use a path below .Values`);
    return { kind: 'path', path, text: token };
  }
  throw new HelmTemplateError(`${where}: unsupported token ${token}`);
}

function parsePipeline(tokens: string[], where: string): Command[] {
  const commands: Command[] = [];
  let current: string[] = [];
  const flush = (): void => {
    if (current.length === 0) throw new HelmTemplateError(`${where}: empty command in pipeline`);
    const [head, ...rest] = current as [string, ...string[]];
    if (Object.hasOwn(FUNCTIONS, head)) {
      const arity = FUNCTIONS[head] as number;
      const piped = commands.length > 0 ? 1 : 0;
      if (rest.length + piped !== arity) throw new HelmTemplateError(`${where}: ${head} takes ${arity} argument(s)`);
      commands.push({ fn: head, args: rest.map((t) => parseOperand(t, where)) });
    } else if (/^[A-Za-z_]/.test(head)) {
      throw new HelmTemplateError(`${where}: unsupported function or keyword ${head}`);
    } else {
      if (rest.length > 0 || commands.length > 0) throw new HelmTemplateError(`${where}: a value cannot take arguments or be piped into`);
      commands.push({ fn: undefined, args: [parseOperand(head, where)] });
    }
    current = [];
  };
  for (const t of tokens) {
    if (t === '|') flush();
    else current.push(t);
  }
  flush();
  return commands;
}

/** Parses one template file; `file` names it in errors. */
export function parseTemplate(source: string, file: string): ParsedTemplate {
  const defines = new Map<string, Node[]>();
  const root: Node[] = [];
  type Frame = { kind: 'root' } | { kind: 'define'; name: string; nodes: Node[] } | { kind: 'if'; node: Node & { kind: 'if' }; inElse: boolean };
  const stack: Frame[] = [{ kind: 'root' }];
  const sink = (): Node[] => {
    const top = stack[stack.length - 1] as Frame;
    if (top.kind === 'root') return root;
    if (top.kind === 'define') return top.nodes;
    return top.inElse ? top.node.else : top.node.then;
  };
  for (const piece of tokenize(source, file)) {
    if (typeof piece === 'string') {
      if (piece !== '') sink().push({ kind: 'text', value: piece });
      continue;
    }
    const where = `${file}: ${piece.source}`;
    if (piece.body.startsWith('/*')) {
      if (!piece.body.endsWith('*/')) throw new HelmTemplateError(`${where}: a comment must fill the whole action`);
      continue;
    }
    const tokens = lexAction(piece.body, where);
    const [head, ...rest] = tokens;
    if (head === undefined) throw new HelmTemplateError(`${where}: empty action`);
    if (head === 'if') {
      const cond = rest.length === 1 ? parseOperand(rest[0] as string, where) : undefined;
      if (cond?.kind !== 'path') throw new HelmTemplateError(`${where}: if takes exactly one value path`);
      const node: Node & { kind: 'if' } = { kind: 'if', cond, then: [], else: [], source: piece.source };
      sink().push(node);
      stack.push({ kind: 'if', node, inElse: false });
    } else if (head === 'else') {
      const top = stack[stack.length - 1] as Frame;
      if (rest.length > 0) throw new HelmTemplateError(`${where}: else takes nothing (no else if)`);
      if (top.kind !== 'if' || top.inElse) throw new HelmTemplateError(`${where}: else without if`);
      top.inElse = true;
    } else if (head === 'end') {
      if (rest.length > 0) throw new HelmTemplateError(`${where}: end takes nothing`);
      const top = stack.pop() as Frame;
      if (top.kind === 'root') throw new HelmTemplateError(`${where}: end without if or define`);
      if (top.kind === 'define') defines.set(top.name, top.nodes);
    } else if (head === 'define') {
      const name = rest.length === 1 && rest[0]?.startsWith('"') ? (JSON.parse(rest[0]) as string) : undefined;
      if (name === undefined) throw new HelmTemplateError(`${where}: define takes one quoted name`);
      if (stack.length !== 1) throw new HelmTemplateError(`${where}: define only at top level`);
      stack.push({ kind: 'define', name, nodes: [] });
    } else {
      sink().push({ kind: 'output', pipeline: parsePipeline(tokens, where), source: piece.source });
    }
  }
  if (stack.length !== 1) throw new HelmTemplateError(`${file}: missing {{ end }}`);
  return { nodes: root, defines };
}

const MISSING = Symbol('missing');
type Value = unknown;

function isEmpty(v: Value): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

function lookup(ctx: TemplateContext, op: Operand & { kind: 'path' }, where: string): Value {
  let v: unknown = ctx;
  for (const [i, key] of op.path.entries()) {
    if (v === MISSING) throw new HelmTemplateError(`${where}: nil pointer evaluating ${op.text}: .${op.path.slice(0, i).join('.')} is missing`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new HelmTemplateError(`${where}: ${op.text}: .${op.path.slice(0, i).join('.')} is not a map`);
    }
    v = Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : MISSING;
  }
  return v;
}

function toYaml(v: Value): string {
  // Helm's toYaml goes through sigs.k8s.io/yaml: sorted keys, final newline trimmed.
  return stringify(v, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, '');
}

function goQuote(v: Value, where: string): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') throw new HelmTemplateError(`${where}: quote of a map or list`);
  return JSON.stringify(String(v));
}

function printable(v: Value, where: string): string {
  if (v === MISSING) throw new HelmTemplateError(`${where}: no value`);
  if (v === null) throw new HelmTemplateError(`${where}: value is null`);
  if (typeof v === 'object') throw new HelmTemplateError(`${where}: a map or list prints only through toYaml`);
  return String(v);
}

function renderNodes(nodes: readonly Node[], ctx: TemplateContext, defines: ReadonlyMap<string, Node[]>, depth: number): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.value;
    else if (node.kind === 'if') out += renderNodes(isEmpty(lookup(ctx, node.cond, node.source)) ? node.else : node.then, ctx, defines, depth);
    else out += printable(evalPipeline(node.pipeline, ctx, defines, node.source, depth), node.source);
  }
  return out;
}

function evalPipeline(pipeline: readonly Command[], ctx: TemplateContext, defines: ReadonlyMap<string, Node[]>, where: string, depth: number): Value {
  let piped: Value = MISSING;
  for (const [i, cmd] of pipeline.entries()) {
    const args: Value[] = cmd.args.map((a) => {
      if (a.kind === 'path') return lookup(ctx, a, where);
      if (a.kind === 'dot') return ctx;
      return a.value;
    });
    if (i > 0) args.push(piped);
    const strict = (v: Value, what: string): Value => {
      if (v === MISSING) throw new HelmTemplateError(`${where}: ${what} is missing`);
      return v;
    };
    switch (cmd.fn) {
      case undefined:
        piped = args[0];
        break;
      case 'quote':
        piped = goQuote(strict(args[0], 'quote argument'), where);
        break;
      case 'toYaml':
        piped = toYaml(strict(args[0], 'toYaml argument'));
        break;
      case 'nindent': {
        const [n, s] = args;
        if (typeof n !== 'number' || n < 0) throw new HelmTemplateError(`${where}: nindent needs a non-negative number first`);
        if (typeof s !== 'string') throw new HelmTemplateError(`${where}: nindent needs a string to indent`);
        const pad = ' '.repeat(n);
        piped = `\n${pad}${s.replace(/\n/g, `\n${pad}`)}`;
        break;
      }
      case 'default': {
        const [fallback, v] = args;
        piped = isEmpty(v) ? strict(fallback, 'default value') : v;
        break;
      }
      case 'include': {
        const [name, context] = args;
        if (typeof name !== 'string' || context !== ctx) throw new HelmTemplateError(`${where}: include takes a quoted name and .`);
        const body = defines.get(name);
        if (body === undefined) throw new HelmTemplateError(`${where}: no template ${JSON.stringify(name)} is defined`);
        if (depth > 20) throw new HelmTemplateError(`${where}: include nested too deeply`);
        piped = renderNodes(body, ctx, defines, depth + 1);
        break;
      }
      case '.Files.Get': {
        const [path] = args;
        if (typeof path !== 'string') throw new HelmTemplateError(`${where}: .Files.Get takes a quoted path`);
        if (!ctx.Files) throw new HelmTemplateError(`${where}: no chart files to read`);
        piped = ctx.Files(path);
        break;
      }
      default:
        throw new HelmTemplateError(`${where}: unsupported function ${cmd.fn}`);
    }
  }
  return piped;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Helm's values merge: maps merge key by key, anything else replaces, null deletes. */
export function mergeValues(base: Readonly<Record<string, unknown>>, override: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(b)) out[k] = mergeValues(b, v);
    else out[k] = v;
  }
  return out;
}

/** Options of renderChart; defaults match `helm install tidepool deploy/tidepool -n kube-system`. */
export interface RenderOptions {
  readonly values?: Readonly<Record<string, unknown>>;
  readonly releaseName?: string;
  readonly namespace?: string;
}

/** One rendered template file. */
export interface RenderedTemplate {
  /** Path relative to the chart, e.g. `templates/agent-daemonset.yaml`. */
  readonly file: string;
  readonly text: string;
}

/**
 * Renders every file of `<chartDir>/templates` like `helm template`: defines
 * from all files are visible everywhere, files starting with `_` produce no
 * output, values.yaml is merged with `values`. `crds/` is not templated by
 * Helm and is left to the caller.
 */
export function renderChart(chartDir: string, options: RenderOptions = {}): RenderedTemplate[] {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { name?: unknown; appVersion?: unknown };
  if (typeof chart.name !== 'string' || typeof chart.appVersion !== 'string') throw new HelmTemplateError('Chart.yaml: name and appVersion must be strings');
  const defaults = (parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) ?? {}) as Record<string, unknown>;
  const ctx: TemplateContext = {
    Values: mergeValues(defaults, options.values ?? {}),
    Release: { Name: options.releaseName ?? 'tidepool', Namespace: options.namespace ?? 'kube-system' },
    Chart: { Name: chart.name, AppVersion: chart.appVersion },
    Files: (path) => readChartFile(chartDir, path),
  };
  const dir = join(chartDir, 'templates');
  const parsed = readdirSync(dir)
    .sort()
    .map((name) => ({ name, template: parseTemplate(readFileSync(join(dir, name), 'utf8'), `templates/${name}`) }));
  const defines = new Map<string, Node[]>();
  for (const { name, template } of parsed) {
    for (const [k, v] of template.defines) {
      if (defines.has(k)) throw new HelmTemplateError(`templates/${name}: template ${JSON.stringify(k)} is defined twice`);
      defines.set(k, v);
    }
  }
  return parsed
    .filter(({ name }) => !name.startsWith('_'))
    .map(({ name, template }) => ({ file: `templates/${name}`, text: renderNodes(template.nodes, ctx, defines, 0) }));
}

/** A file of the chart as `.Files.Get` gives it: not templates/ (Helm leaves those out), nothing outside the chart. */
function readChartFile(chartDir: string, path: string): string {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.includes('..') || parts[0] === 'templates') throw new HelmTemplateError(`.Files.Get "${path}": only files of the chart outside templates/`);
  try {
    return readFileSync(join(chartDir, path), 'utf8');
  } catch (err) {
    throw new HelmTemplateError(`.Files.Get "${path}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file in the chart' : (err as Error).message}`);
  }
}

/** Renders one template source with the given context and defines; for tests of the renderer itself. */
export function renderTemplate(source: string, ctx: TemplateContext, file = 'template'): string {
  const t = parseTemplate(source, file);
  return renderNodes(t.nodes, ctx, t.defines, 0);
}
