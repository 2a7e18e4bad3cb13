import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from './apply.ts';
import { buildChangeSet, describeChange, sameChanges, shouldRecord, summarizeChangeSet } from './changeset.ts';
import { objectId } from './inventory.ts';

function change(kind: string, name: string, action: Change['action'], apiVersion = 'v1', namespace: string | undefined = 'shop'): Change {
  const ref = { apiVersion, kind, name, namespace };
  return { id: objectId(ref), ref, action };
}

const revision = 'main@sha1:0123456789abcdef0123456789abcdef01234567';

test('entries hold the changed objects as inventory ids, sorted by action then id; unchanged ones are counted', () => {
  const set = buildChangeSet(revision, [
    change('Service', 'web', 'unchanged'),
    change('Secret', 'old', 'pruned'),
    change('Deployment', 'web', 'configured', 'apps/v1'),
    change('ConfigMap', 'b', 'created'),
    change('ConfigMap', 'a', 'created'),
    change('Job', 'once', 'recreated', 'batch/v1'),
    change('Namespace', 'extra', 'unchanged', 'v1', undefined),
  ], { reconcileRequest: '2026-01-01T00:00:00Z' });
  assert.deepEqual(set, {
    revision,
    reconcileRequest: '2026-01-01T00:00:00Z',
    entries: [
      { id: 'shop_a__ConfigMap', v: 'v1', action: 'created' },
      { id: 'shop_b__ConfigMap', v: 'v1', action: 'created' },
      { id: 'shop_web_apps_Deployment', v: 'v1', action: 'configured' },
      { id: 'shop_once_batch_Job', v: 'v1', action: 'recreated' },
      { id: 'shop_old__Secret', v: 'v1', action: 'pruned' },
    ],
    unchanged: 2,
  });
  assert.equal(summarizeChangeSet(set), '2 created, 1 configured, 1 recreated, 2 unchanged, 1 pruned');
  assert.deepEqual(set.entries.map(describeChange), [
    'ConfigMap/shop/a created', 'ConfigMap/shop/b created', 'Deployment/shop/web configured', 'Job/shop/once recreated', 'Secret/shop/old pruned',
  ]);
  assert.equal(describeChange({ id: '_extra__Namespace', v: 'v1', action: 'pruned' }), 'Namespace/extra pruned');
});

test('drift is flagged only when true, and the entries are capped with truncated set', () => {
  const many = Array.from({ length: 7 }, (_, i) => change('ConfigMap', `cm-${i}`, 'configured'));
  const set = buildChangeSet(revision, many, { drift: true, maxEntries: 5 });
  assert.equal(set.entries.length, 5);
  assert.equal(set.truncated, true);
  assert.equal(set.drift, true);
  assert.equal('reconcileRequest' in set, false);
  const small = buildChangeSet(revision, many.slice(0, 2), { drift: false });
  assert.equal('truncated' in small, false);
  assert.equal('drift' in small, false);
  assert.equal('drift' in buildChangeSet(revision, [change('ConfigMap', 'same', 'unchanged')], { drift: true }), false, 'no changes, no drift');
});

test('an unrequested run that changed nothing at the recorded revision keeps the old change set; anything else replaces it', () => {
  const previous = buildChangeSet(revision, [change('Deployment', 'web', 'configured', 'apps/v1')]);
  const quiet = buildChangeSet(revision, [change('Deployment', 'web', 'unchanged', 'apps/v1')]);
  assert.equal(shouldRecord(previous, quiet), false, 'a no-op re-sync writes no status');
  assert.equal(shouldRecord(undefined, quiet), true);
  assert.equal(shouldRecord(previous, buildChangeSet('main@sha1:other', [])), true, 'a new revision is recorded even when nothing changed');
  assert.equal(shouldRecord(previous, buildChangeSet(revision, [], { reconcileRequest: 'now' })), true, 'a handled request is recorded');
  assert.equal(shouldRecord(previous, buildChangeSet(revision, [change('Deployment', 'web', 'configured', 'apps/v1')], { drift: true })), true);
});

test('sameChanges compares revision, drift, counts and entries but not the request id', () => {
  const a = buildChangeSet(revision, [change('Deployment', 'web', 'configured', 'apps/v1')], { reconcileRequest: 'one' });
  assert.equal(sameChanges(a, buildChangeSet(revision, [change('Deployment', 'web', 'configured', 'apps/v1')], { reconcileRequest: 'two' })), true);
  assert.equal(sameChanges(a, buildChangeSet(revision, [change('Deployment', 'web', 'configured', 'apps/v1')], { drift: true })), false);
  assert.equal(sameChanges(a, buildChangeSet(revision, [change('Deployment', 'web', 'created', 'apps/v1')])), false);
  assert.equal(sameChanges(a, undefined), false);
  assert.equal(sameChanges(undefined, undefined), true);
});
