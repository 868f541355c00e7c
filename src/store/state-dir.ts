import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { TidepoolError } from '../ipam/errors.ts';

/** What prepareStateDir found and did, for the caller to log. */
export type StateDirOutcome = 'created' | 'kept' | 'narrowed';

/**
 * Makes sure the directory of the state file `file` is the agent's alone:
 * owned by this process's user and closed to everyone else (0700), so no
 * other user can read the records, create the database's companion files
 * before the agent does, or lock them.
 *
 * - A missing directory is created 0700.
 * - One owned by another user, or writable by group or others, is refused
 *   with INVALID_CONFIG naming it: someone else can plant files there.
 * - One that is merely readable by others (0755, as older builds created
 *   it) is narrowed to 0700 when it holds nothing but this state file and
 *   its companions, and refused otherwise: a shared directory is not ours
 *   to change.
 */
export function prepareStateDir(file: string, uid: number = process.geteuid?.() ?? 0): StateDirOutcome {
  const dir = dirname(file);
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    return 'created';
  }
  const mode = st.mode & 0o777;
  const refuse = (why: string, fix: string): never => {
    throw new TidepoolError('INVALID_CONFIG', `--state ${file}: directory ${dir} ${why}; ${fix}`, { field: '--state', dir, mode: mode.toString(8) });
  };
  if (!st.isDirectory()) refuse('is not a directory', 'choose a path in a directory of its own');
  if (st.uid !== uid) refuse(`is owned by uid ${st.uid}, not by the agent's uid ${uid}`, `give the agent a directory of its own (chown ${uid} ${dir}, or choose another --state)`);
  if ((mode & 0o022) !== 0) refuse(`is writable by other users (mode ${mode.toString(8).padStart(4, '0')})`, `give the agent a directory of its own, mode 0700`);
  if ((mode & 0o077) === 0) return 'kept';
  const ours = new RegExp(`^${escape(basename(file))}(-wal|-shm|-journal)?$`);
  const strangers = readdirSync(dir).filter((name) => !ours.test(name));
  if (strangers.length > 0) {
    refuse(
      `is readable by other users (mode ${mode.toString(8).padStart(4, '0')}) and holds other files (${strangers.slice(0, 3).join(', ')}${strangers.length > 3 ? ', …' : ''})`,
      'give the agent a directory of its own, mode 0700',
    );
  }
  chmodSync(dir, 0o700);
  return 'narrowed';
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
