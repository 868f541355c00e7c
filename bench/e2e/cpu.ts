// Where a phase's CPU went, from /proc: each process the run started, by
// role; what the runtimes' children (ip, macvlan, tidepool's plugin) used,
// read from the runtimes' reaped-children counters; the bench process
// itself; and the rest of the machine's busy time, which is mostly the
// kernel's own threads (network namespace teardown runs in a workqueue).
import { machineBusySeconds, readProcTimes } from '../proc.ts';

export const CPU_ROLES = ['plugins + ip', 'runtimes', 'agents', 'controllers', 'API server', 'bench driver', 'kernel + other'] as const;
export type CpuRole = (typeof CPU_ROLES)[number];

type ProcTimes = NonNullable<ReturnType<typeof readProcTimes>>;

interface Mark {
  readonly busy: number;
  readonly self: number;
  readonly procs: ReadonlyMap<number, ProcTimes>;
}

/**
 * Tracks processes by role. A process's last successful reading stands in
 * once it has exited, so call `sample()` often (and just before a kill): a
 * killed process's last moments are lost, nothing is counted twice.
 */
export class CpuMeter {
  private readonly roles = new Map<number, { own: CpuRole; children?: CpuRole }>();
  private readonly last = new Map<number, ProcTimes>();

  /** `children`: the role its waited-for children are counted under (a runtime's plugins). */
  track(pid: number | undefined, own: CpuRole, children?: CpuRole): void {
    if (pid === undefined) return;
    this.roles.set(pid, { own, children });
    const t = readProcTimes(pid);
    if (t) this.last.set(pid, t);
  }

  sample(): void {
    for (const pid of this.roles.keys()) {
      const t = readProcTimes(pid);
      if (t) this.last.set(pid, t);
    }
  }

  mark(): Mark {
    this.sample();
    const self = process.cpuUsage();
    return { busy: machineBusySeconds(), self: (self.user + self.system) / 1e6, procs: new Map(this.last) };
  }

  /** CPU seconds by role between two marks; processes first seen after `a` count from zero. */
  between(a: Mark, b: Mark): { busy: number; byRole: Record<CpuRole, number> } {
    const byRole = Object.fromEntries(CPU_ROLES.map((r) => [r, 0])) as Record<CpuRole, number>;
    for (const [pid, end] of b.procs) {
      const role = this.roles.get(pid);
      if (!role) continue;
      const start = a.procs.get(pid) ?? { own: 0, children: 0 };
      byRole[role.own] += end.own - start.own;
      if (role.children) byRole[role.children] += end.children - start.children;
    }
    byRole['bench driver'] = b.self - a.self;
    const busy = b.busy - a.busy;
    const known = CPU_ROLES.reduce((n, r) => n + byRole[r], 0);
    byRole['kernel + other'] = Math.max(0, busy - known);
    return { busy, byRole };
  }
}
