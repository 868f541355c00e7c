import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { CpuMeter } from './cpu.ts';

// Burns 300 ms of CPU time, not of wall time: on a loaded machine a wall-clock loop gets less CPU than that.
const BURN = 'const s = process.cpuUsage(); for (let u = s; (u = process.cpuUsage(s)).user + u.system < 300000; );';

test('CPU meter: a process\'s own time under its role, its waited-for children under theirs', async () => {
  const meter = new CpuMeter();
  // A "runtime" that waits for input, then runs a child that burns 300 ms and reaps it.
  const runtime = spawn('sh', ['-c', `read x; ${process.execPath} -e "${BURN}"; read y`], { stdio: ['pipe', 'ignore', 'ignore'] });
  const agent = spawn(process.execPath, ['-e', `process.stdin.once('data', () => { ${BURN} process.stdin.once('data', () => process.exit(0)); })`], { stdio: ['pipe', 'ignore', 'ignore'] });
  meter.track(runtime.pid, 'runtimes', 'plugins + ip');
  meter.track(agent.pid, 'agents');
  const a = meter.mark();
  runtime.stdin.write('go\n');
  agent.stdin.write('go\n');
  // Each has finished its burn once its CPU time shows it; poll the meter itself.
  const deadline = Date.now() + 20_000;
  let by = meter.between(a, meter.mark()).byRole;
  while ((by['plugins + ip'] < 0.25 || by.agents < 0.25) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    by = meter.between(a, meter.mark()).byRole;
  }
  const b = meter.mark();
  runtime.stdin.end('done\n');
  agent.stdin.end('done\n');
  await Promise.all([once(runtime, 'exit'), once(agent, 'exit')]);
  const { busy, byRole } = meter.between(a, b);
  assert.ok(byRole['plugins + ip'] >= 0.25 && byRole['plugins + ip'] < 1, `the runtime's child burned ~0.3 s: ${byRole['plugins + ip']}`);
  assert.ok(byRole.agents >= 0.25 && byRole.agents < 1, `the agent burned ~0.3 s (its startup too): ${byRole.agents}`);
  assert.ok(byRole.runtimes < 0.2, `the runtime itself only waited: ${byRole.runtimes}`);
  assert.ok(busy >= byRole['plugins + ip'] + byRole.agents - 0.05, `the machine was busy at least that long: ${busy}`);
  // An exited process keeps its last reading: a later mark adds nothing for it.
  const c = meter.mark();
  assert.ok(meter.between(b, c).byRole.agents < 0.05, 'nothing new counted after it exited');
});
