import { TidepoolError } from '../ipam/errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `250ms`, `5s`, `2m`, `1h` (or a sum like `1m30s`) into milliseconds; `what` names the flag in errors. */
export function parseDuration(text: string, what: string): number {
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null;
  if (!parts) throw new TidepoolError('INVALID_CONFIG', `${what}: "${text}" is not a duration (use e.g. 500ms, 10s, 5m, 1h)`, { field: what });
  let total = 0;
  for (const p of parts) {
    const [, num, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(p)!;
    total += Number(num) * UNITS[unit!]!;
  }
  return Math.round(total);
}

/** Formats milliseconds compactly for humans: 1500 → `1.5s`, 90000 → `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s ? `${m}m${s}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}
