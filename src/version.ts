/**
 * tidepool's release version: what `tidepool version` prints and
 * `tidepool_build_info{version}` exports. A test keeps it equal to
 * package.json's version and the chart's appVersion.
 */
export const TIDEPOOL_VERSION = '0.1.0';
