import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFor, mergeEntries, objectId, parseId, refOfEntry, staleEntries } from './inventory.ts';

test('ids follow namespace_name_group_kind, with empty parts for the core group and cluster scope', () => {
  assert.equal(objectId({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' }), 'shop_web_apps_Deployment');
  assert.equal(objectId({ apiVersion: 'v1', kind: 'Namespace', name: 'shop' }), '_shop__Namespace');
  assert.deepEqual(entryFor({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' }), { id: 'shop_web_apps_Deployment', v: 'v1' });
});

test('entries round-trip to references, including names with underscores', () => {
  for (const ref of [
    { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop' },
    { apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', namespace: 'shop' },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'system:odd_name_here', namespace: undefined },
    { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com', namespace: undefined },
  ]) {
    assert.deepEqual(refOfEntry(entryFor(ref)), ref);
  }
  assert.equal(parseId('garbage'), undefined);
  assert.equal(parseId('a_b'), undefined);
});

test('stale entries are those that left, compared by id whatever the version', () => {
  const previous = [{ id: 'ns_a__ConfigMap', v: 'v1' }, { id: 'ns_b_apps_Deployment', v: 'v1' }, { id: 'ns_c__Service', v: 'v1' }];
  const next = [{ id: 'ns_a__ConfigMap', v: 'v1' }, { id: 'ns_b_apps_Deployment', v: 'v1beta2' }];
  assert.deepEqual(staleEntries(previous, next), [{ id: 'ns_c__Service', v: 'v1' }]);
  assert.deepEqual(staleEntries([], next), []);
});

test('merged entries are unique by id, later lists win, and sorted', () => {
  const merged = mergeEntries([{ id: 'b', v: 'v1' }, { id: 'a', v: 'v1' }], [{ id: 'b', v: 'v2' }, { id: 'c', v: 'v1' }]);
  assert.deepEqual(merged, [{ id: 'a', v: 'v1' }, { id: 'b', v: 'v2' }, { id: 'c', v: 'v1' }]);
});
