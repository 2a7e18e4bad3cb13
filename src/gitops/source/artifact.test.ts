import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ArtifactStore, artifactDigest, type Artifact } from './artifact.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

test('artifactDigest is order-independent and pinned to a documented encoding', () => {
  const a = new Map([['b.yaml', bytes('B')], ['a.yaml', bytes('A')]]);
  const b = new Map([['a.yaml', bytes('A')], ['b.yaml', bytes('B')]]);
  assert.equal(artifactDigest(a), artifactDigest(b));
  const expected = createHash('sha256').update('a.yaml\u00001\u0000A').update('b.yaml\u00001\u0000B').digest('hex');
  assert.equal(artifactDigest(a), `sha256:${expected}`);
  assert.equal(artifactDigest(new Map()), `sha256:${createHash('sha256').digest('hex')}`);
});

test('artifactDigest changes with any path or content change, and framing prevents collisions', () => {
  const base = artifactDigest(new Map([['a', bytes('xy')]]));
  assert.notEqual(artifactDigest(new Map([['a', bytes('xz')]])), base);
  assert.notEqual(artifactDigest(new Map([['b', bytes('xy')]])), base);
  // Same concatenated bytes, different split between files.
  assert.notEqual(
    artifactDigest(new Map([['a', bytes('1')], ['b', bytes('23')]])),
    artifactDigest(new Map([['a', bytes('12')], ['b', bytes('3')]])),
  );
});

test('ArtifactStore notifies only when revision or digest changes', () => {
  const store = new ArtifactStore();
  const heard: string[] = [];
  const off = store.onChange((namespace, name, artifact) => heard.push(`${namespace}/${name}@${artifact.revision}`));
  const artifact = (revision: string, digest: string): Artifact => ({ revision, digest, files: new Map(), size: 0, fetchedAt: new Date() });
  store.set('ns', 'repo', artifact('main@sha1:1', 'sha256:a'));
  store.set('ns', 'repo', artifact('main@sha1:1', 'sha256:a'));
  store.set('ns', 'repo', artifact('main@sha1:1', 'sha256:b'));
  store.set('ns', 'repo', artifact('main@sha1:2', 'sha256:b'));
  assert.deepEqual(heard, ['ns/repo@main@sha1:1', 'ns/repo@main@sha1:1', 'ns/repo@main@sha1:2']);
  assert.equal(store.get('ns', 'repo')?.revision, 'main@sha1:2');
  off();
  store.delete('ns', 'repo');
  assert.equal(store.get('ns', 'repo'), undefined);
});
