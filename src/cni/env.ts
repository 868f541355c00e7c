/**
 * Reads the CNI_* environment the runtime sets for each invocation.
 */
import type { PodRef } from '../api/protocol.ts';
import { TidepoolError } from '../ipam/errors.ts';
import { VERBS, isVerb } from './versions.ts';
import type { Verb } from './versions.ts';

/** The process environment, or a test's stand-in for it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What ADD, DEL and CHECK share: a validated attachment and the pod from CNI_ARGS, when given. */
export interface AttachmentEnv {
  readonly containerId: string;
  readonly ifname: string;
  readonly cniPath: string;
  readonly pod: PodRef | undefined;
}

/**
 * The validated environment of one invocation. Each variant holds exactly the
 * variables its verb requires, so the caller needs no further checks.
 */
export type CniEnv =
  | { readonly command: 'VERSION' }
  | ({ readonly command: 'ADD' | 'CHECK'; readonly netns: string } & AttachmentEnv)
  | ({ readonly command: 'DEL'; readonly netns: string | undefined } & AttachmentEnv)
  | { readonly command: 'STATUS' | 'GC'; readonly cniPath: string };

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
// Linux IFNAMSIZ is 16 including the terminating NUL.
const IFNAME_MAX_BYTES = 15;

function badEnv(variable: string, message: string): TidepoolError {
  return new TidepoolError('BAD_ENVIRONMENT', message, { variable });
}

function required(env: Env, variable: string, verb: Verb): string {
  const value = env[variable];
  if (value === undefined || value === '') throw badEnv(variable, `${variable} is required for ${verb}`);
  return value;
}

/** Throws BAD_ENVIRONMENT when CNI_COMMAND is absent or not a CNI verb. */
export function parseCommand(env: Env): Verb {
  const command = env['CNI_COMMAND'];
  if (command === undefined || command === '') throw badEnv('CNI_COMMAND', 'CNI_COMMAND is required');
  if (!isVerb(command)) {
    throw badEnv('CNI_COMMAND', `CNI_COMMAND ${JSON.stringify(command)} is not one of ${VERBS.join(', ')}`);
  }
  return command;
}

/** Returns undefined when valid, else the reason; exported for the netconf's GC attachment list. */
export function explainContainerId(id: string): string | undefined {
  if (id === '') return 'must not be empty';
  if (!CONTAINER_ID.test(id)) return 'must start with a letter or digit and contain only letters, digits, "_", "." and "-"';
  return undefined;
}

/** Returns undefined when valid, else the reason; exported for the netconf's GC attachment list. */
export function explainIfname(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (Buffer.byteLength(name) > IFNAME_MAX_BYTES) return `must be at most ${IFNAME_MAX_BYTES} bytes`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/[/:\s]/.test(name)) return 'must not contain "/", ":" or whitespace';
  return undefined;
}

/**
 * Parses CNI_ARGS (`K=V;K=V`). Unknown keys are ignored whatever
 * IgnoreUnknown says: tidepool never fails on a key it does not use.
 * Throws BAD_ENVIRONMENT for an entry without `=` or with an empty key.
 */
export function parseCniArgs(raw: string | undefined): ReadonlyMap<string, string> {
  const args = new Map<string, string>();
  if (raw === undefined || raw === '') return args;
  for (const entry of raw.split(';')) {
    // Runtimes sometimes leave a trailing ';'.
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw badEnv('CNI_ARGS', `CNI_ARGS entry ${JSON.stringify(entry)} is not KEY=VALUE`);
    args.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return args;
}

/** The pod identity from CNI_ARGS; undefined unless both namespace and name are set. */
export function planPodRef(args: ReadonlyMap<string, string>): PodRef | undefined {
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  if (!namespace || !name) return undefined;
  const uid = args.get('K8S_POD_UID');
  return uid ? { namespace, name, uid } : { namespace, name };
}

/**
 * Validates the environment for `command` (see CniEnv). Throws
 * BAD_ENVIRONMENT naming the variable for anything missing or malformed.
 */
export function parseCniEnv(env: Env, command: Verb = parseCommand(env)): CniEnv {
  if (command === 'VERSION') return { command };
  const cniPath = required(env, 'CNI_PATH', command);
  if (command === 'STATUS' || command === 'GC') return { command, cniPath };

  const containerId = required(env, 'CNI_CONTAINERID', command);
  const idProblem = explainContainerId(containerId);
  if (idProblem) throw badEnv('CNI_CONTAINERID', `CNI_CONTAINERID ${JSON.stringify(containerId)} ${idProblem}`);
  const ifname = required(env, 'CNI_IFNAME', command);
  const ifProblem = explainIfname(ifname);
  if (ifProblem) throw badEnv('CNI_IFNAME', `CNI_IFNAME ${JSON.stringify(ifname)} ${ifProblem}`);
  const pod = planPodRef(parseCniArgs(env['CNI_ARGS']));

  const rawNetns = env['CNI_NETNS'];
  if (command === 'DEL') {
    // The runtime may have already removed the namespace; DEL must still release.
    const netns = rawNetns === '' ? undefined : rawNetns;
    return { command, containerId, ifname, cniPath, pod, netns };
  }
  const netns = required(env, 'CNI_NETNS', command);
  if (!netns.startsWith('/')) throw badEnv('CNI_NETNS', `CNI_NETNS ${JSON.stringify(netns)} must be an absolute path`);
  return { command, containerId, ifname, cniPath, pod, netns };
}
