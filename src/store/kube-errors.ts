import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { KubeApiError } from '../k8s/rest.ts';

/**
 * What a failed API request means to the agent operation that made it, as a
 * documented code with its retry policy (docs/errors.md):
 *
 * - STORE_BUSY (retry later): the connection broke or was refused (status 0),
 *   the request timed out, or the server answered 408, 409 (someone kept writing
 *   first), 410, 429 (API priority and fairness) or 5xx. The same request can
 *   succeed unchanged, and kubelet retries the sandbox.
 * - STORE_REFUSED (after a fix): 401 (credentials still refused after a
 *   refresh), 403 (RBAC), 404 (the CRDs are not installed), 400, 422 and other
 *   4xx (CRDs older than tidepool). Retrying changes nothing until an operator
 *   acts; the message carries the server's own words.
 *
 * Anything that is not an API answer is a bug in tidepool (INTERNAL).
 */
export function storeError(err: unknown, op: string): TidepoolError {
  if (err instanceof TidepoolError) return err;
  if (!(err instanceof KubeApiError)) return toTidepoolError(err);
  const transient = err.status === 0 || err.status === 408 || err.status === 409 || err.status === 410 || err.status === 429 || err.status >= 500;
  return new TidepoolError(transient ? 'STORE_BUSY' : 'STORE_REFUSED', `kubernetes ${op}: ${err.message}`, { status: err.status, reason: err.reason });
}
