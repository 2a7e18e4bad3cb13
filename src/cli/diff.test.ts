import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_GROUP_VERSION, type GitRepository, type GitRepositoryRef } from '../api/types.ts';
import { SluiceError } from '../errors.ts';
import { artifactRef, maskSecrets } from './diff.ts';

const sha = 'a'.repeat(40);

function repo(ref: GitRepositoryRef | undefined, revision: string | undefined): GitRepository {
  return {
    apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace: 'team' },
    spec: { url: 'https://git.example.com/fleet.git', ...(ref ? { ref } : {}) },
    ...(revision ? { status: { artifact: { revision } } } : {}),
  };
}

describe('artifactRef: the commit the controller applies, not what spec.ref means now', () => {
  test('a branch artifact is fetched on its branch at its commit', () => {
    assert.deepEqual(artifactRef(repo({ branch: 'main' }, `main@sha1:${sha}`)), { ref: { branch: 'main', commit: sha }, revision: `main@sha1:${sha}` });
    // The default branch (no spec.ref) is named in the revision.
    assert.deepEqual(artifactRef(repo(undefined, `trunk@sha1:${sha}`)).ref, { branch: 'trunk', commit: sha });
  });

  test('tags, semver matches and bare commits are fetched by commit', () => {
    assert.deepEqual(artifactRef(repo({ tag: 'v1.2.0' }, `v1.2.0@sha1:${sha}`)).ref, { commit: sha });
    assert.deepEqual(artifactRef(repo({ semver: '^1' }, `v1.3.0@sha1:${sha}`)).ref, { commit: sha });
    assert.deepEqual(artifactRef(repo({ commit: sha }, `sha1:${sha}`)).ref, { commit: sha });
  });

  test('no artifact yet, or one without a commit, is an error that points at --path', () => {
    assert.throws(() => artifactRef(repo({ branch: 'main' }, undefined)), (error: unknown) => error instanceof SluiceError
      && /GitRepository team\/fleet has no artifact yet/.test(error.message) && /--path/.test(error.hint ?? ''));
    assert.throws(() => artifactRef(repo({ branch: 'main' }, 'main@sha256:abc')), /names no SHA-1 commit/);
  });
});

describe('maskSecrets', () => {
  test('values are masked; changed keys say before and after', () => {
    const before = { kind: 'Secret', data: { a: 'x', b: 'y' } };
    const after = { kind: 'Secret', data: { a: 'x', b: 'z' } };
    maskSecrets(before, after);
    assert.deepEqual(before.data, { a: '***', b: '*** (before)' });
    assert.deepEqual(after.data, { a: '***', b: '*** (after)' });
  });
});
