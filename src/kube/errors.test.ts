import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { errorFromResponse, mapKubeError } from './errors.ts';

const status = (reason: string, code: number, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message });

test('Status reasons map to stable codes, whatever the HTTP status says', () => {
  const cases: [string, number, string][] = [
    ['NotFound', 404, ErrorCodes.KubeNotFound],
    ['AlreadyExists', 409, ErrorCodes.KubeAlreadyExists],
    ['Conflict', 409, ErrorCodes.KubeConflict],
    ['Invalid', 422, ErrorCodes.KubeInvalid],
    ['Forbidden', 403, ErrorCodes.KubeForbidden],
    ['Expired', 410, ErrorCodes.KubeGone],
    ['TooManyRequests', 429, ErrorCodes.KubeTooManyRequests],
  ];
  for (const [reason, http, code] of cases) {
    const error = errorFromResponse(http, status(reason, http, `${reason} happened`), { what: 'get x' });
    assert.equal(error.code, code, reason);
    assert.equal(error.status, http);
    assert.match(error.message, new RegExp(`^get x: ${reason} happened`));
  }
});

test('HTTP status is the fallback when the body is not a Status', () => {
  const error = errorFromResponse(503, 'upstream connect error', { what: 'list pods' });
  assert.equal(error.code, ErrorCodes.KubeUnavailable);
  assert.equal(error.retryable, true);
  assert.equal(error.message, 'list pods: upstream connect error');
  assert.equal(errorFromResponse(418, '', { what: 'x' }).code, ErrorCodes.KubeBadRequest);
  assert.equal(errorFromResponse(599, '', { what: 'x' }).code, ErrorCodes.KubeServerError);
});

test('Retry-After from the body or the header is kept', () => {
  const body = JSON.stringify({ kind: 'Status', reason: 'TooManyRequests', code: 429, message: 'slow down', details: { retryAfterSeconds: 7 } });
  assert.equal(errorFromResponse(429, body, { what: 'x' }).retryAfterSeconds, 7);
  assert.equal(errorFromResponse(429, 'busy', { what: 'x', retryAfterHeader: '3' }).retryAfterSeconds, 3);
});

test('client-node ApiException is wrapped at the boundary', () => {
  const apiError = new ApiException(403, 'Unsuccessful HTTP Request',
    { kind: 'Status', reason: 'Forbidden', code: 403, message: 'secrets is forbidden' }, {});
  const error = mapKubeError(apiError, 'read secret ns/s');
  assert.equal(error.code, ErrorCodes.KubeForbidden);
  assert.equal(error.retryable, false);
  assert.match(error.describe(), /secrets is forbidden; grant sluice's ServiceAccount/);
});

test('socket errors become retryable KubeUnavailable, others Internal', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  const mapped = mapKubeError(refused, 'watch pods');
  assert.equal(mapped.code, ErrorCodes.KubeUnavailable);
  assert.equal(mapped.retryable, true);
  assert.equal(mapKubeError(new TypeError('boom')).code, ErrorCodes.Internal);
  const own = new SluiceError(ErrorCodes.KubeGone, 'gone');
  assert.equal(mapKubeError(own), own);
});
