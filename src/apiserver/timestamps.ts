// Times as the API server writes them into objects: metav1.Time is RFC 3339
// in UTC with whole seconds.

export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
