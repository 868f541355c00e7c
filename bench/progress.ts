/**
 * A progress bar on stderr for the benchmarks: redrawn in place on a
 * terminal, one final line otherwise, so logs stay readable.
 */
export function createProgress(label: string, total: number, labelWidth = 16): { update(n: number): void; done(): void } {
  const width = 40;
  let last = -1;
  const draw = (n: number, end: string) => {
    const filled = Math.round((n / total) * width);
    process.stderr.write(`\r${label.padEnd(labelWidth)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total}${end}`);
  };
  return {
    update(n) {
      if (!process.stderr.isTTY) return;
      const step = Math.floor((n / total) * 100);
      if (step !== last) {
        last = step;
        draw(n, '');
      }
    },
    done() {
      draw(total, '\n');
    },
  };
}
