import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlertProvider, AlertProviderSpec } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { parseHeaders, resolveProvider, type SecretData, type SecretSource } from './secrets.ts';

function provider(spec: Partial<AlertProviderSpec>): AlertProvider {
  return { apiVersion: 'sluice.dev/v1alpha1', kind: 'AlertProvider', metadata: { name: 'chat', namespace: 'team' }, spec: { type: 'slack', ...spec } };
}

function source(secrets: Record<string, SecretData>): SecretSource {
  return { get: (namespace, name) => Promise.resolve(secrets[`${namespace}/${name}`]) };
}

const address = 'https://hooks.slack.com/services/T/B/S3CRET';

describe('provider resolution', () => {
  test('address and token come from the Secret, channel and timeout from the spec', async () => {
    const resolved = await resolveProvider(provider({ secretRef: { name: 'hook' }, channel: '#ops', timeout: '2s' }),
      source({ 'team/hook': { address, token: 'tok', headers: 'X-Env: prod\nAuthorization: Basic abc' } }));
    assert.ok(resolved.ok);
    assert.deepEqual(resolved.provider.target, { address, token: 'tok', headers: { 'x-env': 'prod', authorization: 'Basic abc' }, channel: '#ops', username: undefined });
    assert.equal(resolved.provider.timeoutMs, 2000);
    assert.deepEqual(resolved.provider.secrets.sort(), [address, 'Basic abc', 'prod', 'tok'].sort());
  });

  test('problems name the Secret and the key, never a value', async () => {
    const cases: [AlertProvider, Record<string, SecretData>, string][] = [
      [provider({ secretRef: { name: 'gone' } }), {}, 'SecretNotFound'],
      [provider({ secretRef: { name: 'hook' } }), { 'team/hook': { token: 'x' } }, 'InvalidSecret'],
      [provider({ secretRef: { name: 'hook' } }), { 'team/hook': { address: 'ftp://S3CRET' } }, 'InvalidAddress'],
      [provider({ type: 'generic-hmac', secretRef: { name: 'hook' } }), { 'team/hook': { address } }, 'InvalidSecret'],
      [provider({ secretRef: { name: 'hook' } }), { 'team/hook': { address, headers: '- not a map S3CRET' } }, 'InvalidSecret'],
      [provider({ address, timeout: 'soon' }), {}, 'InvalidTimeout'],
      [provider({ address, proxy: 'socks5://S3CRET@proxy' }), {}, 'InvalidProxy'],
    ];
    for (const [p, secrets, reason] of cases) {
      const resolved = await resolveProvider(p, source(secrets));
      assert.ok(!resolved.ok, reason);
      assert.equal(resolved.reason, reason);
      assert.doesNotMatch(resolved.message, /S3CRET/);
    }
  });

  test('an unreadable Secret is a retryable problem that names the error code', async () => {
    const failing: SecretSource = { get: () => Promise.reject(new SluiceError(ErrorCodes.KubeUnavailable, 'connect ECONNREFUSED', { retryable: true })) };
    const resolved = await resolveProvider(provider({ secretRef: { name: 'hook' } }), failing);
    assert.ok(!resolved.ok);
    assert.equal(resolved.reason, 'SecretReadFailed');
    assert.equal(resolved.retryable, true);
    assert.match(resolved.message, /KUBE_UNAVAILABLE/);
  });

  test('spec.address is used when there is no Secret', async () => {
    const resolved = await resolveProvider(provider({ address }), source({}));
    assert.ok(resolved.ok);
    assert.equal(resolved.provider.target.address, address);
    assert.equal(resolved.provider.timeoutMs, 15_000);
  });

  test('headers', () => {
    assert.deepEqual(parseHeaders('{"X-A": "1", "X-B": 2}'), { 'x-a': '1', 'x-b': '2' });
    assert.deepEqual(parseHeaders(''), {});
    assert.throws(() => parseHeaders('Bad Header: x'), /not a valid HTTP header name/);
    assert.throws(() => parseHeaders('X-A: [1, 2]'), /must have a string value/);
  });
});
