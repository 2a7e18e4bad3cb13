import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../kube/types.ts';
import type { Manifest } from './parse.ts';
import { planObjects, type KindResolver } from './plan.ts';

const served: Record<string, boolean> = { 'v1/ConfigMap': true, 'v1/Namespace': false, 'apps/v1/Deployment': true, 'apiextensions.k8s.io/v1/CustomResourceDefinition': false, 'rbac.authorization.k8s.io/v1/ClusterRole': false };
const resolveKind: KindResolver = (apiVersion, kind) => {
  const namespaced = served[`${apiVersion}/${kind}`];
  return Promise.resolve(namespaced === undefined ? undefined : { namespaced });
};
const manifest = (object: KubeObject, file = 'm.yaml', line = 1): Manifest => ({ object, source: { file, line } });
const owner = { name: 'apps', namespace: 'flux' };

test('namespaces: the manifest\'s, else the Sync\'s; targetNamespace overrides; cluster-scoped objects have none', async () => {
  const manifests = [
    manifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' } }),
    manifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' } }),
    manifest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r', namespace: 'ignored' } }),
  ];
  const plain = await planObjects(manifests, { owner, defaultNamespace: 'flux', resolveKind });
  assert.deepEqual(plain.objects.map((o) => o.id), ['shop_a__ConfigMap', 'flux_b__ConfigMap', '_r_rbac.authorization.k8s.io_ClusterRole']);
  const targeted = await planObjects(manifests, { owner, defaultNamespace: 'flux', targetNamespace: 'prod', resolveKind });
  assert.deepEqual(targeted.objects.map((o) => o.ref.namespace), ['prod', 'prod', undefined]);
  assert.equal(manifests[0]?.object.metadata.namespace, 'shop', 'the parsed manifests are not modified');
  assert.deepEqual(plain.objects[0]?.object.metadata.labels, { 'sluice.dev/name': 'apps', 'sluice.dev/namespace': 'flux' });
});

test('unknown kinds and duplicates are problems naming file, line and object', async () => {
  const { objects, problems } = await planObjects([
    manifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }, 'one.yaml', 3),
    manifest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'flux' } }, 'two.yaml', 7),
    manifest({ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' } }, 'three.yaml', 1),
  ], { owner, defaultNamespace: 'flux', resolveKind });
  assert.equal(objects.length, 1);
  assert.deepEqual(problems.map((p) => [p.file, p.line, p.object]), [['two.yaml', 7, 'ConfigMap flux/a'], ['three.yaml', 1, 'Gadget g']]);
  assert.match(problems[0]?.message ?? '', /duplicate object: also defined at one\.yaml:3/);
  assert.match(problems[1]?.message ?? '', /does not serve kind Gadget/);
});

test('a CRD in the revision makes its kinds known, with its scope', async () => {
  const crd: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.example.com' },
    spec: { group: 'example.com', scope: 'Namespaced', names: { kind: 'Widget', plural: 'widgets' }, versions: [{ name: 'v1' }] },
  };
  const { objects, problems } = await planObjects([
    manifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    manifest(crd),
  ], { owner, defaultNamespace: 'flux', resolveKind });
  assert.deepEqual(problems, []);
  assert.deepEqual(objects.map((o) => [o.id, o.stage, o.definedInRevision]), [
    ['flux_w_example.com_Widget', 'namespaced', true],
    ['_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition', 'definitions', false],
  ]);
  const wrongVersion = await planObjects([manifest({ apiVersion: 'example.com/v2', kind: 'Widget', metadata: { name: 'w' } }), manifest(crd)], { owner, defaultNamespace: 'flux', resolveKind });
  assert.equal(wrongVersion.problems.length, 1, 'a version the CRD does not define is unknown');
});
