import { statSync } from 'node:fs';
import type { NetnsObservation } from '../ipam/netns-gc.ts';

/**
 * Looks at a namespace path. Identity is the nsfs `dev:ino`, which differs
 * for every namespace, so a path reused for a new namespace is told apart.
 * Errors other than "does not exist" (EACCES, ...) report the namespace as
 * present: the garbage collector must never reclaim on doubt.
 */
export function probeNetns(path: string): NetnsObservation {
  try {
    const st = statSync(path);
    return { exists: true, id: `${st.dev}:${st.ino}` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { exists: false } : { exists: true };
  }
}
