import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createWebhookCertificates, planWebhookHosts } from './certificates.ts';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

describe('webhook certificates', () => {
  const certs = createWebhookCertificates({ hosts: planWebhookHosts('kube-system'), now: NOW });
  const ca = new X509Certificate(certs.caPem);
  const leaf = new X509Certificate(certs.certPem);

  test('the CA is a self-signed CA certificate', () => {
    assert.equal(ca.ca, true);
    assert.equal(ca.verify(ca.publicKey), true);
    assert.equal(ca.checkIssued(ca), true);
    assert.match(ca.subject, /CN=tidepool-controller-webhook-ca/);
  });

  test('the serving certificate is signed by the CA and is no CA itself', () => {
    assert.equal(leaf.ca, false);
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(leaf.checkIssued(ca), true);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  });

  test('covers the Service names of its namespace and loopback, nothing else', () => {
    for (const host of ['tidepool-controller-webhook.kube-system.svc', 'tidepool-controller-webhook.kube-system.svc.cluster.local', 'localhost']) {
      assert.equal(leaf.checkHost(host), host, host);
    }
    assert.equal(leaf.checkHost('tidepool-controller-webhook.default.svc'), undefined);
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkIP('::1'), '::1');
    assert.equal(leaf.checkIP('10.0.0.1'), undefined);
  });

  test('validity starts an hour back (clock skew) and lasts ten years', () => {
    assert.equal(Date.parse(leaf.validFrom), NOW - 3600_000);
    assert.equal(Date.parse(leaf.validTo), NOW + 10 * 365 * 24 * 3600_000);
    const far = createWebhookCertificates({ hosts: ['localhost'], now: NOW, validForMs: 40 * 365 * 24 * 3600_000 });
    // Past 2049 the time is a GeneralizedTime; it must still parse.
    assert.ok(Date.parse(new X509Certificate(far.certPem).validTo) > Date.UTC(2060, 0, 1));
  });

  test('the key matches the serving certificate', () => {
    const key = createPrivateKey(certs.keyPem);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(leaf.checkPrivateKey(key), true);
  });

  test('every call makes a new CA', () => {
    const other = createWebhookCertificates({ hosts: ['localhost'], now: NOW });
    assert.notEqual(other.caPem, certs.caPem);
    assert.notEqual(new X509Certificate(other.caPem).serialNumber, ca.serialNumber);
  });
});
