/**
 * CNI spec versions tidepool speaks and which verbs each one allows.
 */

/** Every cniVersion the plugin accepts, oldest first. VERSION prints this list. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** Used for VERSION without a config and for errors raised before the config's version is known. */
export const LATEST_VERSION: CniVersion = '1.1.0';

/** Every CNI_COMMAND value the plugin knows; anything else is code 4. */
export const VERBS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;

export type Verb = (typeof VERBS)[number];

/** True only for an exact member of SUPPORTED_VERSIONS (no ranges, no prefixes). */
export function isSupportedVersion(value: unknown): value is CniVersion {
  return typeof value === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(value);
}

/** True only for an exact, upper-case member of VERBS. */
export function isVerb(value: unknown): value is Verb {
  return typeof value === 'string' && (VERBS as readonly string[]).includes(value);
}

/** First spec version that defines each verb. */
const VERB_SINCE: Readonly<Record<Verb, CniVersion>> = {
  ADD: '0.3.0',
  DEL: '0.3.0',
  VERSION: '0.3.0',
  CHECK: '0.4.0',
  STATUS: '1.1.0',
  GC: '1.1.0',
};

/** The first version that has the verb, so a caller can say what the config would need. */
export function verbSince(verb: Verb): CniVersion {
  return VERB_SINCE[verb];
}

/** True when `version` defines `verb`; relies on SUPPORTED_VERSIONS being sorted. */
export function verbAllowed(verb: Verb, version: CniVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(version) >= SUPPORTED_VERSIONS.indexOf(VERB_SINCE[verb]);
}

/** Results before 1.0.0 carry `version: "4"|"6"` on each IP. */
export function ipsCarryVersion(version: CniVersion): boolean {
  return version === '0.3.0' || version === '0.3.1' || version === '0.4.0';
}
