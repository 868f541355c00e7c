/**
 * Which pools serve a CNI ADD in Kubernetes mode. The pod's annotations, its
 * namespace's annotations, the netconf and the cluster default pools are
 * consulted in that order and the first one that asks for pools decides; the
 * candidates are then narrowed by each pool's state and affinities. Users
 * debug these choices from a single CNI error line, so every rejection names
 * the pod, the annotation or netconf field, and the problem.
 */
import { describeValue, field, isRecord } from './values.ts';
import type { Family } from './address.ts';
import { addressBits, cidrContains, formatAddress, formatCidr, parseAddress, parseCidrLoose } from './address.ts';
import { TidepoolError } from './errors.ts';
import type { LabelSelector } from './label-selector.ts';
import { formatLabelSelector, matchesLabelSelector } from './label-selector.ts';
import type { Pool } from './pool.ts';
import { DEFAULT_ROUTE_INTERFACE } from './routes.ts';

/** Pod annotation naming pools for several interfaces at once; the first key wins, the others are Spiderpool aliases. */
export const POD_IPPOOLS_ANNOTATIONS = ['ipam.tidepool.dev/ippools', 'ipam.spidernet.io/ippools'] as const;
/** Pod annotation naming pools for one interface; the first key wins, the other is the Spiderpool alias. */
export const POD_IPPOOL_ANNOTATIONS = ['ipam.tidepool.dev/ippool', 'ipam.spidernet.io/ippool'] as const;
/** Pod annotation adding routes (`[{"dst":"10.9.0.0/16","gw":"10.6.0.1"}]`); each goes to the interface whose subnet holds its gateway. */
export const POD_ROUTES_ANNOTATIONS = ['ipam.tidepool.dev/routes', 'ipam.spidernet.io/routes'] as const;
/** Pod annotation naming the interface that gets the default route through its pool's gateway (default eth0). */
export const POD_DEFAULT_ROUTE_NIC_ANNOTATIONS = ['ipam.tidepool.dev/default-route-nic', 'ipam.spidernet.io/default-route-nic'] as const;
/**
 * Namespace annotation naming default IPv4 pools. Spiderpool itself spells the
 * key `defaultv4ippool`, so both Spiderpool spellings are accepted.
 */
export const NAMESPACE_IPV4_ANNOTATIONS = [
  'ipam.tidepool.dev/default-ipv4-ippool',
  'ipam.spidernet.io/default-ipv4-ippool',
  'ipam.spidernet.io/defaultv4ippool',
] as const;
/** Namespace annotation naming default IPv6 pools; see NAMESPACE_IPV4_ANNOTATIONS. */
export const NAMESPACE_IPV6_ANNOTATIONS = [
  'ipam.tidepool.dev/default-ipv6-ippool',
  'ipam.spidernet.io/default-ipv6-ippool',
  'ipam.spidernet.io/defaultv6ippool',
] as const;

/** What selection needs to know about the pod being wired. */
export interface PodView {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** The pod's namespace. */
export interface NamespaceView {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** The node the pod runs on. */
export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** Everything planPoolSelection reads; it reads nothing else. */
export interface SelectionInput {
  pod: PodView;
  /**
   * The pod's namespace, or undefined when it could not be read. Then the
   * namespace annotations are not consulted, and pools restricted by
   * namespaceAffinity are not used: their labels cannot be checked.
   */
  namespace: NamespaceView | undefined;
  node: NodeView;
  /** Interface of this CNI ADD. */
  ifname: string;
  /** Network attachment name of this call (the netconf name). */
  multusName?: string | undefined;
  /** Pool lists of the netconf's ipam section. */
  netconf: { ipv4Pools?: readonly string[]; ipv6Pools?: readonly string[] };
  /** Every known pool, in definition order. */
  pools: readonly Pool[];
  /** Names of pools being deleted. */
  terminating?: ReadonlySet<string>;
}

/** Ordered candidate pools of one interface; a family with [] is not requested. */
export interface InterfacePools {
  ifname: string;
  ipv4: Pool[];
  ipv6: Pool[];
  /** The pod annotation's `cleangateway` for this interface, when it says. */
  cleanGateway?: boolean;
}

/** A route the pod asked for, bound to the interface whose candidate pools' subnet holds its gateway. */
export interface PodRoute {
  readonly ifname: string;
  /** Canonical CIDR (host bits cleared). */
  readonly dst: string;
  /** Canonical address. */
  readonly gw: string;
}

/**
 * The outcome: which rule decided (`annotation` names the annotation key(s)
 * it came from) and the candidates of every interface to allocate. Only the
 * multi-interface pod annotation yields more than one interface: the whole
 * pod is allocated at its first ADD, so that it gets every IP or none.
 */
export interface SelectionPlan {
  source: 'pod-annotation' | 'namespace-annotation' | 'netconf' | 'default';
  annotation?: string;
  interfaces: InterfacePools[];
  /** Routes from the pod's routes annotation; [] without one. */
  routes: PodRoute[];
  /** The interface that gets the default route through its pools' gateways. */
  defaultRouteInterface: string;
}

/** One pool list as written, with what is needed to blame it. */
interface PoolList {
  readonly ifname: string;
  readonly family: Family;
  /** Pool names or globs as written. */
  readonly names: readonly string[];
  /** Path of the list within its annotation or the netconf (`ipv4`, `[1].ipv4`, `ipam.ipv4Pools`), or ''. */
  readonly field: string;
  /** Where the list came from, for "no usable pool from ...". */
  readonly source: string;
  /** Location text of a path within the list's origin, e.g. `annotation K: ipv4[0]`. */
  readonly locate: (path: string) => string;
  /** Context for error details: annotation and namespace when the list came from one. */
  readonly origin: Readonly<Record<string, unknown>>;
}

interface Decision {
  readonly source: SelectionPlan['source'];
  readonly annotation?: string;
  readonly ifnames: readonly string[];
  readonly lists: readonly PoolList[];
  /** Per-interface cleangateway from the multi-interface annotation. */
  readonly cleanGateway?: ReadonlyMap<string, boolean>;
  /** Whether the source names interfaces, so errors say which one. */
  readonly perInterface: boolean;
}

interface Context {
  readonly input: SelectionInput;
  /** `namespace/name`. */
  readonly podRef: string;
  /** `pod namespace/name`, the start of every message. */
  readonly pod: string;
  readonly byName: ReadonlyMap<string, Pool>;
  readonly sortedNames: readonly string[];
}

const IPPOOL_FIELDS = ['interface', 'ipv4', 'ipv6'] as const;
// Spiderpool's multi-interface entries carry cleangateway: no default route through this interface's gateways.
const IPPOOLS_FIELDS = ['interface', 'ipv4', 'ipv6', 'cleangateway'] as const;
const IFNAMSIZ = 16;

function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

/** The kernel's rule for interface names (dev_valid_name). */
function isInterfaceName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}

/** Appends a path to a location: `[1].x` attaches, `x` follows a colon. */
function joinPath(base: string, path: string): string {
  if (path === '') return base;
  return path.startsWith('[') ? `${base}${path}` : `${base}: ${path}`;
}

/** The first of `keys` present in `annotations`, so tidepool's own key wins over its aliases. */
function pickAnnotation(annotations: Readonly<Record<string, string>>, keys: readonly string[]): { key: string; text: string } | undefined {
  for (const key of keys) {
    if (Object.hasOwn(annotations, key)) return { key, text: annotations[key] as string };
  }
  return undefined;
}

/** Whether `name` matches a glob where `*` is any run of characters and `?` exactly one. */
export function matchesGlob(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    const c = pattern[p];
    if (c === '?' || (c !== undefined && c !== '*' && c === name[n])) {
      p++;
      n++;
    } else if (c === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      // Let the last star swallow one more character and retry from there.
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

function isGlob(name: string): boolean {
  return name.includes('*') || name.includes('?');
}

/** Reads one annotation's JSON and reports shape problems as INVALID_ANNOTATION naming pod, annotation and path. */
class AnnotationReader {
  readonly value: unknown;
  readonly origin: Readonly<Record<string, unknown>>;

  constructor(
    private readonly podRef: string,
    /** `annotation K` or `namespace N annotation K`. */
    readonly label: string,
    readonly key: string,
    text: string,
    namespace?: string,
  ) {
    this.origin = namespace === undefined ? { annotation: key } : { annotation: key, namespace };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.fail('', `is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.value = value;
  }

  locate(path: string): string {
    return joinPath(this.label, path);
  }

  fail(path: string, text: string): never {
    const details: Record<string, unknown> = { pod: this.podRef, ...this.origin };
    if (path !== '') details['field'] = path;
    throw new TidepoolError('INVALID_ANNOTATION', `pod ${this.podRef}: ${this.locate(path)} ${text}`, details);
  }

  rejectUnknownFields(obj: Record<string, unknown>, path: string, known: readonly string[]): void {
    const prefix = path === '' ? '' : `${path}.`;
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      // Older Spiderpool releases spelled the lists ipv4pools/ipv6pools.
      const near = known.find((k) => key.toLowerCase() === k || key.toLowerCase() === `${k}pools`);
      this.fail(`${prefix}${key}`, `is not a known field${near === undefined ? '' : ` (did you mean ${near}?)`}`);
    }
  }

  poolNames(value: unknown, path: string): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(path, `must be a list of pool names, got ${describeValue(value)}`);
    return value.map((item: unknown, i) => {
      if (typeof item !== 'string' || item === '') this.fail(`${path}[${i}]`, `must be a pool name, got ${describeValue(item)}`);
      return item;
    });
  }

  interfaceName(value: unknown, path: string): string {
    if (typeof value !== 'string') this.fail(path, `must be a string, got ${describeValue(value)}`);
    if (!isInterfaceName(value)) this.fail(path, `${JSON.stringify(value)} is not a valid interface name`);
    return value;
  }
}

function listsOf(reader: AnnotationReader, ifname: string, path: string, ipv4: readonly string[], ipv6: readonly string[]): PoolList[] {
  const at = (name: string): string => (path === '' ? name : `${path}.${name}`);
  const make = (family: Family, names: readonly string[], field: string): PoolList => ({
    ifname,
    family,
    names,
    field,
    source: reader.label,
    locate: (p) => reader.locate(p),
    origin: reader.origin,
  });
  const lists: PoolList[] = [];
  if (ipv4.length > 0) lists.push(make(4, ipv4, at('ipv4')));
  if (ipv6.length > 0) lists.push(make(6, ipv6, at('ipv6')));
  return lists;
}

/** Rule 1: the multi-interface pod annotation. */
function decideFromIppools(ctx: Context): Decision | undefined {
  const found = pickAnnotation(ctx.input.pod.annotations, POD_IPPOOLS_ANNOTATIONS);
  if (found === undefined) return undefined;
  const r: AnnotationReader = new AnnotationReader(ctx.podRef, `annotation ${found.key}`, found.key, found.text);
  const value = r.value;
  if (!Array.isArray(value)) r.fail('', `must be a JSON list of {"interface", "ipv4", "ipv6"} objects, got ${describeValue(value)}`);
  const ifnames: string[] = [];
  const lists: PoolList[] = [];
  const cleanGateway = new Map<string, boolean>();
  value.forEach((entry: unknown, i) => {
    const at = `[${i}]`;
    if (!isRecord(entry)) r.fail(at, `must be an object with interface, ipv4 and/or ipv6, got ${describeValue(entry)}`);
    r.rejectUnknownFields(entry, at, IPPOOLS_FIELDS);
    const rawIf = field(entry, 'interface');
    if (rawIf === undefined) r.fail(`${at}.interface`, 'is required');
    const ifname = r.interfaceName(rawIf, `${at}.interface`);
    if (ifnames.includes(ifname)) r.fail(`${at}.interface`, `${JSON.stringify(ifname)} appears twice`);
    const ipv4 = r.poolNames(field(entry, 'ipv4'), `${at}.ipv4`);
    const ipv6 = r.poolNames(field(entry, 'ipv6'), `${at}.ipv6`);
    if (ipv4.length === 0 && ipv6.length === 0) r.fail(at, 'names no pool (give ipv4, ipv6 or both)');
    const clean = field(entry, 'cleangateway');
    if (clean !== undefined) {
      if (typeof clean !== 'boolean') r.fail(`${at}.cleangateway`, `must be true or false, got ${describeValue(clean)}`);
      cleanGateway.set(ifname, clean);
    }
    ifnames.push(ifname);
    lists.push(...listsOf(r, ifname, at, ipv4, ipv6));
  });
  if (!ifnames.includes(ctx.input.ifname)) r.fail('', `has no entry for interface ${ctx.input.ifname}`);
  return { source: 'pod-annotation', annotation: found.key, ifnames, lists, perInterface: true, cleanGateway };
}

/** Rule 2: the single-interface pod annotation; it does not apply when it names another interface. */
function decideFromIppool(ctx: Context): Decision | undefined {
  const found = pickAnnotation(ctx.input.pod.annotations, POD_IPPOOL_ANNOTATIONS);
  if (found === undefined) return undefined;
  const r: AnnotationReader = new AnnotationReader(ctx.podRef, `annotation ${found.key}`, found.key, found.text);
  const value = r.value;
  if (!isRecord(value)) r.fail('', `must be a JSON object with interface, ipv4 and/or ipv6, got ${describeValue(value)}`);
  r.rejectUnknownFields(value, '', IPPOOL_FIELDS);
  const rawIf = field(value, 'interface');
  const ifname = rawIf === undefined ? undefined : r.interfaceName(rawIf, 'interface');
  const ipv4 = r.poolNames(field(value, 'ipv4'), 'ipv4');
  const ipv6 = r.poolNames(field(value, 'ipv6'), 'ipv6');
  if (ipv4.length === 0 && ipv6.length === 0) r.fail('', 'names no pool (give ipv4, ipv6 or both)');
  if (ifname !== undefined && ifname !== ctx.input.ifname) return undefined;
  const here = ctx.input.ifname;
  return { source: 'pod-annotation', annotation: found.key, ifnames: [here], lists: listsOf(r, here, '', ipv4, ipv6), perInterface: false };
}

/** Rule 3: namespace defaults, each family on its own key; an empty list asks for nothing. */
function decideFromNamespace(ctx: Context): Decision | undefined {
  const ns = ctx.input.namespace;
  if (ns === undefined) return undefined;
  const here = ctx.input.ifname;
  const keys: string[] = [];
  const lists: PoolList[] = [];
  for (const [family, candidates] of [
    [4, NAMESPACE_IPV4_ANNOTATIONS],
    [6, NAMESPACE_IPV6_ANNOTATIONS],
  ] as const) {
    const found = pickAnnotation(ns.annotations, candidates);
    if (found === undefined) continue;
    const r: AnnotationReader = new AnnotationReader(ctx.podRef, `namespace ${ns.name} annotation ${found.key}`, found.key, found.text, ns.name);
    if (!Array.isArray(r.value)) r.fail('', `must be a JSON list of pool names, got ${describeValue(r.value)}`);
    const names = r.poolNames(r.value, '');
    if (names.length === 0) continue;
    keys.push(found.key);
    lists.push({ ifname: here, family, names, field: '', source: r.label, locate: (p) => r.locate(p), origin: r.origin });
  }
  if (lists.length === 0) return undefined;
  return { source: 'namespace-annotation', annotation: keys.join(', '), ifnames: [here], lists, perInterface: false };
}

/** Rule 4: the netconf's pool lists. */
function decideFromNetconf(ctx: Context): Decision | undefined {
  const here = ctx.input.ifname;
  const lists: PoolList[] = [];
  for (const [family, key] of [
    [4, 'ipv4Pools'],
    [6, 'ipv6Pools'],
  ] as const) {
    const names = ctx.input.netconf[key] ?? [];
    if (names.length === 0) continue;
    const path = `ipam.${key}`;
    lists.push({ ifname: here, family, names, field: path, source: `netconf ${path}`, locate: (p) => `netconf ${p}`, origin: {} });
  }
  return lists.length === 0 ? undefined : { source: 'netconf', ifnames: [here], lists, perInterface: false };
}

/** Rule 5: pools marked spec.default, per family in definition order. */
function decideFromDefaults(ctx: Context): Decision | undefined {
  const here = ctx.input.ifname;
  const lists: PoolList[] = [];
  for (const family of [4, 6] as const) {
    const names = ctx.input.pools.filter((p) => p.isDefault && p.family === family).map((p) => p.name);
    if (names.length === 0) continue;
    lists.push({ ifname: here, family, names, field: '', source: 'the default pools', locate: (p) => joinPath('the default pools', p), origin: {} });
  }
  return lists.length === 0 ? undefined : { source: 'default', ifnames: [here], lists, perInterface: false };
}

interface Unusable {
  readonly pool: string;
  readonly reason: string;
}

function isEmptySelector(sel: LabelSelector | undefined): boolean {
  return sel === undefined || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0);
}

function nameList(names: readonly string[]): string {
  return `[${names.join(', ')}]`;
}

/** Why `pool` may not serve this pod, or undefined when it may. Only the first failing check is reported. */
function whyUnusable(ctx: Context, pool: Pool, family: Family): string | undefined {
  const { input } = ctx;
  const q = JSON.stringify(pool.name);
  const a = pool.affinity;
  const nsName = input.pod.namespace;
  if (pool.disabled) return `${q} is disabled`;
  if (input.terminating?.has(pool.name) === true) return `${q} is being deleted`;
  if (pool.family !== family) return `${q} is ${familyName(pool.family)}, not ${familyName(family)}`;
  if (a.nodeName !== undefined && !a.nodeName.includes(input.node.name)) {
    return `${q} does not match nodeName ${nameList(a.nodeName)} for node ${input.node.name}`;
  }
  if (!matchesLabelSelector(a.nodeAffinity, input.node.labels)) {
    return `${q} does not match nodeAffinity ${formatLabelSelector(a.nodeAffinity)} for node ${input.node.name}`;
  }
  if (a.namespaceName !== undefined && !a.namespaceName.includes(nsName)) {
    return `${q} does not match namespaceName ${nameList(a.namespaceName)} for namespace ${nsName}`;
  }
  if (!isEmptySelector(a.namespaceAffinity)) {
    if (input.namespace === undefined) {
      return `${q} has namespaceAffinity ${formatLabelSelector(a.namespaceAffinity)} but namespace ${nsName} could not be read`;
    }
    if (!matchesLabelSelector(a.namespaceAffinity, input.namespace.labels)) {
      return `${q} does not match namespaceAffinity ${formatLabelSelector(a.namespaceAffinity)} for namespace ${nsName}`;
    }
  }
  if (!matchesLabelSelector(a.podAffinity, input.pod.labels)) {
    return `${q} does not match podAffinity ${formatLabelSelector(a.podAffinity)} for ${ctx.pod}`;
  }
  if (a.multusName !== undefined && (input.multusName === undefined || !a.multusName.includes(input.multusName))) {
    const network = input.multusName === undefined ? 'this call, which names no network' : `network ${input.multusName}`;
    return `${q} does not match multusName ${nameList(a.multusName)} for ${network}`;
  }
  return undefined;
}

/** Expands globs, checks names and families, filters, and fails with every reason when nothing is left. */
function planCandidates(ctx: Context, list: PoolList, perInterface: boolean): Pool[] {
  const detailsAt = (path: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    pod: ctx.podRef,
    ...list.origin,
    ...(path === '' ? {} : { field: path }),
    ...extra,
  });
  const seen = new Set<string>();
  const ordered: Pool[] = [];
  const unusable: Unusable[] = [];
  list.names.forEach((name, i) => {
    const path = `${list.field}[${i}]`;
    if (isGlob(name)) {
      const matched = ctx.sortedNames.filter((n) => matchesGlob(name, n));
      if (matched.length === 0) unusable.push({ pool: name, reason: `${JSON.stringify(name)} matches no pool` });
      for (const n of matched) {
        if (seen.has(n)) continue;
        seen.add(n);
        ordered.push(ctx.byName.get(n) as Pool);
      }
      return;
    }
    const pool = ctx.byName.get(name);
    if (pool === undefined) {
      throw new TidepoolError('POOL_NOT_FOUND', `${ctx.pod}: ${list.locate(path)}: pool ${JSON.stringify(name)} does not exist`, detailsAt(path, { pool: name }));
    }
    // Naming a pool under the wrong family is a typo to fix, unlike a glob that happens to cover both families.
    if (pool.family !== list.family) {
      throw new TidepoolError(
        'POOL_FAMILY_MISMATCH',
        `${ctx.pod}: ${list.locate(path)}: pool ${JSON.stringify(name)} is ${familyName(pool.family)}, not ${familyName(list.family)}`,
        detailsAt(path, { pool: name }),
      );
    }
    if (seen.has(name)) return;
    seen.add(name);
    ordered.push(pool);
  });

  const usable: Pool[] = [];
  for (const pool of ordered) {
    const reason = whyUnusable(ctx, pool, list.family);
    if (reason === undefined) usable.push(pool);
    else unusable.push({ pool: pool.name, reason });
  }
  if (usable.length > 0) return usable;
  const forIf = perInterface ? ` for interface ${list.ifname}` : '';
  throw new TidepoolError(
    'NO_POOL',
    `${ctx.pod}: no usable ${familyName(list.family)} pool${forIf} from ${list.source}: ${unusable.map((u) => u.reason).join('; ')}`,
    detailsAt(list.field, { interface: list.ifname, family: list.family, unusable }),
  );
}

const ROUTE_FIELDS = ['dst', 'gw'] as const;

/** Rejects a route annotation's shape problems; binding to interfaces needs the candidates (bindRoutes). */
function parseRoutesAnnotation(ctx: Context): { reader: AnnotationReader; routes: Array<{ dst: string; gw: string; family: Family; gwValue: bigint; path: string }> } | undefined {
  const found = pickAnnotation(ctx.input.pod.annotations, POD_ROUTES_ANNOTATIONS);
  if (found === undefined) return undefined;
  const r: AnnotationReader = new AnnotationReader(ctx.podRef, `annotation ${found.key}`, found.key, found.text);
  const value = r.value;
  if (!Array.isArray(value)) r.fail('', `must be a JSON list of {"dst", "gw"} objects, got ${describeValue(value)}`);
  const routes = value.map((entry: unknown, i) => {
    const at = `[${i}]`;
    if (!isRecord(entry)) r.fail(at, `must be an object with dst and gw, got ${describeValue(entry)}`);
    r.rejectUnknownFields(entry, at, ROUTE_FIELDS);
    const dstText = field(entry, 'dst');
    if (dstText === undefined) r.fail(`${at}.dst`, 'is required');
    if (typeof dstText !== 'string') r.fail(`${at}.dst`, `must be a CIDR string, got ${describeValue(dstText)}`);
    const dst = parseCidrLoose(dstText);
    if (dst === undefined) r.fail(`${at}.dst`, `${JSON.stringify(dstText)} is not a CIDR (an IP address and a prefix length that fits it)`);
    const gwText = field(entry, 'gw');
    if (gwText === undefined) r.fail(`${at}.gw`, 'is required');
    if (typeof gwText !== 'string') r.fail(`${at}.gw`, `must be an IP address string, got ${describeValue(gwText)}`);
    const gw = parseAddress(gwText);
    if (gw === undefined) r.fail(`${at}.gw`, `${JSON.stringify(gwText)} is not an IP address`);
    if (gw.family !== dst.address.family) r.fail(`${at}.gw`, `${JSON.stringify(gwText)} is ${familyName(gw.family)} but dst ${JSON.stringify(dstText)} is ${familyName(dst.address.family)}`);
    // The kernel takes destinations without host bits, as the pool's own routes are stored.
    const bits = BigInt(addressBits(gw.family) - dst.prefix);
    const network = (dst.address.value >> bits) << bits;
    return { dst: formatCidr({ family: gw.family, network, prefix: dst.prefix }), gw: formatAddress(gw), family: gw.family, gwValue: gw.value, path: at };
  });
  return { reader: r, routes };
}

/** Each route goes to the interface one of whose candidate pools' subnet holds its gateway; a gateway on no interface is refused. */
function bindRoutes(parsed: NonNullable<ReturnType<typeof parseRoutesAnnotation>>, interfaces: readonly InterfacePools[]): PodRoute[] {
  return parsed.routes.map((route) => {
    const holder = interfaces.find((i) => (route.family === 4 ? i.ipv4 : i.ipv6).some((p) => cidrContains(p.subnet, { family: route.family, value: route.gwValue })));
    if (holder === undefined) {
      const subnets = interfaces
        .map((i) => {
          const nets = [...new Set((route.family === 4 ? i.ipv4 : i.ipv6).map((p) => formatCidr(p.subnet)))];
          return `${i.ifname}: ${nets.length > 0 ? nets.join(', ') : `no ${familyName(route.family)} pool`}`;
        })
        .join('; ');
      const which = interfaces.length === 1 ? `interface ${interfaces[0]?.ifname}` : "the pod's interfaces";
      parsed.reader.fail(`${route.path}.gw`, `${JSON.stringify(route.gw)} is outside every subnet of ${which} (${subnets})`);
    }
    return { ifname: holder.ifname, dst: route.dst, gw: route.gw };
  });
}

/** The default-route interface the pod names, or eth0. */
function defaultRouteInterface(ctx: Context): string {
  const found = pickAnnotation(ctx.input.pod.annotations, POD_DEFAULT_ROUTE_NIC_ANNOTATIONS);
  if (found === undefined) return DEFAULT_ROUTE_INTERFACE;
  // A bare name, as Spiderpool writes it; a JSON string is accepted too.
  let name = found.text.trim();
  if (name.startsWith('"')) {
    try {
      name = JSON.parse(name) as string;
    } catch {
      /* judged as written below */
    }
  }
  if (typeof name !== 'string' || !isInterfaceName(name)) {
    throw new TidepoolError('INVALID_ANNOTATION', `pod ${ctx.podRef}: annotation ${found.key} ${JSON.stringify(found.text)} is not a valid interface name`, { pod: ctx.podRef, annotation: found.key });
  }
  return name;
}

/**
 * Decides which pools serve this CNI ADD. Rules, first match wins: pod
 * annotation `ipam.tidepool.dev/ippools` (every interface of the pod), pod
 * annotation `ipam.tidepool.dev/ippool` (this interface), namespace annotations
 * `ipam.tidepool.dev/default-ipv4-ippool` / `-ipv6-`, netconf
 * `ipam.ipv4Pools` / `ipam.ipv6Pools`, then pools with `spec.default`.
 * Spiderpool's `ipam.spidernet.io/...` keys are accepted as aliases; when
 * both spellings are present the tidepool key wins. Names may be globs (`*`,
 * `?`), which expand to matching pools in name order; explicit names must
 * exist and be of the listed family. Candidates keep the order written and
 * drop pools that are disabled, being deleted, of the other family (globs
 * only) or whose node, namespace, pod or multusName affinity does not hold.
 *
 * Throws TidepoolError: INVALID_ANNOTATION for a malformed annotation,
 * POOL_NOT_FOUND, POOL_FAMILY_MISMATCH, and NO_POOL when nothing asks for a
 * pool or a requested family has no usable pool left (the message gives each
 * dropped pool's reason). Messages start with `pod <namespace>/<name>: ` and
 * details carry `pod`, and `annotation`, `namespace`, `field` where known.
 */
export function planPoolSelection(input: SelectionInput): SelectionPlan {
  const byName = new Map(input.pools.map((p) => [p.name, p] as const));
  const podRef = `${input.pod.namespace}/${input.pod.name}`;
  const ctx: Context = {
    input,
    podRef,
    pod: `pod ${podRef}`,
    byName,
    sortedNames: [...byName.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
  };
  const decision =
    decideFromIppools(ctx) ?? decideFromIppool(ctx) ?? decideFromNamespace(ctx) ?? decideFromNetconf(ctx) ?? decideFromDefaults(ctx);
  if (decision === undefined) {
    throw new TidepoolError(
      'NO_POOL',
      `${ctx.pod}: no pool requested for interface ${input.ifname}: no pod or namespace annotation names one, the netconf has no ipam.ipv4Pools or ipam.ipv6Pools, and no pool has spec.default`,
      { pod: podRef, interface: input.ifname },
    );
  }
  // Read before anything is chosen, so a malformed annotation fails the ADD however the pools turn out.
  const routesAnnotation = parseRoutesAnnotation(ctx);
  const defaultNic = defaultRouteInterface(ctx);
  const interfaces = decision.ifnames.map((ifname): InterfacePools => {
    const clean = decision.cleanGateway?.get(ifname);
    return clean === undefined ? { ifname, ipv4: [], ipv6: [] } : { ifname, ipv4: [], ipv6: [], cleanGateway: clean };
  });
  for (const list of decision.lists) {
    const slot = interfaces.find((i) => i.ifname === list.ifname) as InterfacePools;
    const pools = planCandidates(ctx, list, decision.perInterface);
    if (list.family === 4) slot.ipv4 = pools;
    else slot.ipv6 = pools;
  }
  return {
    source: decision.source,
    ...(decision.annotation === undefined ? {} : { annotation: decision.annotation }),
    interfaces,
    routes: routesAnnotation === undefined ? [] : bindRoutes(routesAnnotation, interfaces),
    defaultRouteInterface: defaultNic,
  };
}
