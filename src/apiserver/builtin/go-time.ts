// metav1.Time and metav1.MicroTime as the real server decodes them: Go's
// time.Parse with the RFC 3339 layout (any fraction of a second accepted) or
// the RFC 3339 microsecond layout (exactly six digits), with Go's error
// messages; and as it encodes them again (UTC; whole seconds, or six
// digits).

export const RFC3339 = '2006-01-02T15:04:05Z07:00';
export const RFC3339_MICRO = '2006-01-02T15:04:05.000000Z07:00';

/** A time.Parse failure, worded as Go words it. */
export class GoTimeError extends Error {}

interface Element {
  readonly layout: string;
  readonly pattern: RegExp;
}

const num = (layout: string, n: number): Element => ({ layout, pattern: new RegExp(`^\\d{${n}}`) });
const lit = (s: string): Element => ({ layout: s, pattern: new RegExp(`^${s.replace('.', '\\.')}`) });
const ZONE: Element = { layout: 'Z07:00', pattern: /^(Z|[+-]\d{2}:\d{2})/ };

function elements(micro: boolean): Element[] {
  const head = [num('2006', 4), lit('-'), num('01', 2), lit('-'), num('02', 2), lit('T'), num('15', 2), lit(':'), num('04', 2), lit(':'), num('05', 2)];
  return micro ? [...head, { layout: '.000000', pattern: /^\.\d{6}/ }, ZONE] : [...head, { layout: '', pattern: /^([.,]\d+)?/ }, ZONE];
}

function cannotParse(value: string, layout: string, rest: string, elem: string): GoTimeError {
  return new GoTimeError(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(elem)}`);
}

function checkRanges(value: string, parts: string[]): void {
  const [year, month, day, hour, minute, second] = parts.map(Number) as [number, number, number, number, number, number];
  const outOfRange = (what: string) => new GoTimeError(`parsing time ${JSON.stringify(value)}: ${what} out of range`);
  if (month < 1 || month > 12) throw outOfRange('month');
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > days) throw outOfRange('day');
  if (hour > 23) throw outOfRange('hour');
  if (minute > 59) throw outOfRange('minute');
  if (second > 59) throw outOfRange('second');
}

/** Parses `value` with the (micro) RFC 3339 layout; returns milliseconds and whole microseconds. */
export function parseGoTime(value: string, micro: boolean): { ms: number; micros: number } {
  const layout = micro ? RFC3339_MICRO : RFC3339;
  let rest = value;
  const parts: string[] = [];
  for (const e of elements(micro)) {
    const m = e.pattern.exec(rest);
    if (!m || (e.layout !== '' && m[0] === '' )) throw cannotParse(value, layout, rest, e.layout);
    parts.push(m[0]);
    rest = rest.slice(m[0].length);
  }
  if (rest !== '') throw new GoTimeError(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(rest)}`);
  checkRanges(value, [parts[0]!, parts[2]!, parts[4]!, parts[6]!, parts[8]!, parts[10]!]);
  const fraction = (parts[11] ?? '').slice(1);
  const micros = Number((fraction + '000000').slice(0, 6));
  const zone = parts[12]!;
  const offset = zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const base = Date.UTC(Number(parts[0]), Number(parts[2]) - 1, Number(parts[4]), Number(parts[6]), Number(parts[8]), Number(parts[10]));
  return { ms: base - offset * 60_000, micros };
}

/** The encoding the server stores: UTC, whole seconds for Time, six digits for MicroTime. */
export function formatGoTime(t: { ms: number; micros: number }, micro: boolean): string {
  const whole = new Date(Math.floor(t.ms / 1000) * 1000).toISOString().slice(0, 19);
  return micro ? `${whole}.${String(t.micros).padStart(6, '0')}Z` : `${whole}Z`;
}
