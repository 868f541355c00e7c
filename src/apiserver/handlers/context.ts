// What a kind's handler gets from the router: the request, what it targets,
// who sent it, the store and watch cache, and the admission stage to call at the points the
// real server calls it.
import type { AdmissionAttributes } from '../admission.ts';
import type { Awaitable } from '../awaitable.ts';
import type { UserInfo } from '../authentication.ts';
import type { ApiRequest, ApiResult } from '../request.ts';
import type { RequestInfo } from '../request-info.ts';
import type { KindState, Store } from '../store.ts';
import type { WatchCache } from '../watch-cache.ts';

/** The object or collection a resource request is about. `namespace` is unset for cluster-scoped kinds. */
export interface Target {
  readonly kind: KindState;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

export interface HandlerContext {
  readonly req: ApiRequest;
  readonly info: RequestInfo;
  readonly target: Target;
  readonly user: UserInfo;
  readonly store: Store;
  readonly watchCache: WatchCache;
  /** Admission for this request; the handler supplies what is admitted, the router who asks. */
  admit(a: Omit<AdmissionAttributes, 'user'>): Awaitable<void>;
  /** A create or update body (or patched document) as the decoder keeps it: typed, unknown fields per fieldValidation. */
  decode(body: unknown): unknown;
}

/** Serves one verb on a kind (or on one of its subresources). */
export type Handler = (ctx: HandlerContext) => Awaitable<ApiResult>;
