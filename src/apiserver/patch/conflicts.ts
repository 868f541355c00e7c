// The 409 an apply gets when it would take fields from other managers, with
// the real server's message and causes (managedfields/internal/conflict.go):
//   Apply failed with 1 conflict: conflict with "tidepool-controller" using tidepool.dev/v1alpha1: .spec.disable
// or, for several, one `conflicts with <manager>:` line per manager (sorted)
// followed by `- <path>` lines.
import { failure, type ApiError } from '../status.ts';
import { pathString } from './fieldset.ts';
import { entryInfo } from './managed-fields.ts';
import type { Conflict } from './updater.ts';

/** `"kubectl"`, `"x" with subresource "status"`, `"tidepool-controller" using tidepool.dev/v1alpha1`. */
export function printManager(id: string): string {
  const info = entryInfo(id);
  let out = JSON.stringify(info.manager);
  if (info.subresource) out += ` with subresource ${JSON.stringify(info.subresource)}`;
  if (info.operation === 'Update') out += ` using ${info.apiVersion ?? ''}`;
  return out;
}

export function applyConflictError(conflicts: readonly Conflict[]): ApiError {
  const sorted = [...conflicts].sort((a, b) => (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0));
  const causes = sorted.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${printManager(c.manager)}`, field: pathString(c.path) }));
  return failure(409, 'Conflict', conflictMessage(sorted), { causes });
}

function conflictMessage(conflicts: readonly Conflict[]): string {
  if (conflicts.length === 1) {
    const [c] = conflicts as [Conflict];
    return `Apply failed with 1 conflict: conflict with ${printManager(c.manager)}: ${pathString(c.path)}`;
  }
  const lines: string[] = [];
  let manager: string | undefined;
  for (const c of conflicts) {
    if (c.manager !== manager) lines.push(`conflicts with ${printManager((manager = c.manager))}:`);
    lines.push(`- ${pathString(c.path)}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}
