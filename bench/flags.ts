/** A bad benchmark flag: printed with the usage text, exit status 2. */
export class UsageError extends Error {}

/** Parses an integer flag value in [min, max]; `why` explains the upper bound when it is exceeded. */
export function parseCount(flag: string, raw: string | undefined, min: number, max: number, why: string): number {
  if (raw === undefined || raw === '' || raw.startsWith('--')) throw new UsageError(`${flag} needs a value (an integer from ${min} to ${max})`);
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
  if (n > max) throw new UsageError(`${flag} ${raw} is more than ${max}: ${why}`);
  return n;
}

/** `-h` or `--help` was given. */
export class HelpRequested extends Error {}

/** One flag as a benchmark's parser sees it: `--name value` or `--name=value`. */
export interface Flag {
  /** `--name`, without `=value`. */
  readonly name: string;
  /** The value after `=`, or else the next argument (consumed). */
  value(): string | undefined;
  /** The value, or a UsageError saying the flag needs `what`. */
  text(what: string): string;
  /** For switches: refuses `--name=value`. */
  noValue(): void;
}

/**
 * Walks a benchmark's arguments. `handle` returns false for a flag it does
 * not know; that, and any bare argument, is a UsageError. `-h`/`--help`
 * throws HelpRequested.
 */
export function eachFlag(argv: readonly string[], handle: (flag: Flag) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name === '-h' || name === '--help') throw new HelpRequested();
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    const flag: Flag = {
      name,
      value,
      text(what) {
        const v = value();
        if (v === undefined || v === '' || v.startsWith('--')) throw new UsageError(`${name} needs ${what}`);
        return v;
      },
      noValue() {
        if (inline !== undefined) throw new UsageError(`${name} takes no value, got "${inline}"`);
      },
    };
    if (!handle(flag)) throw new UsageError(arg.startsWith('-') ? `unknown flag ${name}` : `unexpected argument "${arg}"`);
  }
}

/**
 * Runs a benchmark's flag parser: its options, or the exit status once help
 * (0) or a usage error with the usage text (2) has been printed.
 */
export function parseBenchFlags<T>(bench: string, usage: string, parse: () => T): T | number {
  try {
    return parse();
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(usage);
      return 0;
    }
    if (err instanceof UsageError) {
      console.error(`${bench}: ${err.message}\n${usage}`);
      return 2;
    }
    throw err;
  }
}
