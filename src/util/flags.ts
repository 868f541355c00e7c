import { parseArgs } from 'node:util';
import { TidepoolError } from '../ipam/errors.ts';

/** Flags of one command, as node:util's parseArgs takes them. */
export type FlagSpec = Record<string, { readonly type: 'string' | 'boolean'; readonly default?: string | boolean }>;

export interface ParsedFlags {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

/**
 * Strict parsing for every tidepool command: an unknown flag, a missing
 * value or (unless allowed) a bare argument is an INVALID_CONFIG error whose
 * message is parseArgs' own, after `prefix` and before `usage`.
 */
export function parseCommandFlags(argv: readonly string[], options: FlagSpec, opts: { prefix?: string; usage?: string; allowPositionals?: boolean } = {}): ParsedFlags {
  try {
    const parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: opts.allowPositionals ?? false, options });
    return { values: parsed.values as ParsedFlags['values'], positionals: parsed.positionals };
  } catch (err) {
    const message = `${opts.prefix ?? ''}${(err as Error).message}${opts.usage ? `\n\n${opts.usage}` : ''}`;
    throw new TidepoolError('INVALID_CONFIG', message, opts.usage ? { field: 'argv' } : undefined);
  }
}
