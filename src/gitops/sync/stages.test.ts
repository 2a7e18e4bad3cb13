import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyGroups, pruneOrder, stageOf, type Stageable } from './stages.ts';

const item = (apiVersion: string, kind: string, name: string, namespace?: string): Stageable & { label: string } => ({
  label: `${kind}/${name}`,
  stage: stageOf({ apiVersion, kind }, namespace !== undefined),
  ref: { kind, name, namespace },
});

test('CRDs and Namespaces first, then cluster-scoped, then namespaced kinds in install order; custom kinds last', () => {
  const items = [
    item('apps/v1', 'Deployment', 'web', 'shop'),
    item('example.com/v1', 'Widget', 'w', 'shop'),
    item('v1', 'Service', 'web', 'shop'),
    item('rbac.authorization.k8s.io/v1', 'ClusterRole', 'reader'),
    item('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'hook'),
    item('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'widgets.example.com'),
    item('v1', 'ConfigMap', 'b', 'shop'),
    item('v1', 'ConfigMap', 'a', 'shop'),
    item('v1', 'Namespace', 'shop'),
    item('v1', 'ServiceAccount', 'web', 'shop'),
  ];
  const groups = applyGroups(items, (i) => i).map((group) => group.map((i) => i.label));
  assert.deepEqual(groups, [
    ['Namespace/shop', 'CustomResourceDefinition/widgets.example.com'],
    ['ClusterRole/reader'],
    ['ValidatingWebhookConfiguration/hook'],
    ['ServiceAccount/web'],
    ['ConfigMap/a', 'ConfigMap/b'],
    ['Service/web'],
    ['Deployment/web'],
    ['Widget/w'],
  ]);
});

test('a Namespace is only a definition in the core group', () => {
  assert.equal(stageOf({ apiVersion: 'v1', kind: 'Namespace' }, false), 'definitions');
  assert.equal(stageOf({ apiVersion: 'example.com/v1', kind: 'Namespace' }, true), 'namespaced');
});

test('prune order is the reverse: namespaced objects first, Namespaces and CRDs last', () => {
  const order = pruneOrder([item('v1', 'Namespace', 'shop'), item('v1', 'ConfigMap', 'a', 'shop'), item('rbac.authorization.k8s.io/v1', 'ClusterRole', 'r')], (i) => i)
    .map((group) => group.map((i) => i.label));
  assert.deepEqual(order, [['ConfigMap/a'], ['ClusterRole/r'], ['Namespace/shop']]);
});
