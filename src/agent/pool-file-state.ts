import { toTidepoolError, type TidepoolError } from '../ipam/errors.ts';
import type { HeldAddress } from '../ipam/claims.ts';
import type { Pool } from '../ipam/pool.ts';
import { planPoolEdit, type PoolEditPlan } from '../ipam/pool-edit.ts';
import type { PoolsFileStatus } from '../api/protocol.ts';
import type { Logger } from '../util/logger.ts';
import { planPoolFile } from './pool-file.ts';

/** Where the text of the last pools file applied is kept, so an agent whose file is broken at start still serves. */
export interface AppliedPoolsMemory {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
}

export interface PoolFileStateOptions {
  readonly path: string;
  /** Reads the file; throws a TidepoolError naming the path when it cannot. */
  readonly read: (path: string) => string;
  readonly memory: AppliedPoolsMemory;
  /** The held addresses, for telling what an edit does to them. */
  readonly held: () => Promise<readonly HeldAddress[]>;
  readonly now: () => number;
  readonly log: Logger;
}

/** What a reload did: `unchanged` when the file holds what is served. */
export interface ReloadResult {
  readonly result: 'applied' | 'refused' | 'unchanged';
  readonly plan?: PoolEditPlan;
  readonly error?: TidepoolError;
}

/** The outcome of checking a pools file against what the agent serves and holds, changing nothing. */
export type PoolFileCheck = { readonly ok: true; readonly pools: readonly Pool[]; readonly plan: PoolEditPlan } | { readonly ok: false; readonly error: TidepoolError };

/**
 * The standalone agent's pools: the pools file as last applied, and its
 * reloads. Guarantees:
 * - a reload applies a valid file whole and at once, or refuses it whole
 *   and keeps serving the pools it had, recording why (status, log);
 * - the text of every applied file is kept (`memory`), and an agent whose
 *   file is missing or broken at start serves that instead of refusing to
 *   start; only an agent that never applied a file refuses;
 * - nothing here changes a record: re-filing held addresses under a
 *   renamed pool is the IPAM service's reconcile, run by the caller.
 */
export interface PoolFileState {
  pools(): readonly Pool[];
  status(): PoolsFileStatus;
  reload(reason: string): Promise<ReloadResult>;
  check(text: string, fileName: string): Promise<PoolFileCheck>;
}

export async function openPoolFileState(opts: PoolFileStateOptions): Promise<PoolFileState> {
  const { path, log } = opts;
  let served: { text: string; pools: readonly Pool[]; appliedAt: number; source: PoolsFileStatus['source'] };
  let refused: { text: string | undefined; at: number; error: TidepoolError } | undefined;

  const first = attempt(() => {
    const text = opts.read(path);
    return { text, pools: planPoolFile(text, path) };
  });
  if (first.ok) {
    served = { ...first.value, appliedAt: opts.now(), source: 'file' };
    await opts.memory.write(first.value.text);
  } else {
    const kept = await opts.memory.read();
    if (kept === undefined) throw first.error;
    served = { text: kept, pools: planPoolFile(kept, `${path} (as last applied)`), appliedAt: opts.now(), source: 'last-applied' };
    refused = { text: undefined, at: opts.now(), error: first.error };
    log.error('the pools file cannot be used; serving the pools last applied from it', { file: path, err: first.error.message, pools: served.pools.map((p) => p.name) });
  }

  async function planAgainstHeld(pools: readonly Pool[]): Promise<PoolEditPlan> {
    return planPoolEdit(served.pools, pools, await opts.held());
  }

  return {
    pools: () => served.pools,
    status: () => ({
      path,
      appliedAt: served.appliedAt,
      source: served.source,
      refused: refused && { at: refused.at, code: refused.error.code, message: refused.error.message },
    }),

    async reload(reason) {
      const next = attempt(() => opts.read(path));
      const text = next.ok ? next.value : undefined;
      if (text !== undefined && text === served.text) {
        if (refused) log.info('the pools file holds the pools served again', { file: path });
        refused = undefined;
        served = { ...served, source: 'file' };
        return { result: 'unchanged' };
      }
      if (text !== undefined && text === refused?.text) return { result: 'refused', error: refused.error };
      const parsed = next.ok ? attempt(() => planPoolFile(next.value, path)) : next;
      if (!parsed.ok) {
        refused = { text, at: opts.now(), error: parsed.error };
        log.error('pools file edit refused; still serving the pools applied before', { file: path, reason, err: parsed.error.message, code: parsed.error.code });
        return { result: 'refused', error: parsed.error };
      }
      const plan = await planAgainstHeld(parsed.value);
      served = { text: text!, pools: parsed.value, appliedAt: opts.now(), source: 'file' };
      refused = undefined;
      await opts.memory.write(served.text);
      log.info('pools file applied', { file: path, reason, pools: parsed.value.map((p) => p.name), added: plan.added, removed: plan.removed, changed: plan.changed, refiled: plan.moves.length });
      if (plan.orphaned.length > 0) {
        log.warn('held IPs are outside every pool; they stay held until DEL or the collector frees them', { orphaned: plan.orphaned.map((o) => `${o.pool}/${o.ip} (${o.reason})`) });
      }
      return { result: 'applied', plan };
    },

    async check(text, fileName) {
      const parsed = attempt(() => planPoolFile(text, fileName));
      if (!parsed.ok) return { ok: false, error: parsed.error };
      return { ok: true, pools: parsed.value, plan: await planAgainstHeld(parsed.value) };
    },
  };
}

function attempt<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: TidepoolError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    return { ok: false, error: toTidepoolError(err) };
  }
}
