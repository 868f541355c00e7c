/**
 * IPPool objects: validation of the user-written form (the future CRD shape)
 * into the derived Pool the allocator works on. Pool files are edited by hand
 * under pressure, so every rejection names the pool and the exact field, and
 * nothing is silently dropped or guessed.
 */
import { describeValue, field, isRecord } from './values.ts';
import type { Address, Cidr, Family } from './address.ts';
import { addressBits, cidrContains, cidrFirst, cidrLast, formatAddress, formatCidr, parseAddress, parseCidr, parseCidrLoose } from './address.ts';
import { TidepoolError } from './errors.ts';
import type { LabelSelector } from './label-selector.ts';
import { planLabelSelectorWith } from './label-selector.ts';
import type { IPRange } from './range.ts';
import { formatRange, intersectRanges, parseRangeSpec, rangesContain, rangesSize, subtractRanges } from './range.ts';

/** The only apiVersion accepted for IPPool objects. */
export const POOL_API_VERSION = 'tidepool.dev/v1alpha1';
const POOL_KIND = 'IPPool';

/** One route handed to the container; `dst` is a canonical CIDR, `gw` (when present) a canonical address. */
export interface RouteEntry {
  readonly dst: string;
  readonly gw?: string;
}

/** The `spec` of an IPPool object as users write it. */
export interface IPPoolSpec {
  subnet: string;
  ips?: string[];
  excludeIPs?: string[];
  gateway?: string;
  routes?: RouteEntry[];
  default?: boolean;
  disable?: boolean;
  cleanGateway?: boolean;
  ipConflictDetection?: boolean;
  gatewayDetection?: boolean;
  detectionTimeoutMs?: number;
  nodeName?: string[];
  nodeAffinity?: LabelSelector;
  namespaceName?: string[];
  namespaceAffinity?: LabelSelector;
  podAffinity?: LabelSelector;
  multusName?: string[];
}

/** An IPPool object as users write it (YAML/JSON, same shape as the CRD). */
export interface IPPoolObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: IPPoolSpec;
}

/**
 * Where a pool may be used in Kubernetes mode. Every present field must hold
 * (logical AND); an absent field does not restrict. Lists are never empty.
 */
export interface PoolAffinity {
  /** Names of the nodes the pool serves. */
  readonly nodeName?: readonly string[];
  /** Selector on the labels of the pod's node. */
  readonly nodeAffinity?: LabelSelector;
  /** Names of the namespaces whose pods may use the pool. */
  readonly namespaceName?: readonly string[];
  /** Selector on the labels of the pod's namespace. */
  readonly namespaceAffinity?: LabelSelector;
  /** Selector on the pod's labels. */
  readonly podAffinity?: LabelSelector;
  /** Network names (the netconf `name`, as Multus passes it) the pool serves. */
  readonly multusName?: readonly string[];
}

/** A validated pool, with everything the allocator needs already derived. */
export interface Pool {
  readonly name: string;
  readonly family: Family;
  readonly subnet: Cidr;
  readonly gateway?: Address;
  readonly routes: readonly RouteEntry[];
  /** Allocatable IPs: (spec.ips, or the subnet's default hosts) minus spec.excludeIPs; normalized and never empty. */
  readonly ranges: readonly IPRange[];
  /** rangesSize(ranges). */
  readonly total: bigint;
  readonly isDefault: boolean;
  readonly disabled: boolean;
  /** Restrictions on which pods may use the pool; `{}` when unrestricted. */
  readonly affinity: PoolAffinity;
  /** spec.cleanGateway: no default route through the gateway (undefined: the pool does not say). */
  readonly cleanGateway?: boolean;
  /** spec.ipConflictDetection, spec.gatewayDetection, spec.detectionTimeoutMs; undefined: the node's setting applies. */
  readonly detection: PoolDetection;
}

/** A pool's own detection settings; each absent field leaves the node's (or the netconf's) in force. */
export interface PoolDetection {
  readonly ipConflict?: boolean;
  readonly gateway?: boolean;
  readonly timeoutMs?: number;
}

/** Bounds of a detection timeout (pool, netconf, flag): long enough for a LAN, short enough to stay far under the plugin's 10 s. */
export const DETECTION_TIMEOUT_MIN_MS = 1;
export const DETECTION_TIMEOUT_MAX_MS = 2000;

const SPEC_FIELDS = [
  'subnet',
  'ips',
  'excludeIPs',
  'gateway',
  'routes',
  'default',
  'disable',
  'cleanGateway',
  'ipConflictDetection',
  'gatewayDetection',
  'detectionTimeoutMs',
  'nodeName',
  'nodeAffinity',
  'namespaceName',
  'namespaceAffinity',
  'podAffinity',
  'multusName',
] as const;
const ROUTE_FIELDS = ['dst', 'gw'] as const;
const DNS1123_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAME_LENGTH = 253;
const DNS1123_LABEL = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL_LENGTH = 63;
/** The CNI specification's rule for network names, which is what Multus passes as the netconf name. */
const CNI_NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_LISTED_OVERLAPS = 3;

interface Where {
  /** Message prefix such as `pools.yaml: `, or ''. */
  readonly prefix: string;
  /** 1-based position in a list, when validating a list. */
  readonly index?: number;
  /** Set once metadata.name is known to be a usable name. */
  name?: string;
}

function prefixOf(where: string | undefined): string {
  if (where === undefined || where === '') return '';
  // Callers pass either `pools.yaml` or `pools.yaml: `; both give one separator.
  return `${where.replace(/:\s*$/, '')}: `;
}

function who(w: Where): string {
  if (w.name !== undefined) return `pool ${JSON.stringify(w.name)}`;
  if (w.index !== undefined) return `pool #${w.index}`;
  return 'pool';
}

function fail(w: Where, field: string, text: string): never {
  const details: Record<string, unknown> = {};
  if (field !== '') details['field'] = field;
  if (w.name !== undefined) details['pool'] = w.name;
  if (w.index !== undefined) details['index'] = w.index;
  throw new TidepoolError('INVALID_POOL', `${w.prefix}${who(w)}: ${text}`, details);
}

function isValidName(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_NAME_LENGTH && DNS1123_SUBDOMAIN.test(v);
}

function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

function rejectUnknownFields(w: Where, obj: Record<string, unknown>, path: string, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = near === undefined ? '' : ` (did you mean ${path}.${near}?)`;
    fail(w, `${path}.${key}`, `${path}.${key} is not a known field${hint}`);
  }
}

interface ListedRange {
  readonly range: IPRange;
  readonly path: string;
  readonly text: string;
}

function parseRangeList(w: Where, spec: Record<string, unknown>, key: 'ips' | 'excludeIPs', subnet: Cidr): ListedRange[] | undefined {
  const list = field(spec, key);
  if (list === undefined) return undefined;
  const path = `spec.${key}`;
  if (!Array.isArray(list)) fail(w, path, `${path} must be a list of IPs or a-b ranges, got ${describeValue(list)}`);
  return list.map((item: unknown, i): ListedRange => {
    const at = `${path}[${i}]`;
    if (typeof item !== 'string') fail(w, at, `${at} must be a string, got ${describeValue(item)}`);
    const range = parseRangeSpec(item);
    const quoted = JSON.stringify(item);
    if (range === undefined) fail(w, at, `${at} ${quoted} is not an IP or an a-b range`);
    if (range.family !== subnet.family) {
      fail(w, at, `${at} ${quoted} is ${familyName(range.family)} but spec.subnet is ${familyName(subnet.family)}`);
    }
    if (range.start < cidrFirst(subnet) || range.end > cidrLast(subnet)) {
      fail(w, at, `${at} ${quoted} is outside subnet ${formatCidr(subnet)}`);
    }
    return { range, path: at, text: item };
  });
}

/** Parses an optional in-subnet address field (spec.gateway, spec.routes[i].gw). */
function parseInSubnetAddress(w: Where, value: unknown, path: string, subnet: Cidr): Address | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(w, path, `${path} must be a string, got ${describeValue(value)}`);
  const quoted = JSON.stringify(value);
  const a = parseAddress(value);
  if (a === undefined) fail(w, path, `${path} ${quoted} is not an IP address`);
  if (a.family !== subnet.family) fail(w, path, `${path} ${quoted} is ${familyName(a.family)} but spec.subnet is ${familyName(subnet.family)}`);
  if (!cidrContains(subnet, a)) fail(w, path, `${path} ${quoted} is outside subnet ${formatCidr(subnet)}`);
  return a;
}

function parseBoolean(w: Where, spec: Record<string, unknown>, key: 'default' | 'disable'): boolean {
  return parseOptionalBoolean(w, spec, key) ?? false;
}

function parseOptionalBoolean(w: Where, spec: Record<string, unknown>, key: string): boolean | undefined {
  const v = field(spec, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(w, `spec.${key}`, `spec.${key} must be true or false, got ${describeValue(v)}`);
  return v;
}

function parseDetection(w: Where, spec: Record<string, unknown>): PoolDetection {
  const ipConflict = parseOptionalBoolean(w, spec, 'ipConflictDetection');
  const gateway = parseOptionalBoolean(w, spec, 'gatewayDetection');
  const t = field(spec, 'detectionTimeoutMs');
  if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < DETECTION_TIMEOUT_MIN_MS || t > DETECTION_TIMEOUT_MAX_MS)) {
    fail(w, 'spec.detectionTimeoutMs', `spec.detectionTimeoutMs must be an integer number of milliseconds from ${DETECTION_TIMEOUT_MIN_MS} to ${DETECTION_TIMEOUT_MAX_MS}, got ${describeValue(t)}`);
  }
  return {
    ...(ipConflict === undefined ? {} : { ipConflict }),
    ...(gateway === undefined ? {} : { gateway }),
    ...(t === undefined ? {} : { timeoutMs: t as number }),
  };
}

function parseSubnet(w: Where, spec: Record<string, unknown>): Cidr {
  const v = field(spec, 'subnet');
  if (v === undefined) fail(w, 'spec.subnet', 'spec.subnet is required');
  if (typeof v !== 'string') fail(w, 'spec.subnet', `spec.subnet must be a string, got ${describeValue(v)}`);
  const subnet = parseCidr(v);
  if (subnet !== undefined) return subnet;
  const loose = parseCidrLoose(v);
  if (loose === undefined) fail(w, 'spec.subnet', `spec.subnet ${JSON.stringify(v)} is not a CIDR`);
  const bits = BigInt(addressBits(loose.address.family) - loose.prefix);
  const network = (loose.address.value >> bits) << bits;
  const suggestion = formatCidr({ family: loose.address.family, network, prefix: loose.prefix });
  return fail(w, 'spec.subnet', `spec.subnet ${JSON.stringify(v)} is not a network address (did you mean ${suggestion}?)`);
}

function parseRoutes(w: Where, spec: Record<string, unknown>, subnet: Cidr): RouteEntry[] {
  const list = field(spec, 'routes');
  if (list === undefined) return [];
  if (!Array.isArray(list)) fail(w, 'spec.routes', `spec.routes must be a list, got ${describeValue(list)}`);
  return list.map((item: unknown, i): RouteEntry => {
    const at = `spec.routes[${i}]`;
    if (!isRecord(item)) fail(w, at, `${at} must be an object with dst and optional gw, got ${describeValue(item)}`);
    rejectUnknownFields(w, item, at, ROUTE_FIELDS);
    const dstPath = `${at}.dst`;
    const dstText = field(item, 'dst');
    if (dstText === undefined) fail(w, dstPath, `${dstPath} is required`);
    if (typeof dstText !== 'string') fail(w, dstPath, `${dstPath} must be a string, got ${describeValue(dstText)}`);
    const dst = parseCidrLoose(dstText);
    if (dst === undefined) fail(w, dstPath, `${dstPath} ${JSON.stringify(dstText)} is not a CIDR`);
    if (dst.address.family !== subnet.family) {
      fail(w, dstPath, `${dstPath} ${JSON.stringify(dstText)} is ${familyName(dst.address.family)} but spec.subnet is ${familyName(subnet.family)}`);
    }
    // The kernel only accepts route destinations without host bits, so `10.1.2.3/8` is stored as `10.0.0.0/8`.
    const bits = BigInt(addressBits(subnet.family) - dst.prefix);
    const network = (dst.address.value >> bits) << bits;
    const dstCanonical = formatCidr({ family: subnet.family, network, prefix: dst.prefix });
    const gw = parseInSubnetAddress(w, field(item, 'gw'), `${at}.gw`, subnet);
    return gw === undefined ? { dst: dstCanonical } : { dst: dstCanonical, gw: formatAddress(gw) };
  });
}

interface NameListRule {
  readonly key: 'nodeName' | 'namespaceName' | 'multusName';
  readonly what: string;
  readonly every: string;
  readonly valid: (name: string) => boolean;
  /** Extra explanation for a likely misunderstanding, or ''. */
  readonly hint: (name: string) => string;
}

const NODE_NAMES: NameListRule = { key: 'nodeName', what: 'node name', every: 'every node', valid: isValidName, hint: () => '' };
const NAMESPACE_NAMES: NameListRule = {
  key: 'namespaceName',
  what: 'namespace name',
  every: 'every namespace',
  valid: (n) => n.length <= MAX_LABEL_LENGTH && DNS1123_LABEL.test(n),
  hint: () => '',
};
const MULTUS_NAMES: NameListRule = {
  key: 'multusName',
  what: 'network name',
  every: 'every network',
  valid: (n) => CNI_NETWORK_NAME.test(n),
  // Users coming from NetworkAttachmentDefinitions tend to write namespace/name, which can never match a netconf name.
  hint: (n) => (n.includes('/') ? ' (multusName matches the netconf name, which has no namespace part)' : ''),
};

function parseNameList(w: Where, spec: Record<string, unknown>, rule: NameListRule): string[] | undefined {
  const list = field(spec, rule.key);
  if (list === undefined) return undefined;
  const path = `spec.${rule.key}`;
  if (!Array.isArray(list)) fail(w, path, `${path} must be a list of ${rule.what}s, got ${describeValue(list)}`);
  // An empty list would read as "nowhere"; omitting the field is the one way to say "everywhere".
  if (list.length === 0) fail(w, path, `${path} must not be empty (omit it to allow ${rule.every})`);
  const seen = new Set<string>();
  return list.map((item: unknown, i): string => {
    const at = `${path}[${i}]`;
    if (typeof item !== 'string') fail(w, at, `${at} must be a string, got ${describeValue(item)}`);
    if (!rule.valid(item)) fail(w, at, `${at} ${JSON.stringify(item)} is not a valid ${rule.what}${rule.hint(item)}`);
    if (seen.has(item)) fail(w, at, `${at} ${JSON.stringify(item)} is listed twice`);
    seen.add(item);
    return item;
  });
}

function parseSelector(w: Where, spec: Record<string, unknown>, key: 'nodeAffinity' | 'namespaceAffinity' | 'podAffinity'): LabelSelector | undefined {
  const value = field(spec, key);
  if (value === undefined) return undefined;
  return planLabelSelectorWith(value, `spec.${key}`, (at, text) => fail(w, at, text));
}

function parseAffinity(w: Where, spec: Record<string, unknown>): PoolAffinity {
  const nodeName = parseNameList(w, spec, NODE_NAMES);
  const nodeAffinity = parseSelector(w, spec, 'nodeAffinity');
  const namespaceName = parseNameList(w, spec, NAMESPACE_NAMES);
  const namespaceAffinity = parseSelector(w, spec, 'namespaceAffinity');
  const podAffinity = parseSelector(w, spec, 'podAffinity');
  const multusName = parseNameList(w, spec, MULTUS_NAMES);
  return {
    ...(nodeName === undefined ? {} : { nodeName }),
    ...(nodeAffinity === undefined ? {} : { nodeAffinity }),
    ...(namespaceName === undefined ? {} : { namespaceName }),
    ...(namespaceAffinity === undefined ? {} : { namespaceAffinity }),
    ...(podAffinity === undefined ? {} : { podAffinity }),
    ...(multusName === undefined ? {} : { multusName }),
  };
}

/**
 * Addresses that must never be handed out even if listed: the IPv4 network
 * and broadcast addresses, and the IPv6 subnet-router anycast address. Small
 * subnets (/31, /32, /127, /128) have none, as point-to-point links use every
 * address.
 */
function reservedAddresses(subnet: Cidr): { value: bigint; what: string }[] {
  if (subnet.family === 4) {
    if (subnet.prefix > 30) return [];
    return [
      { value: cidrFirst(subnet), what: 'the network address' },
      { value: cidrLast(subnet), what: 'the broadcast address' },
    ];
  }
  if (subnet.prefix > 126) return [];
  return [{ value: cidrFirst(subnet), what: 'the subnet-router anycast address' }];
}

function planPoolAt(obj: unknown, w: Where): Pool {
  if (!isRecord(obj)) fail(w, '', `must be an object with apiVersion, kind, metadata and spec, got ${describeValue(obj)}`);
  const metadata = field(obj, 'metadata');
  const rawName = isRecord(metadata) ? field(metadata, 'name') : undefined;
  // A usable name makes even apiVersion/kind errors easy to locate.
  if (isValidName(rawName)) w.name = rawName;

  const apiVersion = field(obj, 'apiVersion');
  if (apiVersion !== POOL_API_VERSION) {
    fail(w, 'apiVersion', `apiVersion must be ${JSON.stringify(POOL_API_VERSION)}, got ${describeValue(apiVersion)}`);
  }
  const kind = field(obj, 'kind');
  if (kind !== POOL_KIND) fail(w, 'kind', `kind must be ${JSON.stringify(POOL_KIND)}, got ${describeValue(kind)}`);
  if (!isRecord(metadata)) fail(w, 'metadata', `metadata must be an object, got ${describeValue(metadata)}`);
  if (typeof rawName !== 'string' || rawName === '') {
    fail(w, 'metadata.name', `metadata.name must be a lowercase DNS-1123 name, got ${describeValue(rawName)}`);
  }
  if (!isValidName(rawName)) {
    w.name = rawName;
    fail(w, 'metadata.name', 'metadata.name must be a lowercase DNS-1123 name');
  }
  const name = rawName;

  const spec = field(obj, 'spec');
  if (!isRecord(spec)) fail(w, 'spec', `spec must be an object, got ${describeValue(spec)}`);
  rejectUnknownFields(w, spec, 'spec', SPEC_FIELDS);

  const subnet = parseSubnet(w, spec);
  const ips = parseRangeList(w, spec, 'ips', subnet);
  const excludes = parseRangeList(w, spec, 'excludeIPs', subnet) ?? [];
  const gateway = parseInSubnetAddress(w, field(spec, 'gateway'), 'spec.gateway', subnet);
  const routes = parseRoutes(w, spec, subnet);
  const isDefault = parseBoolean(w, spec, 'default');
  const disabled = parseBoolean(w, spec, 'disable');
  const affinity = parseAffinity(w, spec);
  const cleanGateway = parseOptionalBoolean(w, spec, 'cleanGateway');
  const detection = parseDetection(w, spec);

  const reserved = reservedAddresses(subnet);
  const excluded = excludes.map((e) => e.range);
  let ranges: IPRange[];
  if (ips === undefined) {
    const whole: IPRange = { family: subnet.family, start: cidrFirst(subnet), end: cidrLast(subnet) };
    const notHosts = reserved.map((r): IPRange => ({ family: subnet.family, start: r.value, end: r.value }));
    if (gateway !== undefined) notHosts.push({ family: subnet.family, start: gateway.value, end: gateway.value });
    ranges = subtractRanges([whole], [...notHosts, ...excluded]);
    if (ranges.length === 0) {
      fail(w, 'spec.ips', `no allocatable IPs (the host addresses of ${formatCidr(subnet)} minus spec.gateway and spec.excludeIPs is empty)`);
    }
  } else {
    ranges = subtractRanges(
      ips.map((e) => e.range),
      excluded,
    );
    // Explicit lists are checked rather than trimmed: quietly changing what the user listed would hide their mistake.
    const source = (value: bigint): ListedRange =>
      ips.find((e) => value >= e.range.start && value <= e.range.end) as ListedRange;
    const describeSource = (e: ListedRange): string => `${e.path} ${JSON.stringify(e.text)}`;
    if (gateway !== undefined && rangesContain(ranges, gateway.value)) {
      fail(
        w,
        'spec.gateway',
        `spec.gateway ${formatAddress(gateway)} is inside the allocatable IPs (${describeSource(source(gateway.value))}); exclude it or change spec.ips`,
      );
    }
    for (const r of reserved) {
      if (!rangesContain(ranges, r.value)) continue;
      const e = source(r.value);
      fail(
        w,
        e.path,
        `${describeSource(e)} includes ${formatAddress({ family: subnet.family, value: r.value })}, ${r.what} of subnet ${formatCidr(subnet)}; exclude it or change spec.ips`,
      );
    }
    if (ranges.length === 0) fail(w, 'spec.ips', 'no allocatable IPs (spec.ips minus spec.excludeIPs is empty)');
  }

  const pool: Pool = {
    name,
    family: subnet.family,
    subnet,
    ...(gateway === undefined ? {} : { gateway }),
    routes,
    ranges,
    total: rangesSize(ranges),
    isDefault,
    disabled,
    affinity,
    ...(cleanGateway === undefined ? {} : { cleanGateway }),
    detection,
  };
  return pool;
}

/**
 * Validates one untrusted value (parsed YAML/JSON) as an IPPool object and
 * derives its Pool. Throws TidepoolError INVALID_POOL whose message starts
 * with `where` (e.g. a file name) and names the pool and the offending field;
 * details carry `pool` (when known) and `field`.
 */
export function planPool(obj: unknown, where?: string): Pool {
  return planPoolAt(obj, { prefix: prefixOf(where) });
}

/**
 * Validates every value like planPool (unnamed pools are called `pool #N`,
 * 1-based), then guarantees that names are unique (INVALID_POOL) and that no
 * two pools share an allocatable IP (POOL_OVERLAP, details.pools names both).
 * Pools are returned in input order.
 */
export function planPools(objs: readonly unknown[], where?: string): Pool[] {
  const prefix = prefixOf(where);
  const pools = objs.map((obj, i) => planPoolAt(obj, { prefix, index: i + 1 }));

  const firstIndex = new Map<string, number>();
  pools.forEach((p, i) => {
    const seen = firstIndex.get(p.name);
    if (seen === undefined) {
      firstIndex.set(p.name, i);
      return;
    }
    throw new TidepoolError('INVALID_POOL', `${prefix}pool ${JSON.stringify(p.name)} is defined twice (#${seen + 1} and #${i + 1})`, {
      pool: p.name,
      field: 'metadata.name',
    });
  });

  for (let i = 0; i < pools.length; i++) {
    const a = pools[i] as Pool;
    for (let j = i + 1; j < pools.length; j++) {
      const b = pools[j] as Pool;
      if (a.family !== b.family) continue;
      const shared = intersectRanges(a.ranges, b.ranges);
      if (shared.length === 0) continue;
      const listed = shared.slice(0, MAX_LISTED_OVERLAPS).map(formatRange);
      if (shared.length > MAX_LISTED_OVERLAPS) listed.push('…');
      throw new TidepoolError(
        'POOL_OVERLAP',
        `${prefix}pools ${JSON.stringify(a.name)} and ${JSON.stringify(b.name)} overlap: both hold ${listed.join(', ')}`,
        { pools: [a.name, b.name] },
      );
    }
  }
  return pools;
}
