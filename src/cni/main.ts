/**
 * Entry point of the `tidepool` CNI plugin binary: wires the process to
 * run(). Kept tiny because it starts once per pod network operation.
 */
import { readSync, writeSync } from 'node:fs';
import { run } from './run.ts';
import type { TextSink } from './run.ts';

/**
 * Reads fd 0 synchronously: cheaper than creating process.stdin, and the
 * runtime hands over a blocking pipe. A non-blocking fd (EAGAIN) falls back
 * to the stream.
 */
async function* stdinChunks(): AsyncGenerator<Uint8Array> {
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        for await (const chunk of process.stdin) yield chunk as Buffer;
        return;
      }
      // No stdin at all (closed fd) reads as empty.
      if (code === 'EOF' || code === 'EBADF') return;
      throw err;
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

function fdSink(fd: number): TextSink {
  return {
    write(text: string): void {
      let data = Buffer.from(text);
      while (data.length > 0) {
        try {
          data = data.subarray(writeSync(fd, data));
        } catch (err) {
          // A non-blocking pipe that is momentarily full: try again.
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
      }
    },
  };
}

const code = await run({ env: process.env, stdin: stdinChunks(), stdout: fdSink(1), stderr: fdSink(2) });
// Output was written synchronously, so exiting now loses nothing and skips idle teardown.
process.exit(code);
