// Reserve/release throughput of the store adapters, one operation at a time
// (the agent awaits each commit before answering the plugin).
// Run: node --import tsx bench/store.ts [count]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMemoryStore } from '../src/store/memory.ts';
import type { AllocationStore } from '../src/store/port.ts';
import { createSqliteStore } from '../src/store/sqlite.ts';

const count = Number(process.argv[2] ?? 5000);
const ip = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function measure(name: string, store: AllocationStore): Promise<void> {
  let start = performance.now();
  for (let i = 0; i < count; i++) {
    await store.reserve({ pool: 'bench', ip: ip(i), containerId: `c-${i}`, ifname: 'eth0', netns: '/run/netns/x', node: 'n', podUid: `u-${i}`, allocatedAt: i });
  }
  const reserveOps = count / ((performance.now() - start) / 1000);
  start = performance.now();
  for (let i = 0; i < count; i++) {
    await store.release('bench', ip(i), { containerId: `c-${i}`, ifname: 'eth0', podUid: `u-${i}` }, i);
  }
  const releaseOps = count / ((performance.now() - start) / 1000);
  await store.close();
  console.log(`${name.padEnd(18)} reserve ${Math.round(reserveOps).toString().padStart(8)} ops/s   release ${Math.round(releaseOps).toString().padStart(8)} ops/s`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidepool-'));
try {
  console.log(`${count} sequential operations each`);
  await measure('memory', createMemoryStore());
  await measure('sqlite normal', createSqliteStore({ path: path.join(dir, 'normal.db') }));
  await measure('sqlite full', createSqliteStore({ path: path.join(dir, 'full.db'), synchronous: 'full' }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
