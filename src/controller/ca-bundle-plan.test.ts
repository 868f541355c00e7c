import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWebhookCertificates } from './certificates.ts';
import { MAX_BUNDLE_CAS, planCaBundle, planWebhookCaBundles, splitPemCertificates } from './ca-bundle-plan.ts';

const NOW = Date.UTC(2025, 5, 1);
const newCa = (validForMs?: number) => createWebhookCertificates({ hosts: ['localhost'], now: NOW, ...(validForMs === undefined ? {} : { validForMs }) }).caPem;
const b64 = (...pems: string[]) => Buffer.from(pems.join(''), 'utf8').toString('base64');
const decode = (bundle: string | undefined) => splitPemCertificates(Buffer.from(bundle ?? '', 'base64').toString('utf8'));

describe('planCaBundle', () => {
  const a = newCa();
  const b = newCa();

  test('an empty bundle becomes ours alone', () => {
    assert.deepEqual(decode(planCaBundle('', a, NOW)), [a]);
    assert.deepEqual(decode(planCaBundle(undefined, a, NOW)), [a]);
  });

  test('another replica\'s CA is kept, ours appended', () => {
    assert.deepEqual(decode(planCaBundle(b64(b), a, NOW)), [b, a]);
  });

  test('nothing to do when ours is already there, wherever it is', () => {
    assert.equal(planCaBundle(b64(a, b), a, NOW), undefined);
  });

  test('at most MAX_BUNDLE_CAS remain, the oldest dropped first', () => {
    const others = Array.from({ length: MAX_BUNDLE_CAS }, () => newCa());
    assert.deepEqual(decode(planCaBundle(b64(...others), a, NOW)), [...others.slice(1), a]);
    assert.deepEqual(decode(planCaBundle(b64(b), a, NOW, 1)), [a]);
  });

  test('expired, unreadable and duplicate blocks are dropped', () => {
    const shortLived = newCa(1_000);
    const garbage = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n';
    assert.deepEqual(decode(planCaBundle(b64(shortLived, garbage, b, b), a, NOW + 60_000)), [b, a]);
  });

  test('PEM text around the blocks and CRLF line ends do not matter', () => {
    const messy = `# comment\r\n${b.replace(/\n/g, '\r\n')}trailing`;
    const out = decode(planCaBundle(Buffer.from(messy).toString('base64'), a, NOW));
    assert.equal(out.length, 2);
    assert.equal(out[1], a);
  });
});

describe('planWebhookCaBundles', () => {
  const a = newCa();
  const b = newCa();
  test('every webhook of the configuration gets the CA, other fields untouched', () => {
    const next = planWebhookCaBundles(
      [
        { name: 'validate.tidepool.dev', clientConfig: { caBundle: b64(b), service: { name: 's', namespace: 'n' } }, sideEffects: 'None' },
        { name: 'other.tidepool.dev', clientConfig: { caBundle: '' } },
      ],
      a,
      NOW,
    );
    assert.ok(next);
    assert.deepEqual(decode(next[0]?.clientConfig?.caBundle), [b, a]);
    assert.deepEqual(next[0]?.clientConfig?.['service'], { name: 's', namespace: 'n' });
    assert.equal(next[0]?.['sideEffects'], 'None');
    assert.deepEqual(decode(next[1]?.clientConfig?.caBundle), [a]);
  });
  test('undefined when every webhook already trusts our CA', () => {
    assert.equal(planWebhookCaBundles([{ name: 'x', clientConfig: { caBundle: b64(b, a) } }], a, NOW), undefined);
  });
});
