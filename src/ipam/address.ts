/**
 * IP addresses and CIDR blocks as plain bigints. Everything else in the
 * allocator works on these numbers, so the text forms are parsed strictly
 * once, here, and always printed back in one canonical form: two spellings of
 * the same IP must never look like two different IPs in the store.
 */

/** IP version. */
export type Family = 4 | 6;

/** One IP address; `value` is in 0 .. 2^addressBits(family) - 1. */
export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

/** A network block; `network` has no host bits set and `prefix` is in 0 .. addressBits(family). */
export interface Cidr {
  readonly family: Family;
  readonly network: bigint;
  readonly prefix: number;
}

/** Number of bits in an address of the family. */
export function addressBits(f: Family): 32 | 128 {
  return f === 4 ? 32 : 128;
}

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

function parseIPv4Value(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

/** Parses hextets, allowing a dotted IPv4 tail only as the very last piece of the address. */
function parseGroups(parts: readonly string[], tailMayBeIPv4: boolean): number[] | undefined {
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part.includes('.')) {
      if (!tailMayBeIPv4 || i !== parts.length - 1) return undefined;
      const v4 = parseIPv4Value(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else {
      if (!HEXTET.test(part)) return undefined;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

function parseIPv6Value(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap === -1) {
    const all = parseGroups(text.split(':'), true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    // A second '::' (or ':::') would make the zero run ambiguous.
    if (text.indexOf('::', gap + 1) !== -1) return undefined;
    const headText = text.slice(0, gap);
    const tailText = text.slice(gap + 2);
    const head = headText === '' ? [] : parseGroups(headText.split(':'), false);
    const tail = tailText === '' ? [] : parseGroups(tailText.split(':'), true);
    if (head === undefined || tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/**
 * Parses an IPv4 dotted quad (exactly four decimal octets, no leading zeros)
 * or an IPv6 address (with optional '::' and dotted IPv4 tail, any case).
 * Returns undefined for anything else, including zone ids, brackets and
 * surrounding whitespace.
 */
export function parseAddress(text: string): Address | undefined {
  if (text.includes(':')) {
    const value = parseIPv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

function formatIPv4Value(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
}

/**
 * Canonical text of an address: dotted quad for IPv4; RFC 5952 for IPv6
 * (lowercase, no leading zeros, the longest run of two or more zero groups
 * shown as '::', the first such run on a tie). IPv4-mapped addresses
 * (::ffff:0:0/96) use the mixed form `::ffff:a.b.c.d` that RFC 5952 section 5
 * recommends. parseAddress(formatAddress(a)) always equals a.
 */
export function formatAddress(a: Address): string {
  if (a.family === 4) return formatIPv4Value(a.value);
  if (a.value >> 32n === 0xffffn) return `::ffff:${formatIPv4Value(a.value & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((a.value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a lone zero group is never compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: readonly number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(addressBits(family) - prefix)) - 1n;
}

/**
 * Parses `address/prefix` without requiring the host bits to be zero, e.g.
 * `10.6.0.5/24`. The prefix is decimal without leading zeros and within the
 * family's bit count.
 */
export function parseCidrLoose(text: string): { address: Address; prefix: number } | undefined {
  const slash = text.indexOf('/');
  if (slash === -1 || text.indexOf('/', slash + 1) !== -1) return undefined;
  const address = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !PREFIX.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > addressBits(address.family)) return undefined;
  return { address, prefix };
}

/**
 * Parses a network block such as `10.0.0.0/24` or `fd00::/64`. Returns
 * undefined when the text is not a CIDR or when host bits are set; use
 * parseCidrLoose to tell those apart.
 */
export function parseCidr(text: string): Cidr | undefined {
  const loose = parseCidrLoose(text);
  if (loose === undefined) return undefined;
  const { address, prefix } = loose;
  if ((address.value & hostMask(address.family, prefix)) !== 0n) return undefined;
  return { family: address.family, network: address.value, prefix };
}

/** Canonical `network/prefix` text; parseCidr(formatCidr(c)) equals c. */
export function formatCidr(c: Cidr): string {
  return `${formatAddress({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** The lowest address of the block (its network address). */
export function cidrFirst(c: Cidr): bigint {
  return c.network;
}

/** The highest address of the block. */
export function cidrLast(c: Cidr): bigint {
  return c.network | hostMask(c.family, c.prefix);
}

/** Whether `a` lies in `c`; always false when the families differ. */
export function cidrContains(c: Cidr, a: Address): boolean {
  return c.family === a.family && a.value >= cidrFirst(c) && a.value <= cidrLast(c);
}

/** Numeric order of address texts: IPv4 before IPv6; text that is not an address sorts first, as zero. */
export function compareAddressText(a: string, b: string): number {
  const x = parseAddress(a);
  const y = parseAddress(b);
  const fx = x?.family ?? 0;
  const fy = y?.family ?? 0;
  if (fx !== fy) return fx - fy;
  const vx = x?.value ?? 0n;
  const vy = y?.value ?? 0n;
  return vx < vy ? -1 : vx > vy ? 1 : 0;
}
