/**
 * caBundle merging: each controller replica adds its own CA to the webhook
 * configuration rather than replacing the others', so every replica behind
 * the Service stays reachable while replicas come and go.
 */
import { X509Certificate } from 'node:crypto';

/** How many CAs a caBundle keeps: two replicas plus a rolling update's two new ones. */
export const MAX_BUNDLE_CAS = 4;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificate blocks of a PEM text, each normalized to end in one newline. */
export function splitPemCertificates(text: string): string[] {
  return (text.match(PEM_BLOCK) ?? []).map((b) => `${b.trim()}\n`);
}

function expired(pem: string, now: number): boolean {
  try {
    return Date.parse(new X509Certificate(pem).validTo) <= now;
  } catch {
    // Unparsable blocks are dropped too: they can only make the API server's TLS setup fail.
    return true;
  }
}

/**
 * The caBundle (base64 of concatenated PEM, as stored in a webhook's
 * clientConfig) that adds `ownCaPem` to `current`: other replicas' CAs are
 * kept, oldest first, minus expired or unreadable ones, and at most `max`
 * remain with ours last. Undefined when `current` already holds our CA, so
 * a replica never rewrites the object just to reorder it.
 */
export function planCaBundle(current: string | undefined, ownCaPem: string, now: number, max = MAX_BUNDLE_CAS): string | undefined {
  const own = splitPemCertificates(ownCaPem)[0];
  if (own === undefined) throw new Error('the CA is not a PEM certificate');
  const text = current ? Buffer.from(current, 'base64').toString('utf8') : '';
  const existing = splitPemCertificates(text);
  if (existing.includes(own)) return undefined;
  const kept = existing.filter((pem, i) => existing.indexOf(pem) === i && !expired(pem, now));
  const next = [...kept, own].slice(-Math.max(1, max));
  return Buffer.from(next.join(''), 'utf8').toString('base64');
}

/** A ValidatingWebhookConfiguration's `webhooks`, as far as caBundle injection touches them. */
export interface WebhookEntry {
  name?: string;
  clientConfig?: { caBundle?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * The `webhooks` list with our CA merged into every entry's caBundle, or
 * undefined when every entry already trusts it. Every entry: the
 * configuration is tidepool's own and all of its webhooks call this Service.
 */
export function planWebhookCaBundles(webhooks: readonly WebhookEntry[], ownCaPem: string, now: number, max = MAX_BUNDLE_CAS): WebhookEntry[] | undefined {
  let changed = false;
  const next = webhooks.map((w) => {
    const bundle = planCaBundle(w.clientConfig?.caBundle, ownCaPem, now, max);
    if (bundle === undefined) return w;
    changed = true;
    return { ...w, clientConfig: { ...w.clientConfig, caBundle: bundle } };
  });
  return changed ? next : undefined;
}
