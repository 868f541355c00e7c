import { isConflict, isNotFound, type KubeObject, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';
import { planLeaseAction, planLeaseRelease, type LeaderElectionConfig, type LeaseSpec } from './lease-plan.ts';

interface LeaseObject extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  readonly rest: KubeRest;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly config: LeaderElectionConfig;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Called when this replica becomes leader. `signal` aborts the moment
   * leadership is lost or the elector stops; leader-only work must stop then.
   */
  readonly onStartedLeading: (signal: AbortSignal) => void;
  /** Called once after each leadership term ends, after `signal` aborted. */
  readonly onStoppedLeading: () => void;
}

/** One replica's side of leader election over a coordination.k8s.io/v1 Lease. */
export interface LeaderElector {
  /** Starts the acquire/renew loop in the background. */
  start(): void;
  readonly isLeader: boolean;
  /** The holder seen at the last read ('' for none), for logs and tests. */
  readonly observedHolder: string | undefined;
  /**
   * Stops the loop and leader-only work. With `release` (the default) a held
   * lease is handed back (holderIdentity emptied) so a standby takes over at
   * its next retry; without it the lease simply expires, as after a crash.
   */
  stop(opts?: { release?: boolean }): Promise<void>;
}

/** `at`: the time written as renewTime when the lease is held. */
type Attempt = { readonly result: 'held'; readonly at: number } | { readonly result: 'lost' | 'failed' };

const MAX_CONFLICT_RETRIES = 2;

export function createLeaderElector(opts: LeaderElectorOptions): LeaderElector {
  const { rest, identity, config, clock, log } = opts;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.name}`;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases`;
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;
  let term: AbortController | undefined;
  let cancelDeadline: (() => void) | undefined;
  let observedHolder: string | undefined;
  let lastWritten: LeaseObject | undefined;

  async function read(): Promise<LeaseObject | undefined> {
    try {
      return await rest.get<LeaseObject>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** One acquire-or-renew; a 409 means another replica wrote first, so the lease is read again and re-decided. */
  async function attempt(): Promise<Attempt> {
    for (let i = 0; i <= MAX_CONFLICT_RETRIES; i++) {
      const current = await read();
      observedHolder = current?.spec?.holderIdentity ?? (current ? '' : undefined);
      const at = clock.now();
      const action = planLeaseAction(current?.spec, at, identity, config);
      if (action.kind === 'wait') return { result: 'lost' };
      try {
        if (action.kind === 'create') {
          lastWritten = await rest.create<LeaseObject>(collection, {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: opts.name, namespace: opts.namespace },
            spec: action.spec,
          });
        } else {
          // resourceVersion makes the write conditional: of two replicas that read the same expired lease, one gets 409.
          lastWritten = await rest.replace<LeaseObject>(path, { ...current, spec: action.spec });
          if (action.kind === 'acquire') log.info('acquired the leader lease', { lease: opts.name, previousHolder: action.previousHolder || undefined });
        }
        observedHolder = identity;
        return { result: 'held', at };
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    return { result: 'lost' };
  }

  function startTerm(): void {
    term = new AbortController();
    log.info('started leading', { lease: opts.name, identity });
    try {
      opts.onStartedLeading(term.signal);
    } catch (err) {
      log.error('starting leader-only work failed', { err });
    }
  }

  function endTerm(why: string): void {
    cancelDeadline?.();
    cancelDeadline = undefined;
    if (!term) return;
    const ending = term;
    term = undefined;
    ending.abort();
    log.warn('stopped leading', { lease: opts.name, identity, why });
    try {
      opts.onStoppedLeading();
    } catch (err) {
      log.error('stopping leader-only work failed', { err });
    }
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      let outcome: Attempt;
      try {
        outcome = await attempt();
      } catch (err) {
        outcome = { result: 'failed' };
        log.warn('leader lease read or write failed', { lease: opts.name, err: err instanceof Error ? err.message : String(err) });
      }
      if (stopping.signal.aborted) break;
      if (outcome.result === 'held') {
        if (!term) startTerm();
        // A timer rather than a check after the next attempt: a request that hangs must not keep this
        // replica leading past the renew deadline, which is shorter than the lease duration, so it
        // stops before another replica may start.
        cancelDeadline?.();
        // Counted from the renewTime written, not from when the answer came back.
        const left = outcome.at + config.renewDeadlineMs - clock.now();
        cancelDeadline = clock.setTimer(() => endTerm('could not renew the lease within the renew deadline'), left);
      } else if (outcome.result === 'lost') {
        endTerm('another replica holds the lease');
      }
      await clock.sleep(config.retryPeriodMs, stopping.signal);
    }
  }

  async function release(): Promise<void> {
    let current = lastWritten;
    for (let i = 0; i <= MAX_CONFLICT_RETRIES; i++) {
      const spec = planLeaseRelease(current?.spec, clock.now(), identity);
      if (!current || !spec) return;
      try {
        await rest.replace<LeaseObject>(path, { ...current, spec });
        log.info('released the leader lease', { lease: opts.name });
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
        current = await read();
      }
    }
  }

  return {
    start() {
      loop ??= run();
    },
    get isLeader() {
      return term !== undefined;
    },
    get observedHolder() {
      return observedHolder;
    },
    async stop({ release: doRelease = true } = {}) {
      stopping.abort();
      await loop;
      endTerm('shutting down');
      // Not only while leading: an attempt that completed during shutdown may have just taken the lease,
      // and a term ended by the renew deadline may still be ours on the server. release() writes only a
      // lease that still names this replica.
      if (doRelease) {
        try {
          await release();
        } catch (err) {
          log.warn('could not release the leader lease; it expires on its own', { lease: opts.name, err: err instanceof Error ? err.message : String(err) });
        }
      }
    },
  };
}
