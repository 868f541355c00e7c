// List and watch parameters (metav1.ListOptions) as the real server reads
// and validates them (ValidateListOptions, validateWatchOptions): a 422 on
// ListOptions.meta.k8s.io for combinations it forbids.
import { queryBool } from './params.ts';
import { parseCount, parseRv } from './query.ts';
import type { FieldError } from './status.ts';
import { optionsInvalid } from './status.ts';
import { quote } from './validation.ts';

export interface ListOptions {
  /** As sent: "" (unset), "0" or a revision (checked to be one). */
  readonly resourceVersion: string;
  readonly resourceVersionMatch: string;
  readonly continueToken: string;
  readonly limit: number | undefined;
  readonly sendInitialEvents: boolean | undefined;
  readonly allowWatchBookmarks: boolean;
  readonly timeoutSeconds: number | undefined;
}

function listErrors(o: ListOptions): FieldError[] {
  const errs: FieldError[] = [];
  const match = o.resourceVersionMatch;
  const forbid = (field: string, detail: string) => errs.push({ field, type: 'Forbidden', detail });
  if (match) {
    if (!o.resourceVersion) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (o.continueToken) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    if (match !== 'Exact' && match !== 'NotOlderThan')
      errs.push({ field: 'resourceVersionMatch', type: 'Unsupported value', detail: `${quote(match)}: supported values: "Exact", "NotOlderThan", ""` });
    if (match === 'Exact' && o.resourceVersion === '0') forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  if (o.sendInitialEvents !== undefined) forbid('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  return errs;
}

function watchErrors(o: ListOptions): FieldError[] {
  const errs: FieldError[] = [];
  const match = o.resourceVersionMatch;
  const forbid = (field: string, detail: string) => errs.push({ field, type: 'Forbidden', detail });
  if (o.sendInitialEvents !== undefined && match !== 'NotOlderThan') forbid('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
  if (match) {
    if (o.sendInitialEvents === undefined) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
    if (match !== 'NotOlderThan') errs.push({ field: 'resourceVersionMatch', type: 'Unsupported value', detail: `${quote(match)}: supported values: "NotOlderThan"` });
    if (o.continueToken) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
  }
  return errs;
}

/** The request's ListOptions, validated for a list or a watch. */
export function parseListOptions(query: URLSearchParams, watch: boolean): ListOptions {
  const resourceVersion = query.get('resourceVersion') ?? '';
  if (resourceVersion !== '') parseRv(resourceVersion);
  const o: ListOptions = {
    resourceVersion,
    resourceVersionMatch: query.get('resourceVersionMatch') ?? '',
    continueToken: query.get('continue') ?? '',
    limit: parseCount(query, 'limit'),
    sendInitialEvents: queryBool(query, 'sendInitialEvents'),
    allowWatchBookmarks: queryBool(query, 'allowWatchBookmarks') ?? false,
    timeoutSeconds: parseCount(query, 'timeoutSeconds'),
  };
  const errs = watch ? watchErrors(o) : listErrors(o);
  if (errs.length) throw optionsInvalid('ListOptions', errs);
  return o;
}
