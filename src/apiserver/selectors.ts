// Label and field selectors with the real grammar, so a selector that a real
// API server would reject is rejected here too instead of matching nothing.
import { labelValue, qualifiedName } from './validation.ts';

/** One parsed label requirement. */
export interface LabelRequirement {
  key: string;
  op: 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
  values: string[];
}

/** A parsed label selector: all requirements must hold (comma = AND). */
export interface LabelSelector {
  requirements: LabelRequirement[];
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
}

/** Thrown for a malformed selector; the server turns it into 400 BadRequest. */
export class SelectorError extends Error {}

type Token = { kind: 'id' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | '>' | '<' | 'in' | 'notin' | 'end'; text: string };

function lex(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === '>' || c === '<') {
      tokens.push({ kind: c, text: c });
      i++;
      continue;
    }
    if (c === '=') {
      if (input[i + 1] === '=') {
        tokens.push({ kind: '==', text: '==' });
        i += 2;
      } else {
        tokens.push({ kind: '=', text: '=' });
        i++;
      }
      continue;
    }
    if (c === '!') {
      if (input[i + 1] === '=') {
        tokens.push({ kind: '!=', text: '!=' });
        i += 2;
      } else {
        tokens.push({ kind: '!', text: '!' });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < input.length && !' \t\n\r(),=!<>'.includes(input[j]!)) j++;
    const text = input.slice(i, j);
    tokens.push({ kind: text === 'in' ? 'in' : text === 'notin' ? 'notin' : 'id', text });
    i = j;
  }
  tokens.push({ kind: 'end', text: '' });
  return tokens;
}

/** Parses a label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h,n>3`); throws SelectorError. */
export function parseLabelSelector(input: string): LabelSelector {
  const tokens = lex(input);
  let pos = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const requirements: LabelRequirement[] = [];
  const expectKey = (): string => {
    const t = next();
    if (t.kind !== 'id') throw new SelectorError(`unable to parse requirement: found '${t.text}', expected: identifier`);
    return t.text;
  };
  if (peek().kind !== 'end') {
    for (;;) {
      let req: LabelRequirement;
      if (peek().kind === '!') {
        next();
        req = { key: expectKey(), op: '!', values: [] };
      } else {
        const key = expectKey();
        const t = peek();
        if (t.kind === ',' || t.kind === 'end') req = { key, op: 'exists', values: [] };
        else if (t.kind === '=' || t.kind === '==' || t.kind === '!=') {
          next();
          const v = peek();
          // `a=` selects an empty value, which is a valid label value.
          const value = v.kind === 'id' || v.kind === 'in' || v.kind === 'notin' ? next().text : '';
          if (v.kind !== 'id' && v.kind !== 'in' && v.kind !== 'notin' && v.kind !== ',' && v.kind !== 'end')
            throw new SelectorError(`unable to parse requirement: found '${v.text}', expected: identifier`);
          req = { key, op: t.kind === '!=' ? '!=' : '=', values: [value] };
        } else if (t.kind === '>' || t.kind === '<') {
          next();
          const v = next();
          if (v.kind !== 'id') throw new SelectorError(`unable to parse requirement: found '${v.text}', expected: identifier`);
          if (!/^-?\d+$/.test(v.text)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
          req = { key, op: t.kind === '>' ? 'gt' : 'lt', values: [v.text] };
        } else if (t.kind === 'in' || t.kind === 'notin') {
          next();
          const open = next();
          if (open.kind !== '(') throw new SelectorError(`unable to parse requirement: found '${open.text}', expected: '('`);
          const values: string[] = [];
          for (;;) {
            const v = peek();
            if (v.kind === ')') {
              next();
              break;
            }
            if (v.kind === ',') {
              // An empty element is an empty string value, as in the real parser.
              values.push('');
              next();
              continue;
            }
            if (v.kind !== 'id' && v.kind !== 'in' && v.kind !== 'notin') throw new SelectorError(`unable to parse requirement: found '${v.text}', expected: ',', ')' or identifier`);
            values.push(next().text);
            const after = peek();
            if (after.kind === ',') next();
            else if (after.kind !== ')') throw new SelectorError(`unable to parse requirement: found '${after.text}', expected: ',' or ')'`);
          }
          if (values.length === 0) throw new SelectorError(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty`);
          req = { key, op: t.kind, values };
        } else throw new SelectorError(`unable to parse requirement: found '${t.text}', expected: in, notin, =, ==, !=, gt, lt`);
      }
      for (const e of qualifiedName(req.key)) throw new SelectorError(`unable to parse requirement: key: Invalid value: ${JSON.stringify(req.key)}: ${e}`);
      if (req.op !== 'gt' && req.op !== 'lt')
        for (const v of req.values) for (const e of labelValue(v)) throw new SelectorError(`unable to parse requirement: values[0][${req.key}]: Invalid value: ${JSON.stringify(v)}: ${e}`);
      requirements.push(req);
      const sep = next();
      if (sep.kind === 'end') break;
      if (sep.kind !== ',') throw new SelectorError(`found '${sep.text}', expected: ',' or 'end of string'`);
    }
  }
  return {
    requirements,
    matches(labels) {
      for (const r of requirements) if (!matchRequirement(r, labels)) return false;
      return true;
    },
  };
}

function matchRequirement(r: LabelRequirement, labels: Readonly<Record<string, string>> | undefined): boolean {
  const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels![r.key] : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
      return has && v === r.values[0];
    case '!=':
      return !has || v !== r.values[0];
    case 'in':
      return has && r.values.includes(v!);
    case 'notin':
      return !has || !r.values.includes(v!);
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      return r.op === 'gt' ? n > bound : n < bound;
    }
  }
}

/** One `field=value` / `field!=value` term of a field selector. */
export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

function unescapeFieldValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\') {
      const n = v[i + 1];
      if (n === '\\' || n === ',' || n === '=') {
        out += n;
        i++;
        continue;
      }
      throw new SelectorError(`invalid field selector: invalid escape sequence`);
    }
    if (c === ',' || c === '=') throw new SelectorError(`invalid field selector: unescaped ${c}`);
    out += c;
  }
  return out;
}

/** Parses a field selector into terms; which fields are allowed is the kind's business. */
export function parseFieldSelector(input: string): FieldRequirement[] {
  if (input.trim() === '') return [];
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] === '\\') i++;
    else if (input[i] === ',') {
      terms.push(input.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(input.slice(start));
  return terms.map((term) => {
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      for (const op of ['!=', '==', '='] as const) {
        if (term.startsWith(op, i)) {
          const field = term.slice(0, i).trim();
          return { field, op: op === '!=' ? '!=' : '=', value: unescapeFieldValue(term.slice(i + op.length)) };
        }
      }
    }
    throw new SelectorError(`invalid selector: '${input}'; can't understand '${term}'`);
  });
}
