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
