/**
 * The webhook's TLS material, made at start-up and kept in memory only: a
 * self-signed CA and a serving certificate it signs (ECDSA P-256, SHA-256).
 * No Secret and no cert-manager: every replica makes its own pair and adds
 * its CA to the webhook configuration's caBundle (ca-bundle.ts).
 *
 * The X.509 DER is written here directly: the handful of structures a CA
 * and a server certificate need is small, and it keeps a certificate
 * library out of the controller's dependencies.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

/** PEM texts of one replica's webhook certificates. */
export interface WebhookCertificates {
  /** The CA certificate: what goes into caBundle. */
  readonly caPem: string;
  /** The serving certificate, signed by the CA. */
  readonly certPem: string;
  /** The serving certificate's private key (PKCS#8). */
  readonly keyPem: string;
}

export interface CertificateOptions {
  /** DNS names and IP addresses the serving certificate is valid for. */
  readonly hosts: readonly string[];
  /** Issue time, from the injected clock. */
  readonly now: number;
  /** Validity; default 10 years, as the certificate dies with the process anyway. */
  readonly validForMs?: number;
  /** Common name of the CA; default `tidepool-controller-webhook-ca`. */
  readonly caName?: string;
}

/** Service of the chart through which the API server calls the webhook. */
export const WEBHOOK_SERVICE = 'tidepool-controller-webhook';

/**
 * The names a replica's serving certificate covers: every way the API server
 * may address the Service, plus loopback for tests and port-forwards.
 */
export function planWebhookHosts(namespace: string): string[] {
  return [
    `${WEBHOOK_SERVICE}.${namespace}.svc`,
    `${WEBHOOK_SERVICE}.${namespace}.svc.cluster.local`,
    `${WEBHOOK_SERVICE}.${namespace}`,
    WEBHOOK_SERVICE,
    'localhost',
    '127.0.0.1',
    '::1',
  ];
}

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;
// Clocks of the API server and this node may disagree a little.
const BACKDATE_MS = 60 * 60 * 1000;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

// ---- DER -----------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const octets = (b: Buffer) => tlv(0x04, b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 | n, inner);

/** A non-negative INTEGER from big-endian magnitude bytes. */
function integer(magnitude: Buffer): Buffer {
  let b = magnitude;
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [Number(arcs[0]! * 40n + arcs[1]!)];
  for (const arc of arcs.slice(2)) {
    const bytes: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** BIT STRING of named bits (bit 0 is the most significant bit of the first byte), trailing zeros trimmed as DER requires. */
function namedBits(bits: readonly number[]): Buffer {
  const last = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const unused = 7 - (last & 7);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 requires. */
function time(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2025-01-02T03:04:05.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

function name(commonName: string): Buffer {
  return seq(
    set(seq(oid(OID.organization), tlv(0x0c, Buffer.from('tidepool', 'utf8')))),
    set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, 'utf8')))),
  );
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function ipBytes(text: string): Buffer {
  if (isIP(text) === 4) return Buffer.from(text.split('.').map(Number));
  // Expand `::` so the address becomes eight groups of 16 bits.
  const [head = '', tail] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(all.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

function subjectAltNames(hosts: readonly string[]): Buffer {
  return seq(...hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii')))));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
function keyIdentifier(spki: Buffer): Buffer {
  // The BIT STRING is the last element of the SPKI; for P-256 it is the final 65 bytes.
  return createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
}

function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

interface Issue {
  readonly subject: string;
  readonly issuer: string;
  readonly subjectKey: KeyObject;
  readonly issuerKey: KeyObject;
  readonly issuerSpki: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly ca: boolean;
  readonly hosts: readonly string[];
}

function issue(c: Issue): Buffer {
  const spki = c.subjectKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const extensions = c.ca
    ? [
        extension(OID.basicConstraints, true, seq(bool(true), integer(Buffer.from([0])))),
        extension(OID.keyUsage, true, namedBits([0, 5, 6])), // digitalSignature, keyCertSign, cRLSign
        extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spki))),
      ]
    : [
        extension(OID.basicConstraints, true, seq()),
        extension(OID.keyUsage, true, namedBits([0])), // digitalSignature
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, subjectAltNames(c.hosts)),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyIdentifier(c.issuerSpki)))),
      ];
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(c.issuer),
    seq(time(c.notBefore), time(c.notAfter)),
    name(c.subject),
    spki,
    explicit(3, seq(...extensions)),
  );
  // Node's ECDSA signatures are DER-encoded Ecdsa-Sig-Value, exactly what X.509 carries.
  const signature = sign('sha256', tbs, c.issuerKey);
  return seq(tbs, algorithm, bitString(signature));
}

/** Makes a fresh CA and a serving certificate for `hosts`, signed by it. */
export function createWebhookCertificates(opts: CertificateOptions): WebhookCertificates {
  if (opts.hosts.length === 0) throw new Error('a serving certificate needs at least one host');
  const notBefore = opts.now - BACKDATE_MS;
  const notAfter = opts.now + (opts.validForMs ?? TEN_YEARS_MS);
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caName = opts.caName ?? `${WEBHOOK_SERVICE}-ca`;
  const caSpki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const caDer = issue({ subject: caName, issuer: caName, subjectKey: ca.publicKey, issuerKey: ca.privateKey, issuerSpki: caSpki, notBefore, notAfter, ca: true, hosts: [] });
  const certDer = issue({
    subject: opts.hosts[0]!,
    issuer: caName,
    subjectKey: leaf.publicKey,
    issuerKey: ca.privateKey,
    issuerSpki: caSpki,
    notBefore,
    notAfter,
    ca: false,
    hosts: opts.hosts,
  });
  return {
    caPem: toPem('CERTIFICATE', caDer),
    certPem: toPem('CERTIFICATE', certDer),
    keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
