import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProblem, parseManifestFile } from './parse.ts';

test('multi-document YAML: each object knows the line it starts on; empty documents are skipped', () => {
  const text = [
    '# leading comment',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: a}',
    '---',
    '---',
    '',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: b',
    '---',
  ].join('\n');
  const { manifests, problems } = parseManifestFile('apps/cm.yaml', text);
  assert.deepEqual(problems, []);
  assert.deepEqual(manifests.map((m) => [m.object.metadata.name, m.source.file, m.source.line]), [['a', 'apps/cm.yaml', 2], ['b', 'apps/cm.yaml', 8]]);
});

test('a YAML syntax error names the file and the line', () => {
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n';
  const { manifests, problems } = parseManifestFile('apps/broken.yaml', text);
  assert.equal(manifests.length, 0, 'a file with a syntax error yields no objects at all');
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.file, 'apps/broken.yaml');
  assert.ok(problems[0]?.line !== undefined && problems[0].line >= 9, `line ${problems[0]?.line}`);
  assert.match(describeProblem(problems[0]), /^apps\/broken\.yaml:\d+: invalid YAML: /);
});

test('bad indentation is reported at its line', () => {
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data:\n  a: b\n';
  const { problems } = parseManifestFile('x.yaml', text);
  assert.equal(problems[0]?.line, 5);
});

test('missing apiVersion, kind or metadata.name are named, with the line of the document', () => {
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: Service\nmetadata: {generateName: svc-}\n---\n- just\n- a list\n';
  const { manifests, problems } = parseManifestFile('m.yaml', text);
  assert.equal(manifests.length, 1);
  assert.deepEqual(problems.map((p) => [p.line, p.message]), [
    [5, 'missing apiVersion'],
    [8, 'missing metadata.name (generateName cannot be used: sluice must know the name to keep the object in sync)'],
    [12, 'a manifest must be a mapping with apiVersion, kind and metadata'],
  ]);
  assert.equal(problems[0]?.object, 'Secret s');
});

test('JSON files and kind: List are read; list items are flattened', () => {
  const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'two' } },
  ] }, null, 2);
  const { manifests, problems } = parseManifestFile('list.json', json);
  assert.deepEqual(problems, []);
  assert.deepEqual(manifests.map((m) => m.object.metadata.name), ['one', 'two']);
});

test('YAML 1.2 scalars and merge keys', () => {
  const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbase: &b {a: "1"}\ndata:\n  <<: *b\n  on: off\n';
  const { manifests } = parseManifestFile('x.yaml', text);
  assert.deepEqual((manifests[0]?.object as { data?: unknown }).data, { a: '1', on: 'off' });
});

test('a YAML error in a Secret never quotes the file, so no secret value reaches the status', () => {
  const text = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: "hunter2\n  other: [x\n';
  const { problems } = parseManifestFile('secret.yaml', text);
  assert.equal(problems.length, 1);
  assert.doesNotMatch(JSON.stringify(problems), /hunter2/);
});
