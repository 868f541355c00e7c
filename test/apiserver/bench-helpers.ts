// Measures the fake's own ceiling for the operation tidepool's allocation path
// leans on (a create that must not overwrite: 201 or 409 AlreadyExists), so a
// tidepool benchmark can report its throughput next to what the fake allows.
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';

/** Result of measureConditionalCreates. */
export interface CreateRate {
  count: number;
  concurrency: number;
  seconds: number;
  perSecond: number;
  /** HTTP status → replies; anything but 201 means the run was not clean. */
  statuses: Record<string, number>;
}

function post(agent: Agent, base: URL, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: 'Bearer tidepool-fake-token' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Creates `count` IPAllocation objects with distinct names over `concurrency`
 * keep-alive connections and reports creates per second. The objects are left in
 * the server; use a fresh server (or accept the growth) per measurement.
 */
export async function measureConditionalCreates(url: string, opts: { concurrency?: number; count?: number } = {}): Promise<CreateRate> {
  const concurrency = opts.concurrency ?? 16;
  const count = opts.count ?? 2000;
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const run = randomBytes(4).toString('hex');
  const path = '/apis/tidepool.dev/v1alpha1/ipallocations';
  const statuses: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const body = JSON.stringify({
        apiVersion: 'tidepool.dev/v1alpha1',
        kind: 'IPAllocation',
        metadata: { name: `bench-${run}.${ip}`, labels: { 'tidepool.dev/pool': `bench-${run}`, 'tidepool.dev/state': 'allocated' } },
        spec: { pool: `bench-${run}`, ip },
      });
      const code = await post(agent, base, path, body);
      statuses[code] = (statuses[code] ?? 0) + 1;
    }
  };
  const start = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { count, concurrency, seconds, perSecond: count / seconds, statuses };
}
