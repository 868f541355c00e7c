/**
 * The `text` log format, for people reading a terminal or the journal: the
 * time, the level, the message, then each field as key=value. One entry is
 * one line whatever its values hold, as with JSON, so grep and journald see
 * whole entries.
 */

/** `2025-01-02T03:04:05.678Z INFO  tidepool agent started store=sqlite pools=["lan"]` */
export function formatTextLine(time: string, level: string, msg: string, fields: Readonly<Record<string, unknown>>): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${oneLine(msg)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** Bare when nothing in it could be misread (no space, quote, `=` or control character), else JSON-quoted. */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=\\\p{Cc}]+$/u.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) return String(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return JSON.stringify(code === undefined ? value.message : `${value.message} (${String(code)})`);
  }
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}
