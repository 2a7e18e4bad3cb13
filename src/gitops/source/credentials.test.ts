import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { parseGitCredentials } from './credentials.ts';
import { secretData } from './secrets.ts';

const data = (values: Record<string, string>): Map<string, Buffer> =>
  secretData({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });

function invalid(pattern: RegExp, secretValue?: string): (error: unknown) => boolean {
  return (error) => error instanceof SluiceError && error.code === ErrorCodes.SecretInvalid && pattern.test(error.message)
    && (secretValue === undefined || !`${error.message} ${error.hint ?? ''}`.includes(secretValue));
}

test('basic auth and bearer token', () => {
  assert.deepEqual(parseGitCredentials(data({ username: 'git', password: 'tok' }), 'Secret ns/s').basic, { username: 'git', password: 'tok' });
  const bearer = parseGitCredentials(data({ bearerToken: 'abc\n' }), 'Secret ns/s');
  assert.equal(bearer.bearerToken, 'abc');
  assert.equal(bearer.basic, undefined);
});

test('incomplete or ambiguous Secrets are SecretInvalid and never echo values', () => {
  assert.throws(() => parseGitCredentials(data({ password: 'hunter2' }), 'Secret ns/s'), invalid(/Secret ns\/s has password but no username/, 'hunter2'));
  assert.throws(() => parseGitCredentials(data({ username: 'u' }), 'Secret ns/s'), invalid(/username but no password/));
  assert.throws(() => parseGitCredentials(data({ username: 'u', password: 'p', bearerToken: 't0k3n' }), 'Secret ns/s'), invalid(/both/, 't0k3n'));
  assert.throws(() => parseGitCredentials(data({ token: 'x' }), 'Secret ns/s'), invalid(/none of the keys/));
  assert.throws(() => parseGitCredentials(data({ 'ca.crt': 'not a cert' }), 'Secret ns/s'), invalid(/without a PEM certificate/));
  assert.throws(() => parseGitCredentials(data({ 'ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }), 'Secret ns/s'), invalid(/not a valid certificate/));
});

test('ca.crt (or caFile) becomes an https agent that also trusts the system CAs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ca-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=test-ca'], { stdio: 'ignore' });
    const pem = fs.readFileSync(path.join(dir, 'c.pem'), 'utf8');
    for (const key of ['ca.crt', 'caFile']) {
      const creds = parseGitCredentials(data({ [key]: pem }), 'Secret ns/s');
      const ca = creds.httpsAgent?.options.ca;
      assert.ok(Array.isArray(ca) && ca.length > 1 && ca.includes(pem.trim()), key);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
