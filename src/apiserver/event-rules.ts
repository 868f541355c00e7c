// The real API server's validation of core/v1 Events created or updated
// through /api/v1 (legacyValidateEvent in pkg/apis/core/validation/events.go),
// so an Event a real cluster would refuse is refused here too.
import type { FieldError } from './status.ts';
import { qualifiedName } from './validation.ts';

const LIMITS = { reportingInstance: 128, action: 128, reason: 128, message: 1024 } as const;

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * An Event without `eventTime` (the core/v1 recorder's kind) must live in its
 * involved object's namespace, or, for a cluster-scoped object, in `default`
 * (or carry no namespace). One with `eventTime` may also sit in kube-system
 * for a cluster-scoped object, and must name its reporting controller,
 * instance, action and reason.
 */
export function validateEvent(obj: Record<string, unknown> & { metadata: { namespace?: string } }): FieldError[] {
  const errs: FieldError[] = [];
  const involved = (typeof obj['involvedObject'] === 'object' && obj['involvedObject'] !== null ? obj['involvedObject'] : {}) as Record<string, unknown>;
  const involvedNamespace = text(involved['namespace']);
  const namespace = obj.metadata.namespace ?? '';
  const mismatch: FieldError = { field: 'involvedObject.namespace', type: 'Invalid value', detail: `${JSON.stringify(involvedNamespace)}: does not match event.namespace` };
  if (!text(obj['eventTime'])) {
    if (involvedNamespace === '' ? namespace !== '' && namespace !== 'default' : namespace !== involvedNamespace) errs.push(mismatch);
    return errs;
  }
  if (involvedNamespace === '' && namespace !== 'default' && namespace !== 'kube-system') errs.push(mismatch);
  // The Go field ReportingController is `reportingComponent` on the wire; errors name the Go field.
  const controller = text(obj['reportingComponent']);
  if (!controller) errs.push({ field: 'reportingController', type: 'Required value', detail: '' });
  // As in the real server, an empty one is also reported as not a qualified name.
  for (const e of qualifiedName(controller)) errs.push({ field: 'reportingController', type: 'Invalid value', detail: `${JSON.stringify(controller)}: ${e}` });
  for (const field of ['reportingInstance', 'action', 'reason'] as const) {
    const value = text(obj[field]);
    if (!value) errs.push({ field, type: 'Required value', detail: '' });
    if (value.length > LIMITS[field]) errs.push({ field, type: 'Invalid value', detail: `"": can have at most ${LIMITS[field]} characters` });
  }
  if (text(obj['message']).length > LIMITS.message) errs.push({ field: 'message', type: 'Invalid value', detail: `"": can have at most ${LIMITS.message} characters` });
  return errs;
}
