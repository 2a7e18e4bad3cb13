import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSluiceError } from '../../errors.ts';
import { editDeploymentImages, editKustomizationImages, formatYamlString, parseImageReference } from './yaml-edit.ts';

const any = () => true;

test('multi-document file: only the image value of the matching Deployment changes; comments and other documents stay byte for byte', () => {
  const text = [
    '# the web tier',
    'apiVersion: v1',
    'kind: Service',
    'metadata: {name: web}',
    'spec:',
    '  ports: [{port: 80}]   # http',
    '---',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web # keep me',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    '          image: ghcr.io/acme/web:1.2.3   # pinned by the release bot',
    '---',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: other',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: app',
    '          image: ghcr.io/acme/web:1.2.3',
    '',
  ].join('\n');
  const result = editDeploymentImages(text, {
    file: 'apps/web.yaml', matches: (d) => d.name === 'web', changes: [{ from: 'ghcr.io/acme/web:1.2.3', to: 'ghcr.io/acme/web:1.2.2' }],
  });
  assert.equal(result.declared, 1);
  assert.equal(result.text, text.replace('web:1.2.3   # pinned', 'web:1.2.2   # pinned'));
  assert.deepEqual(result.replaced, [{ file: 'apps/web.yaml', line: 17, container: 'app', from: 'ghcr.io/acme/web:1.2.3', to: 'ghcr.io/acme/web:1.2.2' }]);
});

test('several containers: each failed image is changed to its own restore image; unchanged sidecars and init containers are left', () => {
  const text = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: web:2
      containers:
        - name: app
          image: "web:2"
        - image: 'proxy:2'
          name: proxy
        - name: logs
          image: fluent:1
`;
  const result = editDeploymentImages(text, {
    file: 'web.yaml', matches: any,
    changes: [{ from: 'web:2', to: 'web:1' }, { from: 'proxy:2', to: 'proxy:1' }, { from: 'fluent:1', to: 'fluent:1' }],
  });
  assert.equal(result.text, text.replace('"web:2"', '"web:1"').replace("'proxy:2'", "'proxy:1'"));
  assert.deepEqual(result.replaced.map((r) => [r.container, r.line]), [['app', 12], ['proxy', 13]]);
});

test('a change limited to a container name leaves the same image in other containers', () => {
  const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:2}, {name: b, image: x:2}]}}}\n';
  const result = editDeploymentImages(text, { file: 'f.yaml', matches: any, changes: [{ container: 'b', from: 'x:2', to: 'x:1' }] });
  assert.equal(result.text, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:2}, {name: b, image: x:1}]}}}\n');
});

test('images with digests are replaced whole; the namespace predicate sees metadata.namespace as written', () => {
  const from = 'registry.local:5000/web:2@sha256:aaaa';
  const to = 'registry.local:5000/web@sha256:bbbb';
  const text = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ${from}\n`;
  const seen: (string | undefined)[] = [];
  const result = editDeploymentImages(text, { file: 'f.yaml', matches: (d) => { seen.push(d.namespace); return true; }, changes: [{ from, to }] });
  assert.deepEqual(seen, ['prod']);
  assert.equal(result.text, text.replace(from, to));
});

test('a Deployment that declares no failed image is reported as declared with nothing replaced', () => {
  const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:1}]}}}\n';
  const result = editDeploymentImages(text, { file: 'f.yaml', matches: any, changes: [{ from: 'x:2', to: 'x:1' }] });
  assert.equal(result.declared, 1);
  assert.equal(result.text, text);
  assert.deepEqual(result.replaced, []);
});

test('other kinds and apiVersions are not touched', () => {
  const text = 'apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:2}]}}}\n---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:2}]}}}\n';
  const result = editDeploymentImages(text, { file: 'f.yaml', matches: any, changes: [{ from: 'x:2', to: 'x:1' }] });
  assert.equal(result.declared, 0);
  assert.equal(result.text, text);
});

test('a block-scalar image is refused with a clear error; broken YAML names file and line', () => {
  const block = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: >-\n          x:2\n';
  assert.throws(() => editDeploymentImages(block, { file: 'f.yaml', matches: any, changes: [{ from: 'x:2', to: 'x:1' }] }),
    (e: unknown) => isSluiceError(e, 'MANIFEST_INVALID') && /f\.yaml:\d+: .*block scalar/.test(e.message));
  assert.throws(() => editDeploymentImages('a: [\n', { file: 'bad.yaml', matches: any, changes: [] }),
    (e: unknown) => isSluiceError(e, 'MANIFEST_INVALID') && /^bad\.yaml:\d+: invalid YAML/.test(e.message));
});

test('CRLF line endings and a missing final newline are kept', () => {
  const text = 'apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: web\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n      - name: a\r\n        image: x:2';
  const result = editDeploymentImages(text, { file: 'f.yaml', matches: any, changes: [{ from: 'x:2', to: 'x:1' }] });
  assert.equal(result.text, text.replace('x:2', 'x:1'));
});

test('kustomization images: newTag replaced in place, quoting and comments kept', () => {
  const text = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '  - ../base',
    'images:',
    '  # the app',
    '  - name: web',
    '    newTag: "9"   # bumped by CI',
    '  - name: proxy',
    '    newTag: "9"',
    '',
  ].join('\n');
  const result = editKustomizationImages(text, { file: 'k/kustomization.yaml', changes: [{ from: 'web:9', to: 'web:8' }] });
  assert.equal(result.text, text.replace('newTag: "9"   # bumped', 'newTag: "8"   # bumped'));
  assert.deepEqual(result.replaced.map((r) => [r.container, r.line]), [['web', 7]]);
});

test('kustomization images: newName + newTag, digest → tag (digest line removed), tag → digest (digest line added)', () => {
  const text = [
    'images:',
    '- name: web',
    '  newName: ghcr.io/acme/web',
    '  newTag: v2',
    '- name: api',
    '  newName: ghcr.io/acme/api',
    '  digest: sha256:2222',
    '- name: db',
    '  newTag: "15"',
  ].join('\n');
  const result = editKustomizationImages(text, {
    file: 'kustomization.yaml',
    changes: [
      { from: 'ghcr.io/acme/web:v2', to: 'ghcr.io/acme/web:v1' },
      { from: 'ghcr.io/acme/api@sha256:2222', to: 'ghcr.io/acme/api:1.0' },
      { from: 'db:15', to: 'db@sha256:1414' },
    ],
  });
  assert.equal(result.text, [
    'images:',
    '- name: web',
    '  newName: ghcr.io/acme/web',
    '  newTag: v1',
    '- name: api',
    '  newName: ghcr.io/acme/api',
    '  newTag: "1.0"',
    '- name: db',
    '  digest: sha256:1414',
    '',
  ].join('\n'));
  assert.equal(result.replaced.length, 3);
});

test('kustomization images: an entry for another tag, or without images, is left alone; flow entries with the keys present are edited', () => {
  const text = 'resources: [web.yaml]\nimages:\n- {name: web, newTag: "7"}\n- {name: api, newTag: "2"}\n';
  const result = editKustomizationImages(text, { file: 'kustomization.yaml', changes: [{ from: 'web:9', to: 'web:8' }, { from: 'api:2', to: 'api:1' }] });
  assert.equal(result.text, 'resources: [web.yaml]\nimages:\n- {name: web, newTag: "7"}\n- {name: api, newTag: "1"}\n');
  assert.equal(editKustomizationImages('resources: [a.yaml]\n', { file: 'k', changes: [{ from: 'a:1', to: 'a:0' }] }).text, 'resources: [a.yaml]\n');
  assert.throws(() => editKustomizationImages('images:\n- {name: web, newTag: "2"}\n', { file: 'k.yaml', changes: [{ from: 'web:2', to: 'web@sha256:1' }] }),
    (e: unknown) => isSluiceError(e, 'MANIFEST_INVALID') && /flow mapping/.test(e.message));
});

test('image references and YAML string formatting', () => {
  assert.deepEqual(parseImageReference('registry:5000/a/b:1.2@sha256:ff'), { name: 'registry:5000/a/b', tag: '1.2', digest: 'sha256:ff' });
  assert.deepEqual(parseImageReference('registry:5000/a/b'), { name: 'registry:5000/a/b', tag: undefined, digest: undefined });
  assert.equal(formatYamlString('web:1'), 'web:1');
  assert.equal(formatYamlString('8'), '"8"');
  assert.equal(formatYamlString('1.0'), '"1.0"');
  assert.equal(formatYamlString('true'), '"true"');
  assert.equal(formatYamlString('a b'), '"a b"');
});
