// DeleteOptions as the real server reads them: from the body when one is
// sent, else from the query (never both), then validated as
// ValidateDeleteOptions does (a 422 on DeleteOptions.meta.k8s.io).
import { isRecord } from './kinds.ts';
import { queryBool } from './params.ts';
import type { ApiRequest } from './request.ts';
import type { FieldError } from './status.ts';
import { badRequest, optionsInvalid } from './status.ts';
import { quote } from './validation.ts';

export type PropagationPolicy = 'Orphan' | 'Background' | 'Foreground';

/** metav1.DeleteOptions, the parts the server honours. */
export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: PropagationPolicy;
  /** Deprecated in favour of propagationPolicy, still honoured first. */
  orphanDependents?: boolean;
}

const DRY_RUN = 'dryRun is not supported by the tidepool fake API server';

function typeError(field: string, got: unknown, want: string): never {
  const what = Array.isArray(got) ? 'array' : got === null ? 'null' : typeof got === 'object' ? 'object' : typeof got;
  throw badRequest(`json: cannot unmarshal ${what} into Go struct field DeleteOptions.${field} of type ${want}`);
}

function fromBody(body: unknown): DeleteOptions {
  const opts: DeleteOptions = {};
  if (!isRecord(body)) return opts;
  const { gracePeriodSeconds: g, preconditions: p, propagationPolicy: pp, orphanDependents: o, dryRun } = body;
  if (Array.isArray(dryRun) && dryRun.length > 0) throw badRequest(DRY_RUN);
  if (g !== undefined && g !== null) {
    if (typeof g !== 'number' || !Number.isInteger(g)) typeError('gracePeriodSeconds', g, 'int64');
    opts.gracePeriodSeconds = g;
  }
  if (isRecord(p)) {
    opts.preconditions = {};
    if (typeof p['uid'] === 'string') opts.preconditions.uid = p['uid'];
    if (typeof p['resourceVersion'] === 'string') opts.preconditions.resourceVersion = p['resourceVersion'];
  }
  if (pp !== undefined && pp !== null) {
    if (typeof pp !== 'string') typeError('propagationPolicy', pp, 'v1.DeletionPropagation');
    opts.propagationPolicy = pp as PropagationPolicy;
  }
  if (o !== undefined && o !== null) {
    if (typeof o !== 'boolean') typeError('orphanDependents', o, 'bool');
    opts.orphanDependents = o;
  }
  return opts;
}

function fromQuery(query: URLSearchParams): DeleteOptions {
  const opts: DeleteOptions = {};
  if (query.getAll('dryRun').some((v) => v !== '')) throw badRequest(DRY_RUN);
  const g = query.get('gracePeriodSeconds');
  if (g !== null && g !== '') {
    if (!/^-?\d+$/.test(g)) throw badRequest(`gracePeriodSeconds: Invalid value: ${JSON.stringify(g)}: must be an integer`);
    opts.gracePeriodSeconds = Number(g);
  }
  const pp = query.get('propagationPolicy');
  if (pp !== null && pp !== '') opts.propagationPolicy = pp as PropagationPolicy;
  const o = queryBool(query, 'orphanDependents');
  if (o !== undefined) opts.orphanDependents = o;
  return opts;
}

function bodyValue(req: ApiRequest): unknown {
  if (!req.body) return undefined;
  if ('value' in req.body) return req.body.value;
  if (req.body.bytes.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(req.body.bytes).toString('utf8'));
  } catch (e) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** ValidateDeleteOptions: the propagation policy is one of three, and not given together with orphanDependents. */
export function validateDeleteOptions(opts: DeleteOptions): void {
  const errs: FieldError[] = [];
  const pp = opts.propagationPolicy;
  if (opts.orphanDependents !== undefined && pp !== undefined)
    errs.push({ field: 'propagationPolicy', type: 'Invalid value', detail: `${quote(pp)}: orphanDependents and deletionPropagation cannot be both set` });
  if (pp !== undefined && pp !== 'Foreground' && pp !== 'Background' && pp !== 'Orphan')
    errs.push({ field: 'propagationPolicy', type: 'Unsupported value', detail: `${quote(pp)}: supported values: "Foreground", "Background", "Orphan", "nil"` });
  if (errs.length) throw optionsInvalid('DeleteOptions', errs);
}

/** The request's DeleteOptions: its body if it has one, else its query parameters; validated. */
export function decodeDeleteOptions(req: ApiRequest): DeleteOptions {
  const body = bodyValue(req);
  const opts = body !== undefined ? fromBody(body) : fromQuery(req.query);
  validateDeleteOptions(opts);
  return opts;
}
