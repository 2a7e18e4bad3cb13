import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../kube/types.ts';
import { canonicalJson, differs, fingerprint } from './normalize.ts';

const live: KubeObject = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', resourceVersion: '10', generation: 3, uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'sluice' }], labels: { app: 'web' } },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image: 'web:1' }] } } },
  status: { availableReplicas: 2 },
};

test('bookkeeping metadata and status do not count as a difference', () => {
  const dryRun: KubeObject = {
    ...structuredClone(live),
    metadata: { ...live.metadata, resourceVersion: '10', generation: 4, managedFields: [{ manager: 'sluice', time: 'later' }] },
    status: { availableReplicas: 0 },
  };
  assert.equal(differs(dryRun, live), false);
});

test('spec, labels and annotations count; key order does not', () => {
  const reordered: KubeObject = { kind: 'Deployment', apiVersion: 'apps/v1', status: live.status, spec: { template: (live.spec as { template: unknown }).template, replicas: 2 }, metadata: { ...live.metadata } };
  assert.equal(differs(reordered, live), false);
  assert.equal(differs({ ...structuredClone(live), spec: { replicas: 3, template: (live.spec as { template: unknown }).template } }, live), true);
  assert.equal(differs({ ...structuredClone(live), metadata: { ...live.metadata, labels: { app: 'web', tier: 'front' } } }, live), true);
  assert.equal(differs(live, undefined), true);
});

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: null }], c: 'x' } }), '{"a":{"c":"x","d":[2,{"x":null,"z":1}]},"b":1}');
  assert.equal(fingerprint({ a: 1, b: 2 }), fingerprint({ b: 2, a: 1 }));
  assert.notEqual(fingerprint({ a: 1 }), fingerprint({ a: 2 }));
});
