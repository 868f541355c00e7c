/**
 * Structured logs, one entry per line: JSON objects (the default, for log
 * pipelines) or text for people (log-text.ts). Only composition roots create
 * a logger; everything else receives one, so tests can capture lines.
 */
import { formatTextLine } from './log-text.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines all carry `bindings`. */
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Default json. */
  readonly format?: LogFormat;
  readonly write?: (line: string) => void;
  readonly now?: () => number;
  readonly bindings?: Record<string, unknown>;
}

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(RANK, value);
}

export function isLogFormat(value: string): value is LogFormat {
  return value === 'json' || value === 'text';
}

/** Writes `{"time","level","msg",...bindings,...fields}` lines (or their text form); in JSON, errors become `{message, code, stack}`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = RANK[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? Date.now;
  const make = (bindings: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
      if (RANK[level] < min) return;
      const time = new Date(now()).toISOString();
      if (opts.format === 'text') return write(formatTextLine(time, level, msg, { ...bindings, ...fields }));
      const entry: Record<string, unknown> = { time, level, msg, ...bindings };
      for (const [k, v] of Object.entries(fields ?? {})) entry[k] = v instanceof Error ? describeError(v) : v;
      write(JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make(opts.bindings ?? {});
}

function describeError(err: Error): Record<string, unknown> {
  const code = (err as { code?: unknown }).code;
  return { message: err.message, ...(code !== undefined ? { code } : {}), stack: err.stack };
}

/** A logger that drops everything, for tests that do not inspect logs. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
