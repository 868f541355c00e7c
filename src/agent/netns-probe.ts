import { statSync, statfsSync } from 'node:fs';
import type { NetnsObservation } from '../ipam/netns-gc.ts';

/** statfs(2) type of the namespace filesystem, and of /proc for kernels before 3.19 that served namespace files from it. */
const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Looks at a namespace path. Identity is the nsfs `dev:ino`, which differs
 * for every namespace, so a path reused for a new namespace is told apart.
 * Errors other than "does not exist" (EACCES, ...) report the namespace as
 * present: the garbage collector must never reclaim on doubt. `isNamespace`
 * tells a namespace file from any other file the way the CNI reference
 * plugins do, by the filesystem it lives on (which kind of namespace is not
 * checked); it is left undefined when statfs fails.
 */
export function probeNetns(path: string): NetnsObservation {
  try {
    const st = statSync(path);
    return { exists: true, id: `${st.dev}:${st.ino}`, isNamespace: isNamespaceFile(path) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { exists: false } : { exists: true };
  }
}

function isNamespaceFile(path: string): boolean | undefined {
  try {
    const type = statfsSync(path).type;
    return type === NSFS_MAGIC || type === PROC_SUPER_MAGIC;
  } catch {
    return undefined;
  }
}
