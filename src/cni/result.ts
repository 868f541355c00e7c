/**
 * Shapes what the plugin prints: the CNI result of ADD, the VERSION answer
 * and the error object, each in the form the config's cniVersion defines.
 */
import type { AllocateResponse } from '../api/protocol.ts';
import { ERROR_TABLE } from '../ipam/errors.ts';
import type { TidepoolError } from '../ipam/errors.ts';
import { SUPPORTED_VERSIONS, ipsCarryVersion } from './versions.ts';
import type { CniVersion } from './versions.ts';

export interface CniIp {
  readonly version?: '4' | '6';
  readonly address: string;
  readonly gateway?: string;
}

export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
}

/** The ADD result; serialised as is, so its key order is the output's. */
export interface CniResult {
  readonly cniVersion: CniVersion;
  readonly ips: readonly CniIp[];
  readonly routes: readonly CniRoute[];
  readonly dns: Record<string, never>;
}

/** The error object every failing verb prints on stdout. */
export interface CniError {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/**
 * The ADD result for `version`. IPs keep the agent's order and never carry
 * `interface` (an IPAM plugin creates none); `gateway`/`gw` appear only when
 * set; `version` appears on IPs only before 1.0.0.
 */
export function planResult(version: CniVersion, response: AllocateResponse): CniResult {
  const withFamily = ipsCarryVersion(version);
  const ips = response.ips.map((ip): CniIp => {
    const family: CniIp['version'] = ip.family === 6 ? '6' : '4';
    return {
      ...(withFamily ? { version: family } : {}),
      address: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
    };
  });
  const routes = response.routes.map((r): CniRoute => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
  return { cniVersion: version, ips, routes, dns: {} };
}

/** The VERSION answer; `version` is echoed as the spec asks, whatever it is. */
export function planVersionResult(version: string): { cniVersion: string; supportedVersions: readonly string[] } {
  return { cniVersion: version, supportedVersions: SUPPORTED_VERSIONS };
}

/**
 * The error object for stdout. `details` is the tidepool code followed by
 * its details as JSON, so a human reads the code and a script can parse the rest.
 */
export function planError(version: string, err: TidepoolError): CniError {
  const details = err.details && Object.keys(err.details).length > 0 ? `${err.code} ${JSON.stringify(err.details)}` : err.code;
  return { cniVersion: version, code: ERROR_TABLE[err.code].cni, msg: err.message, details };
}
