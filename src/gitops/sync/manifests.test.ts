import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { kustomizeBinary } from './kustomize.ts';
import { normalizeSyncPath, renderManifests } from './manifests.ts';

const encoder = new TextEncoder();
const artifactOf = (files: Record<string, string>) => ({ files: new Map(Object.entries(files).map(([k, v]) => [k, encoder.encode(v)])) });
const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;

test('spec.path is normalised to a repository-relative directory', () => {
  assert.equal(normalizeSyncPath('./'), '');
  assert.equal(normalizeSyncPath(undefined), '');
  assert.equal(normalizeSyncPath('./apps/prod/'), 'apps/prod');
  assert.equal(normalizeSyncPath('apps//prod'), 'apps/prod');
});

test('plain directories are read recursively; other files, hidden paths and other directories are ignored', async () => {
  const artifact = artifactOf({
    'apps/a.yaml': cm('a'),
    'apps/sub/b.yml': cm('b'),
    'apps/sub/c.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
    'apps/README.md': '# not a manifest',
    'apps/.github/workflow.yaml': 'on: push',
    'other/d.yaml': cm('d'),
  });
  const { manifests, problems } = await renderManifests(artifact, { path: './apps' });
  assert.deepEqual(problems, []);
  assert.deepEqual(manifests.map((m) => `${m.source.file}:${m.object.metadata.name}`), ['apps/a.yaml:a', 'apps/sub/b.yml:b', 'apps/sub/c.json:c']);
});

test('every broken file is reported, not only the first', async () => {
  const { manifests, problems } = await renderManifests(artifactOf({ 'a.yaml': 'kind: [', 'b.yaml': cm('ok'), 'c.yaml': 'apiVersion: v1\nkind: X\n' }));
  assert.equal(manifests.length, 1);
  assert.deepEqual(problems.map((p) => p.file), ['a.yaml', 'c.yaml']);
});

test('a path with no files is an error, never an empty revision that would prune everything', async () => {
  const { problems } = await renderManifests(artifactOf({ 'apps/a.yaml': cm('a') }), { path: 'aps' });
  assert.match(problems[0]?.message ?? '', /no files/);
});

const haveKustomize = existsSync(kustomizeBinary());

test('a kustomization directory is built with kustomize, bases elsewhere in the repository included', { skip: !haveKustomize && 'kustomize not built (run scripts/setup.sh)' }, async () => {
  const artifact = artifactOf({
    'base/kustomization.yaml': 'resources:\n- cm.yaml\n',
    'base/cm.yaml': cm('settings', 'data:\n  level: base\n'),
    'overlays/prod/kustomization.yaml': 'resources:\n- ../../base\nnamePrefix: prod-\ncommonLabels:\n  env: prod\npatches:\n- path: patch.yaml\n',
    'overlays/prod/patch.yaml': cm('settings', 'data:\n  level: prod\n'),
    'overlays/prod/extra/plain.yaml': cm('not-listed'),
  });
  const { manifests, problems } = await renderManifests(artifact, { path: 'overlays/prod' });
  assert.deepEqual(problems, []);
  assert.equal(manifests.length, 1, 'files not listed in the kustomization are not applied');
  const object = manifests[0]!.object as { metadata: { name: string; labels?: Record<string, string> }; data?: Record<string, string> };
  assert.equal(object.metadata.name, 'prod-settings');
  assert.equal(object.metadata.labels?.env, 'prod');
  assert.deepEqual(object.data, { level: 'prod' });
  assert.equal(manifests[0]!.source.kustomization, 'overlays/prod');
});

test('a nested kustomization inside a plain directory is built; its own files are not read twice', { skip: !haveKustomize && 'kustomize not built' }, async () => {
  const artifact = artifactOf({
    'plain.yaml': cm('plain'),
    'kust/kustomization.yaml': 'resources:\n- a.yaml\nnameSuffix: -k\n',
    'kust/a.yaml': cm('a'),
  });
  const { manifests, problems } = await renderManifests(artifact);
  assert.deepEqual(problems, []);
  assert.deepEqual(manifests.map((m) => m.object.metadata.name).sort(), ['a-k', 'plain']);
});

test('a failing kustomize build names the kustomization and the reason, with repository paths', { skip: !haveKustomize && 'kustomize not built' }, async () => {
  const { manifests, problems } = await renderManifests(artifactOf({ 'app/kustomization.yaml': 'resources:\n- missing.yaml\n' }), { path: 'app' });
  assert.equal(manifests.length, 0);
  assert.equal(problems[0]?.file, 'app/kustomization.yaml');
  assert.match(problems[0]?.message ?? '', /kustomize build failed: .*missing\.yaml/);
  assert.doesNotMatch(problems[0]?.message ?? '', /sluice-kustomize-/, 'no temporary paths leak into the status');
});

test('a missing kustomize binary is reported as such', async () => {
  const { problems } = await renderManifests(artifactOf({ 'kustomization.yaml': 'resources: []\n' }), { kustomize: { binary: '/nonexistent/kustomize' } });
  assert.match(problems[0]?.message ?? '', /kustomize binary was not found/);
});
