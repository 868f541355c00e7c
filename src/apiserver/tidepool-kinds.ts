// tidepool's custom resources as users install them: the
// CustomResourceDefinitions of deploy/tidepool/crds/ (carried as text by
// tidepool-crds.generated.ts, which a test holds equal to the files), created
// through the server like `kubectl apply -f deploy/tidepool/crds/` would.
// So the schemas tidepool is tested against are the ones a cluster enforces.
import type { UserInfo } from './authentication.ts';
import { installCrds, yamlObjects } from './crd/install.ts';
import type { Router } from './router.ts';
import { TIDEPOOL_CRD_FILES } from './tidepool-crds.generated.ts';

/** The CustomResourceDefinitions of deploy/tidepool/crds/ (IPPool, IPAllocation, ReservedIP), as objects. */
export function tidepoolCrds(): Record<string, unknown>[] {
  return TIDEPOOL_CRD_FILES.flatMap((f) => yamlObjects(f.text));
}

/** Creates tidepool's CRDs through `router`; its kinds are served when this returns. */
export function installTidepoolCrds(router: Router, user: UserInfo): void {
  installCrds(router, tidepoolCrds(), user);
}
