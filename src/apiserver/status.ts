// Error replies shaped like the real API server's metav1.Status, so that
// client code under test sees the same reason/code/message it would in a
// cluster and its error handling is exercised for real.

/** metav1.StatusCause as the real API server sends it. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** metav1.StatusDetails as the real API server sends it. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** A metav1.Status body. `reason` is absent where the real server leaves it empty. */
export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** Thrown by handlers to reply with a Status; the HTTP code is `status.code`. */
export class ApiError extends Error {
  readonly status: StatusObject;
  constructor(status: StatusObject) {
    super(status.message ?? status.reason ?? `status ${status.code}`);
    this.status = status;
  }
}

/** Names a resource the way API errors do: `pods`, `statefulsets.apps`, `ippools.tidepool.dev`. */
export interface ResourceRef {
  group: string;
  plural: string;
  kind: string;
}

export function qualifiedResource(r: ResourceRef): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

/** `Pod`, `StatefulSet.apps`, `IPPool.tidepool.dev`: how Invalid errors name the kind. */
export function qualifiedKind(r: ResourceRef): string {
  return r.group ? `${r.kind}.${r.group}` : r.kind;
}

function resourceDetails(r: ResourceRef, name: string): StatusDetails {
  const d: StatusDetails = { name };
  if (r.group) d.group = r.group;
  d.kind = r.plural;
  return d;
}

export function failure(code: number, reason: string | undefined, message: string, details?: StatusDetails): ApiError {
  // Key order as the real server writes them: message, reason, details, code.
  const s = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message } as StatusObject;
  if (reason !== undefined) s.reason = reason;
  // The real server omits `details` when nothing is known about the object.
  if (details !== undefined) s.details = details;
  s.code = code;
  return new ApiError(s);
}

export const notFound = (r: ResourceRef, name: string): ApiError =>
  failure(404, 'NotFound', `${qualifiedResource(r)} "${name}" not found`, resourceDetails(r, name));

export const alreadyExists = (r: ResourceRef, name: string): ApiError =>
  failure(409, 'AlreadyExists', `${qualifiedResource(r)} "${name}" already exists`, resourceDetails(r, name));

export const conflict = (r: ResourceRef, name: string, why: string): ApiError =>
  failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(r)} "${name}": ${why}`, resourceDetails(r, name));

export const OBJECT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

export const forbidden = (r: ResourceRef, name: string, why: string): ApiError =>
  failure(403, 'Forbidden', `${qualifiedResource(r)} "${name}" is forbidden: ${why}`, resourceDetails(r, name));

export const badRequest = (message: string): ApiError => failure(400, 'BadRequest', message);

export const methodNotAllowed = (): ApiError =>
  failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');

export const pageNotFound = (): ApiError => failure(404, 'NotFound', 'the server could not find the requested resource', {});

export const unsupportedMediaType = (accepted: string[]): ApiError =>
  failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);

export const internalError = (message: string): ApiError =>
  failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });

export const expired = (message: string): ApiError => failure(410, 'Expired', message);

/** A field error in the real server's text form: `<field>: <Type>: <detail>`. */
export interface FieldError {
  field: string;
  type: 'Invalid value' | 'Required value' | 'Forbidden' | 'Unsupported value' | 'Duplicate value' | 'Too long' | 'Too many' | 'Too short' | 'Too few' | 'Not found' | 'Internal error';
  detail: string;
  /** The cause's reason when the type's usual one is not it: a type mismatch reads `Invalid value` but is `FieldValueTypeInvalid`. */
  reason?: string;
}

const CAUSE_REASONS: Record<FieldError['type'], string> = {
  'Invalid value': 'FieldValueInvalid',
  'Required value': 'FieldValueRequired',
  Forbidden: 'FieldValueForbidden',
  'Unsupported value': 'FieldValueNotSupported',
  'Duplicate value': 'FieldValueDuplicate',
  'Too long': 'FieldValueTooLong',
  'Too many': 'FieldValueTooMany',
  'Too short': 'FieldValueTooShort',
  'Too few': 'FieldValueTooFew',
  'Not found': 'FieldValueNotFound',
  'Internal error': 'InternalError',
};

export function fieldErrorText(e: FieldError): string {
  return `${e.field}: ${e.type}${e.detail ? `: ${e.detail}` : ''}`;
}

/**
 * Parses a field error written as text (`spec.cidr: Invalid value: "x": why`), the form
 * `registerKind`'s `validate` returns; text that fits no known type becomes an Invalid value.
 */
export function parseFieldError(text: string): FieldError {
  const m = /^([^:]*): (Invalid value|Required value|Forbidden|Unsupported value|Duplicate value|Too long|Too many|Too short|Too few|Not found|Internal error)(?:: ([\s\S]*))?$/.exec(text);
  if (m) return { field: m[1] ?? '', type: m[2] as FieldError['type'], detail: m[3] ?? '' };
  const colon = text.indexOf(': ');
  if (colon > 0) return { field: text.slice(0, colon), type: 'Invalid value', detail: text.slice(colon + 2) };
  return { field: '', type: 'Invalid value', detail: text };
}

/** 422 Invalid listing field errors, worded like apimachinery's NewInvalid (the message lists each distinct text once; the causes keep them all). */
export function invalid(r: ResourceRef, name: string, errors: FieldError[]): ApiError {
  const texts = [...new Set(errors.map(fieldErrorText))];
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  // StatusDetails' name is omitempty: an options object's error has none.
  const details: StatusDetails = name ? { name } : {};
  if (r.group) details.group = r.group;
  details.kind = r.kind;
  details.causes = errors.map((e) => ({
    reason: e.reason ?? CAUSE_REASONS[e.type],
    message: `${e.type}${e.detail ? `: ${e.detail}` : ''}`,
    field: e.field,
  }));
  return failure(422, 'Invalid', `${qualifiedKind(r)} "${name}" is invalid: ${summary}`, details);
}

/** The request options types (meta.k8s.io) whose invalid values are a 422. */
export type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'ListOptions' | 'DeleteOptions';

/** The 422 the real server answers invalid request options with: `PatchOptions.meta.k8s.io "" is invalid: ...`. */
export function optionsInvalid(kind: OptionsKind, errors: FieldError[]): ApiError {
  return invalid({ group: 'meta.k8s.io', plural: kind.toLowerCase(), kind }, '', errors);
}

/** The reason the real server pairs with a bare HTTP code, for injected faults. */
export function reasonForCode(code: number): string | undefined {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    406: 'NotAcceptable',
    409: 'Conflict',
    410: 'Gone',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[code];
}

/**
 * The real server's answer to a read at a resourceVersion it has not reached
 * (storage.NewTooLargeResourceVersionError): the watch cache asks to retry
 * after 1 s, storage (an exact read past etcd's revision) gives no retry.
 */
export function tooLargeResourceVersion(requested: number, current: number, retryAfterSeconds = 1): ApiError {
  const details: StatusDetails = { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }] };
  if (retryAfterSeconds > 0) details.retryAfterSeconds = retryAfterSeconds;
  return failure(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, details);
}
