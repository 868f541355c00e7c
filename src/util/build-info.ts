import { Gauge, type Registry } from 'prom-client';
import { TIDEPOOL_VERSION } from '../version.ts';

/** Which tidepool process exports a metric. */
export type Component = 'agent' | 'controller';

/**
 * Registers `tidepool_build_info{version,nodejs_version,component}`, always
 * 1, the naming guide's pseudo-metric: `count by (version)
 * (tidepool_build_info)` shows a rollout's progress, and joining on it puts
 * the version beside any other series of the same target.
 */
export function registerBuildInfo(registry: Registry, component: Component): void {
  const info = new Gauge({
    name: 'tidepool_build_info',
    help: 'Always 1; the labels say which tidepool version and Node.js runtime this process runs, and which component it is.',
    labelNames: ['version', 'nodejs_version', 'component'],
    registers: [registry],
  });
  info.set({ version: TIDEPOOL_VERSION, nodejs_version: process.versions.node, component }, 1);
}
