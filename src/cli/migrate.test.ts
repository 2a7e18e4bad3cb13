import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateObject } from '../api/schema.ts';
import { migrateText, type MigrateResult } from './migrate.ts';

const fixtures = path.join(import.meta.dirname, 'testdata/flagger');

function migrate(text: string, namespace?: string): MigrateResult {
  const result: MigrateResult = { objects: [], notes: [], errors: [] };
  migrateText(text, { file: 'in.yaml', namespace }, result);
  return result;
}

describe('migrate flagger', () => {
  test('the podinfo Canary of Flagger\'s docs converts by apiVersion alone and is valid', () => {
    const result = migrate(fs.readFileSync(path.join(fixtures, 'podinfo-canary.yaml'), 'utf8'));
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.notes, []);
    const [canary] = result.objects;
    assert.equal(canary?.apiVersion, 'sluice.dev/v1alpha1');
    assert.deepEqual((canary?.metadata as { namespace: string }).namespace, 'test');
    assert.ok(validateObject(canary).valid);
  });

  test('fields sluice does not have are dropped and reported; server fields and status go', () => {
    const result = migrate(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: web
  namespace: prod
  uid: 123
  resourceVersion: "9"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service:
    port: 80
    delegation: true
  analysis:
    interval: 1m
    threshold: 3
    maxWeight: 40
    stepWeight: 20
    sessionAffinityFoo: x
status:
  phase: Succeeded
`, 'staging');
    assert.deepEqual(result.errors, []);
    const [canary] = result.objects;
    assert.deepEqual(canary?.metadata, { name: 'web', namespace: 'staging' });
    assert.equal((canary?.spec as { service: Record<string, unknown> }).service.delegation, undefined);
    assert.ok(result.notes.some((n) => n.includes('spec.service.delegation is not supported by sluice; dropped')), result.notes.join('\n'));
    assert.ok(result.notes.some((n) => n.includes('spec.analysis.sessionAffinityFoo')));
    assert.ok(result.notes.some((n) => n.includes('status dropped')));
    assert.ok(validateObject(canary).valid);
  });

  test('v1alpha3 canaryAnalysis and single metric thresholds are carried over', () => {
    const result = migrate(`apiVersion: flagger.app/v1alpha3
kind: Canary
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  canaryAnalysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 5
    metrics:
      - {name: request-success-rate, threshold: 99, interval: 1m}
      - {name: request-duration, threshold: 500, interval: 1m}
`);
    assert.deepEqual(result.errors, []);
    const spec = result.objects[0]?.spec as { analysis: { metrics: { thresholdRange: unknown }[] }; canaryAnalysis?: unknown };
    assert.equal(spec.canaryAnalysis, undefined);
    assert.deepEqual(spec.analysis.metrics.map((m) => m.thresholdRange), [{ min: 99 }, { max: 500 }]);
    assert.ok(result.notes.some((n) => n.includes('canaryAnalysis renamed')));
  });

  test('unsupported providers, kinds and broken documents are errors; other objects pass through', () => {
    const result = migrate(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: mesh}
spec:
  provider: appmesh
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  analysis: {interval: 1m, threshold: 5, maxWeight: 50, stepWeight: 10}
---
apiVersion: flagger.app/v1beta1
kind: Something
metadata: {name: x}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep}
---
just a string
`);
    assert.equal(result.errors.length, 3, result.errors.join('\n'));
    assert.match(result.errors[0] ?? '', /Canary mesh: the converted object is not valid for sluice: spec\.provider: Unsupported value: "appmesh"/);
    assert.match(result.errors[1] ?? '', /Flagger kind Something has no sluice equivalent/);
    assert.match(result.errors[2] ?? '', /not a Kubernetes object/);
    assert.deepEqual(result.objects.map((o) => o.kind), ['ConfigMap']);
  });

  test('alert provider type aliases', () => {
    const result = migrate('apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {name: chat}\nspec: {type: gchat, address: "https://chat.googleapis.com/v1/x"}\n');
    assert.deepEqual(result.errors, []);
    assert.equal((result.objects[0]?.spec as { type: string }).type, 'googlechat');
  });
});
