/**
 * A progress bar on stderr for long commands (benchmarks, `tidepool
 * simulate`): redrawn in place on a terminal, one final line otherwise, so
 * logs stay readable.
 */
export function createProgress(
  label: string,
  total: number,
  labelWidth = 16,
  stream: { write(text: string): unknown; isTTY?: boolean } = process.stderr,
): { update(n: number, note?: string): void; done(note?: string): void } {
  const width = 40;
  let last = -1;
  const draw = (n: number, end: string, note: string) => {
    const filled = Math.round((n / total) * width);
    stream.write(`\r${label.padEnd(labelWidth)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total}${note ? ` ${note}` : ''}${end}`);
  };
  return {
    update(n, note = '') {
      if (!stream.isTTY) return;
      const step = Math.floor((n / total) * 100);
      if (step !== last) {
        last = step;
        draw(n, '', note);
      }
    },
    done(note = '') {
      draw(total, '\n', note);
    },
  };
}
