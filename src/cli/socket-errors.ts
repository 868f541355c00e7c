import { statSync } from 'node:fs';
import { TidepoolError } from '../ipam/errors.ts';

/**
 * What the CLI says when it cannot connect to the agent's socket. The agent
 * makes its socket mode 0600, so a user other than its owner (root) gets
 * EACCES: that is a permission problem, not a stopped agent, and the message
 * says so. Everything else (no socket, nothing listening) asks whether the
 * agent runs.
 */
export function socketError(socket: string, err: NodeJS.ErrnoException): TidepoolError {
  const errno = err.code ?? err.message;
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new TidepoolError('AGENT_UNREACHABLE', `permission denied on the agent socket ${socket}: ${describeOwner(socket)}; run tidepool as root (sudo tidepool ...)`, { socket, errno });
  }
  return new TidepoolError('AGENT_UNREACHABLE', `cannot reach the tidepool agent at ${socket}: ${errno} (is "tidepool daemon" running? --socket or TIDEPOOL_SOCKET pick another path)`, { socket, errno });
}

/** `it is root's (mode 0600): only its owner may use it`, from the socket itself when this user may look at it. */
function describeOwner(socket: string): string {
  let st;
  try {
    st = statSync(socket);
  } catch {
    return "its directory is closed to this user (the agent's socket is root's, mode 0600)";
  }
  const owner = st.uid === 0 ? "root's" : `owned by uid ${st.uid}`;
  return `it is ${owner} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): only its owner may use it`;
}

/** Whether an error of `socketError` means the user may not use the socket, rather than that no agent answers. */
export function isPermissionDenied(err: TidepoolError): boolean {
  return err.details?.['errno'] === 'EACCES' || err.details?.['errno'] === 'EPERM';
}
