// How the controllers running in the server reach it: through the same
// router as any client (so admission, preconditions and the lifecycle rules
// apply to them as to kube-controller-manager), as their own service
// accounts, in process. Their requests are not counted or faulted by the
// test server's filters: those model what tidepool's clients see.
import type { UserInfo } from '../authentication.ts';
import { isPromise } from '../awaitable.ts';
import type { KubeObject } from '../kinds.ts';
import type { ApiRequest, ApiResponse } from '../request.ts';
import type { Router } from '../router.ts';
import { ApiError, type StatusObject } from '../status.ts';

const CONTROLLER_GROUP = 'system:serviceaccounts:kube-system';

/** The service accounts of the controllers the server runs (controllers/run.ts). */
export const CONTROLLER_NAMES = ['generic-garbage-collector', 'namespace-controller', 'pod-garbage-collector'] as const;

/**
 * A kube-controller-manager service account. It is also in system:masters: the
 * server does not model the controllers' own RBAC roles, and they must never be
 * refused by whichever authorizer a test plugs in.
 */
export function controllerUser(name: (typeof CONTROLLER_NAMES)[number]): UserInfo {
  return { username: `system:serviceaccount:kube-system:${name}`, groups: ['system:serviceaccounts', CONTROLLER_GROUP, 'system:masters', 'system:authenticated'] };
}

/**
 * Whether a request comes from one of the server's own controllers: by the
 * controllers' names, since other clients (tidepool's own agent and controller)
 * run as kube-system service accounts too.
 */
export function isControllerUser(user: UserInfo | undefined): boolean {
  return user !== undefined && CONTROLLER_NAMES.some((name) => user.username === controllerUser(name).username);
}

export interface ControllerClient {
  /** The object, or undefined when it does not exist. */
  get(path: string): Promise<KubeObject | undefined>;
  list(path: string, query?: Record<string, string>): Promise<KubeObject[]>;
  update(path: string, body: unknown): Promise<KubeObject>;
  patch(path: string, body: unknown, type?: 'merge' | 'json'): Promise<KubeObject>;
  /** Deletes; a missing object is not an error (undefined). */
  delete(path: string, options?: Record<string, unknown>): Promise<unknown>;
  deleteCollection(path: string, options: Record<string, unknown>): Promise<void>;
}

/** kube-controller-manager's user agent, so its writes are recorded in managedFields under its manager, as on a real cluster. */
const USER_AGENT = 'kube-controller-manager/v1.31.0 (linux/amd64) kubernetes/0000000';

export function controllerClient(router: Router, user: UserInfo): ControllerClient {
  async function call(method: string, path: string, body?: unknown, contentType = 'application/json', query: Record<string, string> = {}): Promise<unknown> {
    const req: { -readonly [K in keyof ApiRequest]: ApiRequest[K] } = { method, path, query: new URLSearchParams(query), contentType: body === undefined ? '' : contentType, user, userAgent: USER_AGENT };
    if (body !== undefined) req.body = { value: body };
    const handled = router.handle(req);
    const result = isPromise(handled) ? await handled : handled;
    if (result.kind !== 'response') throw new Error(`${method} ${path}: no answer`);
    const r = result as ApiResponse;
    if (r.status >= 200 && r.status < 300) return structuredClone(r.body);
    throw new ApiError(r.body as StatusObject);
  }
  const notFoundAsUndefined = (e: unknown): undefined => {
    if (e instanceof ApiError && e.status.code === 404) return undefined;
    throw e;
  };
  return {
    get: (path) => (call('GET', path) as Promise<KubeObject>).catch(notFoundAsUndefined),
    list: async (path, query) => ((await call('GET', path, undefined, undefined, query)) as { items: KubeObject[] }).items,
    update: (path, body) => call('PUT', path, body) as Promise<KubeObject>,
    patch: (path, body, type = 'merge') => call('PATCH', path, body, type === 'merge' ? 'application/merge-patch+json' : 'application/json-patch+json') as Promise<KubeObject>,
    delete: (path, options) => call('DELETE', path, options === undefined ? undefined : { kind: 'DeleteOptions', apiVersion: 'v1', ...options }).catch(notFoundAsUndefined),
    deleteCollection: async (path, options) => void (await call('DELETE', path, { kind: 'DeleteOptions', apiVersion: 'v1', ...options })),
  };
}
