// Installing CustomResourceDefinitions as a user would: each manifest is
// POSTed through the router, so it is validated, stored and established
// exactly as `kubectl apply -f` would have it, and the kinds it defines are
// served when this returns. Hosts (the test server, the simulator, the
// kube-apiserver command) install tidepool's CRDs this way.
import { parseAllDocuments } from 'yaml';
import { isPromise } from '../awaitable.ts';
import type { UserInfo } from '../authentication.ts';
import type { ApiResponse } from '../request.ts';
import type { Router } from '../router.ts';
import type { StatusObject } from '../status.ts';
import { CRD_GROUP, CRD_PLURAL } from './crd-kind.ts';

/** The objects of a multi-document YAML text, empty documents skipped. */
export function yamlObjects(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
}

/** Creates each CRD through `router` as `user`; throws with the server's message when one is refused. */
export function installCrds(router: Router, manifests: readonly unknown[], user: UserInfo): void {
  for (const crd of manifests) {
    const result = router.handle({
      method: 'POST',
      path: `/apis/${CRD_GROUP}/v1/${CRD_PLURAL}`,
      query: new URLSearchParams({ fieldValidation: 'Strict' }),
      contentType: 'application/json',
      body: { value: crd },
      user,
    });
    if (isPromise(result)) throw new Error('installing CRDs must not wait: nothing asynchronous may be plugged in at start');
    const r = result as ApiResponse;
    if (r.status !== 201) throw new Error(`CustomResourceDefinition refused (${r.status}): ${(r.body as StatusObject).message ?? ''}`);
  }
}
