// Process and machine CPU time from /proc, for the benchmarks that report
// where CPU went. Linux only; readers return undefined where /proc is absent.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;
/** USER_HZ, the unit of /proc's process and machine times. */
function ticksPerSecond(): number {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

/** CPU seconds a process has used (user + system), and its waited-for children's; undefined once it is gone. */
export function readProcTimes(pid: number | undefined): { own: number; children: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime, stime, cutime, cstime are [11]..[14].
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const hz = ticksPerSecond();
    return { own: (Number(f[11]) + Number(f[12])) / hz, children: (Number(f[13]) + Number(f[14])) / hz };
  } catch {
    return undefined;
  }
}

/** Seconds of CPU the whole machine spent not idle (nor waiting for I/O), summed over CPUs. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / ticksPerSecond();
}
