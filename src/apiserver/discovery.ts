// The non-resource paths: discovery (/api, /apis and each group and
// version, listed from the kind registry), /version and the health checks.
import { openApiV2Document, openApiV3Document, openApiV3Root } from './crd/openapi.ts';
import { encodeOpenApiV2 } from './openapi-proto.ts';
import type { KindRegistry } from './registry.ts';
import { jsonResponse, type ApiResponse } from './request.ts';

const VERSION = { major: '1', minor: '31', gitVersion: 'v1.31.0-tidepool-fake', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2024-08-13T00:00:00Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64' };

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function resourceList(registry: KindRegistry, group: string, version: string): unknown | undefined {
  const kinds = registry.all().filter((k) => k.spec.group === group && k.spec.version === version);
  if (kinds.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const { spec } of kinds) {
    const entry: Record<string, unknown> = { name: spec.plural, singularName: spec.singular, namespaced: spec.namespaced, kind: spec.kind, verbs: spec.verbs ?? VERBS };
    if (spec.shortNames.length) entry['shortNames'] = spec.shortNames;
    if (spec.categories?.length) entry['categories'] = spec.categories;
    resources.push(entry);
    for (const sub of spec.subresources) {
      const subVerbs = sub === 'binding' ? ['create'] : sub === 'finalize' ? ['update'] : ['get', 'patch', 'update'];
      const subKind = sub === 'binding' ? 'Binding' : spec.kind;
      resources.push({ name: `${spec.plural}/${sub}`, singularName: '', namespaced: spec.namespaced, kind: subKind, verbs: subVerbs });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

function apiGroup(registry: KindRegistry, group: string): Record<string, unknown> | undefined {
  const versions = [...new Set(registry.all().filter((k) => k.spec.group === group).map((k) => k.spec.version))];
  if (versions.length === 0) return undefined;
  const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

const HEALTH = new Set(['healthz', 'readyz', 'livez']);

// kubectl asks with the older name (its `@` is no valid media type character); the answer carries the newer.
const PROTOBUF_V2_ACCEPTED = ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'];
const PROTOBUF_V2 = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

/** /openapi/v2 in the encoding asked for first: protobuf (what kubectl asks for) or JSON. */
function openApiV2(registry: KindRegistry, accept: string | undefined): ApiResponse {
  const doc = openApiV2Document(registry);
  const first = (accept ?? '').split(',').map((t) => t.split(';')[0]!.trim()).find((t) => PROTOBUF_V2_ACCEPTED.includes(t) || t === 'application/json' || t === '*/*');
  if (first !== undefined && PROTOBUF_V2_ACCEPTED.includes(first)) {
    return { kind: 'response', status: 200, headers: { 'content-type': PROTOBUF_V2 }, body: encodeOpenApiV2(doc) };
  }
  return jsonResponse(200, doc);
}

/** Answers a GET of a non-resource path, or undefined when there is nothing there (404). `address` is the server's host:port. */
export function discovery(registry: KindRegistry, path: string, address: string, accept?: string): ApiResponse | undefined {
  const segs = path.split('/').filter((s) => s !== '');
  const joined = segs.join('/');
  if (joined === 'openapi/v2') return openApiV2(registry, accept);
  if (joined === 'openapi/v3') return jsonResponse(200, openApiV3Root(registry));
  if (segs[0] === 'openapi' && segs[1] === 'v3' && segs[2] === 'apis' && segs.length === 5) {
    const doc = openApiV3Document(registry, `${segs[3]}/${segs[4]}`);
    return doc && jsonResponse(200, doc);
  }
  if (HEALTH.has(joined)) return { kind: 'response', status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok' };
  if (joined === 'version') return jsonResponse(200, VERSION);
  if (joined === 'api') return jsonResponse(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] });
  if (joined === 'api/v1') return jsonResponse(200, resourceList(registry, '', 'v1'));
  if (joined === 'apis') {
    const groups = [...new Set(registry.all().map((k) => k.spec.group).filter((g) => g !== ''))].sort();
    return jsonResponse(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map((g) => apiGroup(registry, g)) });
  }
  if (segs[0] === 'apis' && segs.length === 2) {
    const g = apiGroup(registry, segs[1]!);
    return g && jsonResponse(200, { kind: 'APIGroup', apiVersion: 'v1', ...g });
  }
  if (segs[0] === 'apis' && segs.length === 3) {
    const list = resourceList(registry, segs[1]!, segs[2]!);
    return list === undefined ? undefined : jsonResponse(200, list);
  }
  return undefined;
}
