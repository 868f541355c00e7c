// KubeVirt in the simulated cluster, as virt-controller and virt-handler
// would drive it: a VirtualMachine owns a VirtualMachineInstance, which owns
// the virt-launcher pod that runs the VM. A restart deletes the VMI in the
// foreground (it stays until its launcher pod is gone, as KubeVirt's own
// finalizer makes it) and makes a new one; a live migration starts a second
// launcher pod, the target, on another node, marked with the migration's UID
// and name, and ends with the source pod finished and deleted, or with the
// target deleted when it fails. The labels and annotations are KubeVirt's,
// spelled out here rather than taken from tidepool's code, so a typo there
// would show.
import type { KindOptions } from '../apiserver/kinds.ts';
import type { KubeObject } from '../k8s/rest.ts';
import type { SimApiServer } from './api-server.ts';
import type { Rng } from './rng.ts';
import type { WorkloadSpec } from './scenario.ts';
import type { PodObject } from './world.ts';

/** The label KubeVirt puts on every virt-launcher pod: the VM's name. */
export const VM_NAME_LABEL = 'vm.kubevirt.io/name';
/** On a migration's target pod only: the migration's UID (label) and name (annotation). */
export const MIGRATION_UID_LABEL = 'kubevirt.io/migrationJobUID';
export const MIGRATION_NAME_ANNOTATION = 'kubevirt.io/migrationJobName';

/** The KubeVirt kinds the simulated API server serves when a scenario has VMs. */
export const KUBEVIRT_KINDS: readonly KindOptions[] = [
  { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true, shortNames: ['vm'] },
  { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances', kind: 'VirtualMachineInstance', namespaced: true, shortNames: ['vmi'] },
];

const vmPath = (ns: string, name = '') => `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines${name ? `/${name}` : ''}`;
const vmiPath = (ns: string, name = '') => `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances${name ? `/${name}` : ''}`;

/** The VM a pod runs, when it is a virt-launcher pod: its VM's name and the UID of the VMI that owns it. */
export function planLauncherOf(pod: KubeObject): { readonly vm: string; readonly vmiUid: string } | undefined {
  const vm = pod.metadata.labels?.[VM_NAME_LABEL];
  const owner = pod.metadata.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance');
  return vm && owner ? { vm, vmiUid: owner.uid } : undefined;
}

/** What a run counts of its VMs. */
export interface VmStats {
  /** virt-launcher pods created, migration targets included. */
  launchers: number;
  migrations: number;
  migrated: number;
  migrationsFailed: number;
  restarts: number;
}

/** What the VMs need of a workload: its spec and whether it should exist now. */
export interface VmWorkload {
  readonly spec: WorkloadSpec;
  readonly exists: boolean;
}

export interface VirtualMachines {
  /** One pass of virt-controller for the workload's VM: creates what is missing, moves a migration along. */
  reconcile(w: VmWorkload): void;
  /** Starts a live migration of the VM, if it runs on one launcher and another node is schedulable. */
  migrate(w: VmWorkload): void;
  /** Restarts the VM: its VMI goes (its launcher pod first), and a new one starts. */
  restart(w: VmWorkload): void;
  /** Deletes the VirtualMachine as `kubectl delete vm` does; the garbage collector takes the VMI and its pods. */
  remove(w: VmWorkload): void;
  readonly stats: VmStats;
}

interface Migration {
  readonly job: string;
  readonly uid: string;
  readonly source: string;
  readonly target: string;
  readonly startedAt: number;
  readonly fails: boolean;
  readonly takesMs: number;
  runningSince?: number;
}

interface VmState {
  vmUid: string;
  vmiUid: string;
  /** The VMI's first launcher was made: a VMI without a live launcher after that has stopped. */
  launched: boolean;
  migration: Migration | undefined;
}

/** A migration target that does not come up within this fails, as KubeVirt's pending timeout fails it. */
const MIGRATION_PENDING_MS = 60_000;
/** A finished source pod lingers this long before it is deleted. */
const FINISHED_LAUNCHER_TTL_MS = 60_000;

export function createVirtualMachines(deps: {
  api: SimApiServer;
  rng: Rng;
  now: () => number;
  trace: (line: string) => void;
  /** A schedulable node other than `except`, or undefined when there is none. */
  pickNode: (except?: string) => string | undefined;
  /** The pools annotation the workload's interfaces need. */
  podAnnotations: (spec: WorkloadSpec) => Record<string, string>;
  ensureNamespace: (ns: string) => boolean;
  deletePod: (pod: PodObject, why: string) => void;
}): VirtualMachines {
  const { api, rng, trace, now } = deps;
  const states = new Map<string, VmState>();
  const stats: VmStats = { launchers: 0, migrations: 0, migrated: 0, migrationsFailed: 0, restarts: 0 };
  const keyOf = (w: VmWorkload) => `${w.spec.namespace}/${w.spec.name}`;
  const stateOf = (w: VmWorkload): VmState => {
    let s = states.get(keyOf(w));
    if (!s) states.set(keyOf(w), (s = { vmUid: '', vmiUid: '', launched: false, migration: undefined }));
    return s;
  };
  const finished = (p: PodObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

  function launchers(w: VmWorkload, vmiUid: string): PodObject[] {
    const out: PodObject[] = [];
    for (const p of api.objects('pods') as Iterable<PodObject>) {
      if (p.metadata.namespace === w.spec.namespace && planLauncherOf(p)?.vmiUid === vmiUid && p.metadata.labels?.[VM_NAME_LABEL] === w.spec.name) out.push(p);
    }
    return out;
  }

  function createLauncher(w: VmWorkload, s: VmState, node: string, migration?: { job: string; uid: string }): string | undefined {
    const ns = w.spec.namespace;
    const name = `virt-launcher-${w.spec.name}-${rng.hex(5)}`;
    try {
      const pod = api.direct.create<PodObject>(`/api/v1/namespaces/${ns}/pods`, {
        metadata: {
          name,
          namespace: ns,
          labels: { app: w.spec.name, 'kubevirt.io': 'virt-launcher', [VM_NAME_LABEL]: w.spec.name, ...(migration ? { [MIGRATION_UID_LABEL]: migration.uid } : {}) },
          annotations: { ...deps.podAnnotations(w.spec), ...(migration ? { [MIGRATION_NAME_ANNOTATION]: migration.job } : {}) },
          ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: w.spec.name, uid: s.vmiUid, controller: true, blockOwnerDeletion: true }],
        },
        spec: { nodeName: node, containers: [{ name: 'compute', image: 'registry.local/virt-launcher:1' }], terminationGracePeriodSeconds: 30 },
        status: { phase: 'Pending' },
      });
      stats.launchers++;
      trace(`virt-launcher ${ns}/${name} of VM ${w.spec.name} created on ${node}${migration ? ` (target of migration ${migration.job})` : ''} (uid ${(pod.metadata.uid ?? '').slice(0, 8)})`);
      return name;
    } catch (err) {
      trace(`virt-launcher of VM ${ns}/${w.spec.name} not created: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** The VM and its VMI as they should be; false while either cannot be made (namespace terminating, VMI going). */
  function ensureObjects(w: VmWorkload, s: VmState): boolean {
    const ns = w.spec.namespace;
    if (!deps.ensureNamespace(ns)) return false;
    let vm = api.direct.get<KubeObject>(vmPath(ns, w.spec.name));
    if (!vm) {
      try {
        vm = api.direct.create<KubeObject>(vmPath(ns), { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: w.spec.name, namespace: ns }, spec: { running: true, template: { metadata: { labels: { app: w.spec.name } } } } });
        trace(`VirtualMachine ${ns}/${w.spec.name} created (uid ${(vm.metadata.uid ?? '').slice(0, 8)})`);
      } catch (err) {
        trace(`VirtualMachine ${ns}/${w.spec.name} not created: ${(err as Error).message}`);
        return false;
      }
    }
    if (vm.metadata.deletionTimestamp) return false;
    if (vm.metadata.uid !== s.vmUid) Object.assign(s, { vmUid: vm.metadata.uid ?? '', vmiUid: '', launched: false, migration: undefined });
    const vmi = api.direct.get<KubeObject>(vmiPath(ns, w.spec.name));
    if (!vmi) {
      try {
        const created = api.direct.create<KubeObject>(vmiPath(ns), {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachineInstance',
          metadata: { name: w.spec.name, namespace: ns, labels: { [VM_NAME_LABEL]: w.spec.name }, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: w.spec.name, uid: s.vmUid, controller: true, blockOwnerDeletion: true }] },
          spec: {},
        });
        Object.assign(s, { vmiUid: created.metadata.uid ?? '', launched: false, migration: undefined });
      } catch (err) {
        trace(`VirtualMachineInstance ${ns}/${w.spec.name} not created: ${(err as Error).message}`);
        return false;
      }
      return true;
    }
    if (vmi.metadata.deletionTimestamp) return false;
    if (vmi.metadata.uid !== s.vmiUid) Object.assign(s, { vmiUid: vmi.metadata.uid ?? '', launched: launchers(w, vmi.metadata.uid ?? '').length > 0, migration: undefined });
    return true;
  }

  function endMigration(w: VmWorkload, s: VmState, ok: boolean, why: string): void {
    const m = s.migration!;
    s.migration = undefined;
    if (ok) stats.migrated++;
    else stats.migrationsFailed++;
    trace(`migration ${m.job} of VM ${w.spec.namespace}/${w.spec.name} ${ok ? 'succeeded' : `failed (${why})`}`);
  }

  /** Moves a migration along: target up, transfer time, then the source finishes or the target goes. */
  function step(w: VmWorkload, s: VmState, active: PodObject[]): void {
    const m = s.migration!;
    const source = active.find((p) => p.metadata.name === m.source);
    const target = active.find((p) => p.metadata.name === m.target);
    if (!source) {
      // The VM died under the migration (its source was evicted, its node lost): the target has nothing to run.
      if (target) deps.deletePod(target, `migration ${m.job} aborted`);
      return endMigration(w, s, false, 'the source pod went');
    }
    if (!target) return endMigration(w, s, false, 'the target pod went');
    if (target.status?.phase !== 'Running') {
      if (now() - m.startedAt > MIGRATION_PENDING_MS) {
        deps.deletePod(target, `migration ${m.job} timed out`);
        endMigration(w, s, false, 'the target never ran');
      }
      return;
    }
    m.runningSince ??= now();
    if (now() - m.runningSince < m.takesMs) return;
    if (m.fails) {
      deps.deletePod(target, `migration ${m.job} failed`);
      return endMigration(w, s, false, 'the transfer broke off');
    }
    // The source's domain is gone: virt-launcher exits, the pod completes; it is deleted later, or at once.
    api.direct.patch(`/api/v1/namespaces/${w.spec.namespace}/pods/${m.source}/status`, {
      status: { phase: 'Succeeded', containerStatuses: [{ name: 'compute', state: { terminated: { exitCode: 0, finishedAt: new Date(now()).toISOString() } } }] },
    });
    trace(`virt-launcher ${w.spec.namespace}/${m.source} completed (migrated away)`);
    if (rng.chance(0.5)) deps.deletePod(source, `migration ${m.job} done`);
    // Some targets lose their migration marks afterwards, others keep them: either way it is the VM's pod now.
    if (rng.chance(0.5)) {
      api.direct.patch(`/api/v1/namespaces/${w.spec.namespace}/pods/${m.target}`, { metadata: { labels: { [MIGRATION_UID_LABEL]: null }, annotations: { [MIGRATION_NAME_ANNOTATION]: null } } });
      trace(`virt-launcher ${w.spec.namespace}/${m.target} no longer marked as a migration target`);
    }
    endMigration(w, s, true, '');
  }

  function reconcile(w: VmWorkload): void {
    if (!w.exists) return;
    const s = stateOf(w);
    if (!ensureObjects(w, s)) return;
    const pods = launchers(w, s.vmiUid);
    const active = pods.filter((p) => !p.metadata.deletionTimestamp && !finished(p));
    for (const p of pods) {
      const at = Date.parse((p.status?.containerStatuses?.[0] as { state?: { terminated?: { finishedAt?: string } } } | undefined)?.state?.terminated?.finishedAt ?? '');
      if (finished(p) && !p.metadata.deletionTimestamp && now() - at > FINISHED_LAUNCHER_TTL_MS) deps.deletePod(p, 'completed launcher');
    }
    if (s.migration) return step(w, s, active);
    if (active.length > 0) return;
    if (!s.launched) {
      const node = deps.pickNode();
      if (node && createLauncher(w, s, node)) s.launched = true;
      return;
    }
    // The VMI's launcher is gone (evicted, its node lost, deleted): the VM stopped, and it always runs again.
    restartVmi(w, 'its virt-launcher pod went');
  }

  function restartVmi(w: VmWorkload, why: string): void {
    const ns = w.spec.namespace;
    const vmi = api.direct.get<KubeObject>(vmiPath(ns, w.spec.name));
    if (!vmi || vmi.metadata.deletionTimestamp) return;
    const s = stateOf(w);
    if (s.migration) endMigration(w, s, false, 'the VM restarted');
    try {
      // Foreground: the VMI stays until its launcher pods are gone, so the next VMI never runs beside the last.
      api.direct.delete(vmiPath(ns, w.spec.name), { propagationPolicy: 'Foreground', preconditions: { uid: vmi.metadata.uid ?? '' } });
      stats.restarts++;
      trace(`VM ${ns}/${w.spec.name} restarts (${why}): VMI uid ${(vmi.metadata.uid ?? '').slice(0, 8)} deleted`);
    } catch {
      // Gone already.
    }
  }

  return {
    stats,
    reconcile,
    migrate(w) {
      if (!w.exists) return;
      const s = stateOf(w);
      if (s.migration || !s.vmiUid) return;
      const active = launchers(w, s.vmiUid).filter((p) => !p.metadata.deletionTimestamp && !finished(p));
      const source = active.length === 1 ? active[0]! : undefined;
      if (!source || source.status?.phase !== 'Running') return;
      const node = deps.pickNode(source.spec?.nodeName);
      if (!node) return;
      const job = `kubevirt-migrate-vm-${rng.hex(5)}`;
      const h = rng.hex(32);
      const uid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
      const fails = rng.chance(w.spec.migrationFailRate);
      const takesMs = rng.between(w.spec.migrationMs[0], w.spec.migrationMs[1]);
      const target = createLauncher(w, s, node, { job, uid });
      if (!target) return;
      stats.migrations++;
      s.migration = { job, uid, source: source.metadata.name ?? '', target, startedAt: now(), fails, takesMs };
      trace(`migration ${job} of VM ${w.spec.namespace}/${w.spec.name} from ${source.spec?.nodeName} to ${node} started`);
    },
    restart(w) {
      if (w.exists) restartVmi(w, 'restart');
    },
    remove(w) {
      const s = stateOf(w);
      if (s.migration) endMigration(w, s, false, 'the VM was deleted');
      try {
        api.direct.delete(vmPath(w.spec.namespace, w.spec.name), { propagationPolicy: 'Background' });
      } catch {
        // Gone already, with its namespace.
      }
    },
  };
}
