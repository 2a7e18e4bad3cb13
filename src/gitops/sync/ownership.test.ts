import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../kube/types.ts';
import { annotatedIgnorePaths, autoscaledIds, isOwnedBy, ownerSelector, parseFieldPaths, removeField } from './ownership.ts';

test('field paths parse from the annotation; the listed fields are removed, identity fields never', () => {
  assert.deepEqual(parseFieldPaths(' spec.replicas, ,spec.template.metadata.annotations '), [['spec', 'replicas'], ['spec', 'template', 'metadata', 'annotations']]);
  const object: Record<string, unknown> = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', labels: { a: 'b' } }, spec: { replicas: 3, paused: false } };
  removeField(object, ['spec', 'replicas']);
  removeField(object, ['spec', 'missing', 'deeper']);
  removeField(object, ['metadata', 'name']);
  removeField(object, ['kind']);
  assert.deepEqual(object, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', labels: { a: 'b' } }, spec: { paused: false } });
});

test('the ignore annotation counts on the manifest and on the live object', () => {
  const desired: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', annotations: { 'sluice.dev/ignore-fields': 'spec.paused' } } };
  const live: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', annotations: { 'sluice.dev/ignore-fields': 'spec.replicas' } } };
  assert.deepEqual(annotatedIgnorePaths(desired, live), [['spec', 'paused'], ['spec', 'replicas']]);
  assert.deepEqual(annotatedIgnorePaths(desired, undefined), [['spec', 'paused']]);
});

test('an HPA in the revision hands spec.replicas of its target to the autoscaler', () => {
  const hpa: KubeObject = {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: 'shop' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } },
  };
  assert.deepEqual([...autoscaledIds([hpa])], ['shop_web_apps_Deployment']);
});

test('ownership is both labels', () => {
  const owner = { name: 'apps', namespace: 'flux' };
  assert.equal(ownerSelector(owner), 'sluice.dev/name=apps,sluice.dev/namespace=flux');
  assert.equal(isOwnedBy({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { 'sluice.dev/name': 'apps', 'sluice.dev/namespace': 'flux' } } }, owner), true);
  assert.equal(isOwnedBy({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { 'sluice.dev/name': 'apps', 'sluice.dev/namespace': 'other' } } }, owner), false);
});
