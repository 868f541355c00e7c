import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * What tidepool's requests to the Kubernetes API server report. rest.ts
 * depends on this interface, not on prom-client; the composition roots
 * bind it to their registry.
 */
export interface KubeApiMetrics {
  /**
   * One request answered or failed. `code` is the HTTP status, or `none`
   * when no answer came (connection failed, timed out). `seconds` is
   * undefined for watches, whose length says nothing about the server.
   */
  request(verb: string, resource: string, code: string, seconds: number | undefined): void;
}

/** Kubernetes' verb for a request, as the API server names it in RBAC and audit logs. */
export function kubeVerb(method: string, path: string): string {
  const named = describePath(path).name !== undefined;
  switch (method) {
    case 'GET':
      return named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    case 'WATCH':
      return 'watch';
    default:
      return method.toLowerCase();
  }
}

/**
 * The resource of an API path (`pods`, `ippools/status`; `discovery` for a
 * group's or version's root), so labels stay few: names and namespaces are
 * left out.
 */
export function kubeResource(path: string): string {
  const { resource, subresource } = describePath(path);
  if (resource === undefined) return 'discovery';
  return subresource === undefined ? resource : `${resource}/${subresource}`;
}

/** `/api/v1/...` or `/apis/GROUP/VERSION/...`, then `namespaces/NS/` for namespaced objects. */
function describePath(path: string): { resource?: string; name?: string; subresource?: string } {
  const parts = path.split('?')[0]!.split('/').filter((p) => p !== '');
  const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : parts;
  // A namespace's own objects sit below it; `namespaces/NS` alone is the namespace itself.
  const inNamespace = rest[0] === 'namespaces' && rest.length >= 3 ? rest.slice(2) : rest;
  const [resource, name, subresource] = inNamespace;
  return { resource, name, subresource };
}

/** Registers `tidepool_kube_api_requests_total` and `tidepool_kube_api_request_duration_seconds`. */
export function createKubeApiMetrics(registry: Registry): KubeApiMetrics {
  const requests = new Counter({
    name: 'tidepool_kube_api_requests_total',
    help: 'Requests to the Kubernetes API server, by verb, resource and HTTP status code (none: no answer came).',
    labelNames: ['verb', 'resource', 'code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'tidepool_kube_api_request_duration_seconds',
    help: 'Latency of requests to the Kubernetes API server (watches excluded), by verb and resource.',
    labelNames: ['verb', 'resource'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    request(verb, resource, code, seconds) {
      requests.inc({ verb, resource, code });
      if (seconds !== undefined) latency.observe({ verb, resource }, seconds);
    },
  };
}
