import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Errors } from 'isomorphic-git';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { mapGitError, redactUrl } from './git-errors.ts';

const url = 'https://git.example.com/org/repo.git';

function nested(code: string): Error {
  return Object.assign(new Error('wrapped'), { code: 'SomeWrapper', cause: Object.assign(new Error(`connect ${code}`), { code }) });
}

test('HTTP statuses map to auth, not-found, unreachable and protocol errors', () => {
  const auth = mapGitError(new Errors.HttpError(401, 'Unauthorized', ''), { url, secretName: 'creds' });
  assert.equal(auth.code, ErrorCodes.GitAuthFailed);
  assert.match(auth.message, /authentication to https:\/\/git\.example\.com\/org\/repo\.git failed \(HTTP 401 Unauthorized\)/);
  assert.match(auth.hint ?? '', /Secret creds/);
  assert.equal(mapGitError(new Errors.HttpError(403, 'Forbidden', ''), { url }).code, ErrorCodes.GitAuthFailed);
  assert.equal(mapGitError(new Errors.HttpError(404, 'Not Found', ''), { url }).code, ErrorCodes.GitRepositoryNotFound);
  const down = mapGitError(new Errors.HttpError(503, 'Service Unavailable', ''), { url });
  assert.equal(down.code, ErrorCodes.GitUnreachable);
  assert.equal(down.retryable, true);
  assert.equal(mapGitError(new Errors.HttpError(418, 'Teapot', ''), { url }).code, ErrorCodes.GitProtocolError);
  assert.equal(mapGitError(new Errors.SmartHttpError('<html>', ''), { url }).code, ErrorCodes.GitProtocolError);
});

test('network and TLS failures are GitUnreachable, found along the cause chain', () => {
  const refused = mapGitError(nested('ECONNREFUSED'), { url });
  assert.equal(refused.code, ErrorCodes.GitUnreachable);
  assert.equal(refused.message, 'cannot reach https://git.example.com: connection refused (ECONNREFUSED)');
  assert.match(mapGitError(nested('ENOTFOUND'), { url }).message, /host name not found/);
  const tls = mapGitError(nested('SELF_SIGNED_CERT_IN_CHAIN'), { url });
  assert.equal(tls.code, ErrorCodes.GitUnreachable);
  assert.match(tls.hint ?? '', /ca\.crt/);
});

test('SluiceErrors pass through; anything else is Internal; URLs lose their credentials', () => {
  const own = new SluiceError(ErrorCodes.GitTooLarge, 'big');
  assert.equal(mapGitError(own, { url }), own);
  assert.equal(mapGitError(new Error('odd'), { url }).code, ErrorCodes.Internal);
  assert.equal(redactUrl('https://user:pa55@host/repo.git?x=1#f'), 'https://host/repo.git');
  const withCreds = mapGitError(new Errors.HttpError(401, 'Unauthorized', ''), { url: 'https://user:pa55@host/r.git' });
  assert.ok(!withCreds.message.includes('pa55'));
});
