import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locateAndEdit } from './locate.ts';
import { imageChanges } from './writeback.ts';

const deployment = (name: string, image: string, namespace?: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
${namespace ? `  namespace: ${namespace}\n` : ''}spec:
  template:
    spec:
      containers:
        - name: app
          image: ${image}
`;

test('plain files under the Sync path: namespace absent means the Sync namespace; files outside the path and hidden ones are not searched', () => {
  const files = new Map([
    ['apps/web.yaml', deployment('web', 'web:2')],
    ['apps/other-ns.yaml', deployment('web', 'web:2', 'elsewhere')],
    ['apps/.hidden/web.yaml', deployment('web', 'web:2')],
    ['outside/web.yaml', deployment('web', 'web:2')],
  ]);
  const result = locateAndEdit({ files, syncPath: './apps', deployment: { namespace: 'shop', name: 'web' }, syncNamespace: 'shop', changes: [{ from: 'web:2', to: 'web:1' }] });
  assert.deepEqual([...result.edited.keys()], ['apps/web.yaml']);
  assert.deepEqual(result.declaredIn, ['apps/web.yaml']);
  assert.equal(result.filesSearched, 2);
});

test('targetNamespace overrides the namespace written in the file', () => {
  const files = new Map([['web.yaml', deployment('web', 'web:2', 'dev')]]);
  const result = locateAndEdit({ files, syncPath: undefined, deployment: { namespace: 'prod', name: 'web' }, syncNamespace: 'flux', targetNamespace: 'prod', changes: [{ from: 'web:2', to: 'web:1' }] });
  assert.deepEqual([...result.edited.keys()], ['web.yaml']);
});

test('kustomize overlay: base found through resources outside the path, namePrefix applied, images entry in the overlay edited', () => {
  const files = new Map([
    ['deploy/kustomization.yaml', 'resources:\n- ../base\nnamePrefix: prod-\nnamespace: prod\nimages:\n- name: web\n  newTag: "9"\n'],
    ['base/kustomization.yaml', 'resources:\n- web.yaml\n'],
    ['base/web.yaml', deployment('web', 'web:1')],
    ['other/kustomization.yaml', 'resources:\n- ../base\nimages:\n- name: web\n  newTag: "9"\n'],
  ]);
  const result = locateAndEdit({ files, syncPath: 'deploy', deployment: { namespace: 'prod', name: 'prod-web' }, syncNamespace: 'flux', changes: [{ from: 'web:9', to: 'web:8' }] });
  assert.deepEqual(result.declaredIn, ['base/web.yaml']);
  assert.deepEqual(result.kustomizations, ['base/kustomization.yaml', 'deploy/kustomization.yaml']);
  assert.deepEqual([...result.edited.entries()], [['deploy/kustomization.yaml', 'resources:\n- ../base\nnamePrefix: prod-\nnamespace: prod\nimages:\n- name: web\n  newTag: "8"\n']]);
});

test('nothing declares the Deployment: no declaration, nothing edited', () => {
  const files = new Map([['apps/web.yaml', deployment('api', 'web:2')]]);
  const result = locateAndEdit({ files, syncPath: 'apps', deployment: { namespace: 'shop', name: 'web' }, syncNamespace: 'shop', changes: [{ from: 'web:2', to: 'web:1' }] });
  assert.deepEqual(result.declaredIn, []);
  assert.equal(result.edited.size, 0);
  assert.equal(result.filesSearched, 1);
});

test('imageChanges pairs by container order or by container name; unchanged containers drop out', () => {
  assert.deepEqual(imageChanges(['a:2', 'b:1'], ['a:1', 'b:1']), [{ from: 'a:2', to: 'a:1' }]);
  assert.deepEqual(imageChanges(['a:2'], { app: 'a:1' }), [{ container: 'app', from: 'a:2', to: 'a:1' }]);
  assert.throws(() => imageChanges(['a:2', 'b:2'], ['a:1']), /same container order/);
});
