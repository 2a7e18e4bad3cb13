import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { commitOfRevision, formatRevision, resolveRef, type ServerRef } from './refs.ts';

const sha = (c: string): string => c.repeat(40);
const refs: ServerRef[] = [
  { ref: 'HEAD', oid: sha('a'), target: 'refs/heads/main' },
  { ref: 'refs/heads/main', oid: sha('a') },
  { ref: 'refs/heads/dev', oid: sha('b') },
  { ref: 'refs/tags/v1.0.0', oid: sha('c'), peeled: sha('d') },
  { ref: 'refs/tags/v1.2.0', oid: sha('e') },
  { ref: 'refs/tags/v2.0.0-rc.1', oid: sha('f') },
  { ref: 'refs/tags/nightly', oid: sha('1') },
];

function refNotFound(pattern: RegExp): (error: unknown) => boolean {
  return (error) => error instanceof SluiceError && error.code === ErrorCodes.GitRefNotFound && pattern.test(`${error.message}; ${error.hint ?? ''}`);
}

test('no ref: the default branch HEAD points to', () => {
  assert.deepEqual(resolveRef(undefined, refs), {
    remoteRef: 'refs/heads/main', commit: sha('a'), label: 'main', depth: 'shallow', description: 'default branch "main"',
  });
  // Without the symref, the branch at HEAD's commit.
  const noSymref = refs.map((r) => (r.ref === 'HEAD' ? { ref: 'HEAD', oid: sha('b') } : r));
  assert.equal(resolveRef(undefined, noSymref).label, 'dev');
  assert.throws(() => resolveRef(undefined, []), refNotFound(/empty/));
});

test('branch and tag; annotated tags resolve to the peeled commit', () => {
  const dev = resolveRef({ branch: 'dev' }, refs);
  assert.equal(dev.remoteRef, 'refs/heads/dev');
  assert.equal(dev.commit, sha('b'));
  const tag = resolveRef({ tag: 'v1.0.0' }, refs);
  assert.equal(tag.remoteRef, 'refs/tags/v1.0.0');
  assert.equal(tag.commit, sha('d'));
  assert.equal(tag.label, 'v1.0.0');
  assert.equal(resolveRef({ tag: 'v1.2.0' }, refs).commit, sha('e'));
  assert.throws(() => resolveRef({ branch: 'nope' }, refs), refNotFound(/branch "nope" does not exist.*branches: main, dev/));
  assert.throws(() => resolveRef({ tag: 'v9' }, refs), refNotFound(/tag "v9" does not exist.*v1\.0\.0/));
});

test('semver picks the highest matching tag', () => {
  const r = resolveRef({ semver: '^1.0.0' }, refs);
  assert.equal(r.label, 'v1.2.0');
  assert.equal(r.commit, sha('e'));
  assert.equal(resolveRef({ semver: '>=1.0.0-0' }, refs).label, 'v2.0.0-rc.1');
  assert.equal(resolveRef({ semver: '~1.0' }, refs).commit, sha('d'));
  assert.throws(() => resolveRef({ semver: '>=3' }, refs), refNotFound(/no tag matches semver range ">=3".*v2\.0\.0-rc\.1, v1\.2\.0, v1\.0\.0/));
  assert.throws(() => resolveRef({ semver: 'banana' }, refs), (e: unknown) => e instanceof SluiceError && e.code === ErrorCodes.SpecInvalid);
});

test('commit: shallow when some ref points at it, else the full history of its branch', () => {
  assert.deepEqual(resolveRef({ commit: sha('b') }, refs), {
    remoteRef: 'refs/heads/dev', commit: sha('b'), label: undefined, depth: 'shallow', description: `commit ${'b'.repeat(12)}`,
  });
  assert.equal(resolveRef({ commit: sha('d') }, refs).remoteRef, 'refs/tags/v1.0.0');
  const old = resolveRef({ commit: sha('9') }, refs);
  assert.equal(old.remoteRef, 'refs/heads/main');
  assert.equal(old.depth, 'full');
  const onDev = resolveRef({ branch: 'dev', commit: sha('9') }, refs);
  assert.deepEqual([onDev.remoteRef, onDev.label, onDev.depth], ['refs/heads/dev', 'dev', 'full']);
  // With a branch, only its own tip counts as shallow: another ref's tip says nothing about the branch.
  assert.equal(resolveRef({ branch: 'dev', commit: sha('a') }, refs).depth, 'full');
  assert.equal(resolveRef({ branch: 'dev', commit: sha('b') }, refs).depth, 'shallow');
  assert.throws(() => resolveRef({ commit: 'f'.repeat(64) }, refs), refNotFound(/SHA-256/));
});

test('revision strings', () => {
  assert.equal(formatRevision('main', sha('a')), `main@sha1:${sha('a')}`);
  assert.equal(formatRevision(undefined, sha('a')), `sha1:${sha('a')}`);
  assert.equal(commitOfRevision(`v1.0.0@sha1:${sha('b')}`), sha('b'));
  assert.equal(commitOfRevision(`sha1:${sha('c')}`), sha('c'));
  assert.equal(commitOfRevision('main'), undefined);
});
