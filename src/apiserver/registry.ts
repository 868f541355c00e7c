// Which kinds the server serves, at which group and version. The router
// resolves every resource request here and discovery lists from it, so a
// kind added at run time (by a CustomResourceDefinition, or registerKind in
// tests) is reachable at once, and one removed is gone at once. Its objects live in
// the store; the registry only says where they are served.
import type { KindSpec } from './kinds.ts';
import type { KindState, Store } from './store.ts';

export interface KindRegistry {
  /** Serves a kind; throws if its group and plural are served already. */
  add(spec: KindSpec): KindState;
  /** Stops serving a kind and drops its objects (its CustomResourceDefinition is gone). */
  remove(group: string, plural: string): void;
  /** The kind served at group/version/plural, if any. */
  resolve(group: string, version: string, plural: string): KindState | undefined;
  /** A kind by `plural` or `plural.group` (`pods`, `ippools.tidepool.dev`); throws if unknown or ambiguous. */
  lookup(resource: string): KindState;
  /** Every served kind, in the order they were added. */
  all(): KindState[];
}

export function createKindRegistry(store: Store): KindRegistry {
  return {
    add: (spec) => store.addKind(spec),
    remove: (group, plural) => store.removeKind(group, plural),
    resolve(group, version, plural) {
      const k = store.kind(group, plural);
      return k && k.spec.version === version ? k : undefined;
    },
    lookup(resource) {
      const dot = resource.indexOf('.');
      if (dot > 0) {
        const k = store.kind(resource.slice(dot + 1), resource.slice(0, dot));
        if (k) return k;
      }
      const found = [...store.kinds.values()].filter((k) => k.spec.plural === resource);
      if (found.length !== 1) throw new Error(found.length ? `resource ${resource} is ambiguous; qualify it with its group` : `unknown resource ${resource}`);
      return found[0]!;
    },
    all: () => [...store.kinds.values()],
  };
}
