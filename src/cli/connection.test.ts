import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { explainError } from './connection.ts';

describe('explainError', () => {
  const where = { server: 'https://10.1.2.3:6443', context: 'dev', namespace: 'team' };

  test('a refused connection names the server and the context', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:6443'), { code: 'ECONNREFUSED' });
    const error = new SluiceError(ErrorCodes.KubeUnavailable, 'get Sync team/apps: ECONNREFUSED connect ECONNREFUSED', { cause, retryable: true });
    const explained = explainError(error, where);
    assert.ok(explained instanceof SluiceError);
    assert.equal(explained.describe(), 'cannot reach the API server at https://10.1.2.3:6443 (context "dev"): connection refused; check that the cluster is running and that the kubeconfig points at it (kubectl cluster-info)');
    // A 503 from a reachable server is the server's own answer.
    const unavailable = new SluiceError(ErrorCodes.KubeUnavailable, 'get Sync team/apps: etcd is down', { status: 503 });
    assert.equal(explainError(unavailable, where), unavailable);
  });

  test('a missing object says where it was looked for', () => {
    const explained = explainError(new SluiceError(ErrorCodes.KubeNotFound, 'get Sync team/nope: syncs.sluice.dev "nope" not found', { status: 404 }), where);
    assert.ok(explained instanceof SluiceError);
    assert.equal(explained.describe(), 'get Sync team/nope: syncs.sluice.dev "nope" not found; check the name and the namespace (looked in "team"; pass -n NAMESPACE for another)');
    const other = new Error('boom');
    assert.equal(explainError(other, where), other);
  });
});
