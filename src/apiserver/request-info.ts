// What a request asks for, read from its method, path and query alone, as
// the real server's RequestInfoFactory reads it: whether it is a resource
// request, its verb, API group and version, namespace, resource, name and
// subresource. Authorization, filters and the router all decide from this.
import { queryBool } from './params.ts';

/** The request verbs, in Kubernetes audit and RBAC terms. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestInfo {
  readonly path: string;
  readonly isResourceRequest: boolean;
  /** For resource requests, undefined when the method is not one the API serves; for others, the lower-case method. */
  readonly verb: Verb | string | undefined;
  readonly apiGroup: string;
  readonly apiVersion: string;
  /** Set for `/namespaces/{ns}/...` paths, including a namespace object's own path. */
  readonly namespace: string | undefined;
  readonly resource: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  /** Path segments from the resource on (resource, name, subresource, anything beyond). */
  readonly parts: readonly string[];
}

/** Subresources of a namespace object, which `/namespaces/{ns}/{x}` means instead of a resource x in it. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);


function resourceVerb(method: string, named: boolean, watch: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
      return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

function nonResource(path: string, method: string): RequestInfo {
  return { path, isResourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: undefined, resource: '', name: undefined, subresource: undefined, parts: [] };
}

/** Reads a request's RequestInfo; segments are percent-decoded. */
export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const segs = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) [group, version, rest] = ['', segs[1]!, segs.slice(2)];
  else if (segs[0] === 'apis' && segs.length >= 4) [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)];
  else return nonResource(path, method);
  // The legacy /watch/ prefix.
  const watchPrefix = rest[0] === 'watch';
  if (watchPrefix) rest = rest.slice(1);
  if (rest.length === 0) return nonResource(path, method);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  const name = rest[1];
  return {
    path,
    isResourceRequest: true,
    verb: resourceVerb(method, name !== undefined, watchPrefix || (method === 'GET' && queryBool(query, 'watch') === true)),
    apiGroup: group,
    apiVersion: version,
    namespace,
    resource: rest[0]!,
    name,
    subresource: rest[2],
    parts: rest,
  };
}

/** `pods` or `pods/status`: how stats, faults and RBAC name what a request touches. */
export function resourceKey(info: RequestInfo): string {
  return info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
}
