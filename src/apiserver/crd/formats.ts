// The string formats a CRD schema may declare and the server checks
// (apiextensions' supported formats; any other format is ignored, as the real
// server strips it). Checks follow go-openapi's strfmt: what Go's net, time
// and mail parsers accept, approximated where Go's parser is lenient.
import { isIP } from 'node:net';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID3 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const UUID4 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const UUID5 = /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i;
const HOSTNAME_LABEL = /^[a-zA-Z0-9\p{S}\p{L}]([a-zA-Z0-9\p{S}\p{L}-]{0,61}[a-zA-Z0-9\p{S}\p{L}])?$/u;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$/;
const DURATION = /^(\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w))+$/;
const MAC = /^([0-9a-fA-F]{2}[:-]){5}([0-9a-fA-F]{2})$|^([0-9a-fA-F]{2}[:-]){7}([0-9a-fA-F]{2})$|^([0-9a-fA-F]{2}[:-]){19}([0-9a-fA-F]{2})$|^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/;
const BASE64 = /^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function validDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function isDateTime(s: string): boolean {
  const m = DATE_TIME.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  return validDate(y, mo, d) && h < 24 && mi < 60 && se < 60;
}

function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m !== null && validDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(ip);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 255) return false;
  return s.split('.').every((label) => HOSTNAME_LABEL.test(label));
}

const CHECKS: Readonly<Record<string, (s: string) => boolean>> = {
  bsonobjectid: (s) => /^[0-9a-fA-F]{24}$/.test(s),
  uri: (s) => /^([a-zA-Z][a-zA-Z0-9+.-]*:\S*|\/\S*)$/.test(s),
  email: (s) => /^[^@\s<>]+@[^@\s<>]+$/.test(s),
  hostname: isHostname,
  // As strfmt: any IP Go parses, told apart by its separator (so ::ffff:1.2.3.4 is both).
  ipv4: (s) => isIP(s) !== 0 && !s.includes('%') && s.includes('.'),
  ipv6: (s) => isIP(s) !== 0 && !s.includes('%') && s.includes(':'),
  cidr: isCidr,
  mac: (s) => MAC.test(s),
  uuid: (s) => UUID.test(s),
  uuid3: (s) => UUID3.test(s),
  uuid4: (s) => UUID4.test(s),
  uuid5: (s) => UUID5.test(s),
  isbn: (s) => /^(?:[0-9]{9}X|[0-9]{10}|[0-9]{13})$/.test(s.replace(/[\s-]/g, '')),
  isbn10: (s) => /^(?:[0-9]{9}X|[0-9]{10})$/.test(s.replace(/[\s-]/g, '')),
  isbn13: (s) => /^[0-9]{13}$/.test(s.replace(/[\s-]/g, '')),
  creditcard: (s) => /^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$/.test(s.replace(/[^0-9]/g, '')),
  ssn: (s) => /^\d{3}[- ]?\d{2}[- ]?\d{4}$/.test(s),
  hexcolor: (s) => /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(s),
  rgbcolor: (s) => /^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$/.test(s),
  byte: (s) => BASE64.test(s),
  password: () => true,
  date: isDate,
  duration: (s) => DURATION.test(s),
  datetime: isDateTime,
};

/** The check for a string format the server enforces (`date-time` and `datetime` alike), or undefined for one it ignores. */
export function stringFormat(format: string): ((s: string) => boolean) | undefined {
  return CHECKS[format.replace(/-/g, '')];
}

/** Formats a numeric schema may carry and the server keeps; others are stripped. */
export function numericFormat(type: string, format: string): string | undefined {
  if (type === 'integer' && (format === 'int32' || format === 'int64')) return format;
  if (type === 'number' && (format === 'float' || format === 'double')) return format;
  return undefined;
}
