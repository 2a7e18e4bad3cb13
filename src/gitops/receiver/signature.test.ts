import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { sameSecret, signBody, verifyHmacSignature, webhookPath } from './signature.ts';

test('webhook path is Flux\'s sha256(token + name + namespace)', () => {
  const expected = createHash('sha256').update('s3cretgithub-receiverflux-system').digest('hex');
  assert.equal(webhookPath('s3cret', 'github-receiver', 'flux-system'), `/hook/${expected}`);
  assert.notEqual(webhookPath('s3cret', 'a', 'b'), webhookPath('s3cret2', 'a', 'b'));
});

test('HMAC signatures: GitHub\'s documented example, wrong token, tampered body, bad headers', () => {
  // From GitHub's "Validating webhook deliveries" documentation.
  const body = Buffer.from('Hello, World!');
  const header = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  assert.ok(verifyHmacSignature(header, body, "It's a Secret to Everybody"));
  assert.ok(!verifyHmacSignature(header, body, 'another secret'));
  assert.ok(!verifyHmacSignature(header, Buffer.from('Hello, World?'), "It's a Secret to Everybody"));
  for (const bad of [undefined, '', 'sha256=', 'sha256=zz', 'md5=abc', header.slice(0, -2), `sha1=${createHmac('sha1', 'k').update(body).digest('hex')}`]) {
    assert.ok(!verifyHmacSignature(bad, body, 'k'), String(bad));
  }
  assert.ok(verifyHmacSignature(signBody(body, 'k', 'sha512'), body, 'k'));
  assert.ok(!verifyHmacSignature(signBody(body, 'k', 'sha512'), body, 'k', ['sha256']));
  assert.ok(verifyHmacSignature(signBody(body, 'k').toUpperCase().replace('SHA256', 'sha256'), body, 'k'), 'hex case does not matter');
});

test('sameSecret compares any lengths', () => {
  assert.ok(sameSecret('token', 'token'));
  assert.ok(!sameSecret('token', 'token2'));
  assert.ok(!sameSecret('', 'x'));
});
