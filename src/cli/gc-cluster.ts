import { TidepoolError } from '../ipam/errors.ts';
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { createKubeRest, isNotFound, type KubeRest } from '../k8s/rest.ts';
import { storeError } from '../store/kube-errors.ts';
import { createControllerCache } from '../controller/cache.ts';
import { DEFAULT_GC_SETTINGS, planGcReport, type GcReportEntry } from '../controller/gc.ts';
import { SCAN_REQUEST_ANNOTATION } from '../controller/scan-requests.ts';
import { createSystemClock } from '../controller/main.ts';
import { silentLogger } from '../util/logger.ts';
import { formatDuration } from '../util/duration.ts';
import { formatTable } from './table.ts';

export interface ClusterGcOptions {
  readonly kubeconfig: string | undefined;
  readonly namespace: string;
  readonly leaseName: string;
  readonly dryRun: boolean;
  readonly all: boolean;
  readonly json: boolean;
}

/**
 * `tidepool gc` against a cluster. `--dry-run` reads the cluster once and
 * prints what the collector would reclaim now, or later, and why; it writes
 * nothing. Without it, it asks the leading controller for a scan now by
 * stamping an annotation on the leader Lease (no route to the leader needed).
 */
export async function runClusterGc(opts: ClusterGcOptions, io: { out: (t: string) => void; now: () => number }): Promise<number> {
  let rest: KubeRest;
  try {
    rest = await createKubeRest(await loadKubeConfig(opts.kubeconfig), { userAgent: 'tidepool-cli' });
  } catch (err) {
    // A kubeconfig that cannot be read, or credentials that cannot be had (token file, exec plugin).
    throw new TidepoolError('INVALID_CONFIG', `--kubeconfig ${opts.kubeconfig ?? '(default)'}: ${(err as Error).message}`, { field: '--kubeconfig' });
  }
  try {
    if (!opts.dryRun) return await requestScan(rest, opts, io);
    const clock = createSystemClock(io.now);
    const cache = createControllerCache({ rest, clock, log: silentLogger, virtualMachines: await rest.get('/apis/kubevirt.io/v1').then(() => true, () => false) });
    cache.start();
    try {
      await cache.waitForSync();
      const report = planGcReport(cache, DEFAULT_GC_SETTINGS, io.now());
      printReport(report, opts, io);
    } finally {
      await cache.stop();
    }
    return 0;
  } catch (err) {
    if (err instanceof TidepoolError) throw err;
    throw new TidepoolError('IO_FAILURE', `cannot read the cluster: ${(err as Error).message}`);
  } finally {
    rest.close();
  }
}

async function requestScan(rest: Awaited<ReturnType<typeof createKubeRest>>, opts: ClusterGcOptions, io: { out: (t: string) => void; now: () => number }): Promise<number> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.leaseName}`;
  let lease: { spec?: { holderIdentity?: string } };
  try {
    lease = await rest.patch(path, { metadata: { annotations: { [SCAN_REQUEST_ANNOTATION]: new Date(io.now()).toISOString() } } });
  } catch (err) {
    // Only a missing Lease means no controller there; a refusal (RBAC) or an outage says so itself.
    if (!isNotFound(err)) throw storeError(err, `asking the leader for a scan through its lease ${opts.namespace}/${opts.leaseName}`);
    throw new TidepoolError('NOT_FOUND', `cannot reach the controller's lease ${opts.namespace}/${opts.leaseName}: ${(err as Error).message} (is tidepool controller running? --namespace and --lease-name pick another)`);
  }
  const holder = lease.spec?.holderIdentity;
  io.out(holder ? `asked the leader (${holder}) for a garbage collection scan now\n` : `asked for a scan; no controller holds the lease right now, the next leader scans when it takes over\n`);
  return 0;
}

function describe(entry: GcReportEntry, now: number): string {
  const v = entry.verdict;
  if (v.action === 'release') return `reclaim now: ${v.reason}`;
  if (v.action === 'wait') return `reclaim in ${formatDuration(Math.max(0, v.at - now))}: ${v.reason}`;
  return `keep: ${v.why}`;
}

function printReport(report: readonly GcReportEntry[], opts: ClusterGcOptions, io: { out: (t: string) => void; now: () => number }): void {
  const shown = opts.all ? report : report.filter((e) => e.verdict.action !== 'keep');
  if (opts.json) {
    io.out(JSON.stringify(shown, null, 2) + '\n');
    return;
  }
  const now = io.now();
  const rows = shown.map((e) => [e.ip, e.pool, e.pod || '-', e.node, describe(e, now)]);
  if (rows.length === 0) io.out(`nothing to reclaim (${report.length} allocations examined)\n`);
  else io.out(formatTable(['IP', 'POOL', 'POD', 'NODE', 'VERDICT'], rows) + `${shown.length} of ${report.length} allocations (dry run: nothing was changed)\n`);
}
