import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary } from '../api/types.ts';
import {
  buildConfigCopy,
  buildPrimary,
  buildPrimaryHpa,
  buildService,
  configChecksum,
  configRefs,
  isDeploymentReady,
  revisionOf,
  trackedConfigs,
  type ConfigObject,
  type Deployment,
  type HorizontalPodAutoscaler,
  type PodTemplate,
} from './workloads.ts';

const canary: Canary = {
  apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web', namespace: 'shop', uid: 'u1' },
  spec: { targetRef: { kind: 'Deployment', name: 'web' }, service: { port: 80, targetPort: 8080 }, analysis: { stepWeight: 10 } },
};

const template = (image: string): PodTemplate => ({
  metadata: { labels: { app: 'web' } },
  spec: {
    containers: [{ name: 'web', image, envFrom: [{ configMapRef: { name: 'env' } }], env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'token' } } }] }],
    volumes: [
      { name: 'cfg', configMap: { name: 'files' } },
      { name: 'opt', configMap: { name: 'maybe', optional: true } },
      { name: 'p', projected: { sources: [{ secret: { name: 'certs' } }] } },
    ],
  },
});

const target = (image = 'web:1'): Deployment => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', labels: { team: 'a' } },
  spec: { replicas: 3, minReadySeconds: 5, selector: { matchLabels: { app: 'web' } }, template: template(image) },
});

const configMap = (name: string, data: Record<string, string>): ConfigObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });

describe('revision', () => {
  test('same template and configs give the same revision; key order does not matter', () => {
    const a = revisionOf(template('web:1'), { 'ConfigMap/env': 'x' });
    const reordered: PodTemplate = JSON.parse(JSON.stringify({ spec: template('web:1').spec, metadata: template('web:1').metadata })) as PodTemplate;
    assert.equal(revisionOf(reordered, { 'ConfigMap/env': 'x' }), a);
    assert.notEqual(revisionOf(template('web:2'), { 'ConfigMap/env': 'x' }), a);
    assert.notEqual(revisionOf(template('web:1'), { 'ConfigMap/env': 'y' }), a);
  });

  test('config checksums change with data only', () => {
    const one = configMap('env', { A: '1' });
    assert.equal(configChecksum(one), configChecksum({ ...one, metadata: { name: 'env', labels: { x: 'y' } } }));
    assert.notEqual(configChecksum(one), configChecksum(configMap('env', { A: '2' })));
  });

  test('finds every referenced ConfigMap and Secret; optional missing ones are skipped, required ones fail', () => {
    assert.deepEqual(configRefs(template('x')).map((r) => `${r.kind}/${r.name}${r.optional ? '?' : ''}`), [
      'ConfigMap/env', 'ConfigMap/files', 'ConfigMap/maybe?', 'Secret/certs', 'Secret/token',
    ]);
    const objects = new Map<string, ConfigObject>([
      ['ConfigMap/env', configMap('env', {})], ['ConfigMap/files', configMap('files', {})],
      ['Secret/certs', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'certs' } }],
      ['Secret/token', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token', annotations: { 'sluice.dev/config-tracking': 'disabled' } } }],
    ]);
    const tracked = trackedConfigs(template('x'), (kind, name) => objects.get(`${kind}/${name}`));
    assert.deepEqual(tracked.map((t) => t.ref.name), ['env', 'files', 'certs']);
    objects.delete('ConfigMap/files');
    assert.throws(() => trackedConfigs(template('x'), (kind, name) => objects.get(`${kind}/${name}`)), /ConfigMap files, referenced by the target's pod template, does not exist/);
  });
});

describe('builders', () => {
  test('primary: -primary selector label, copied configs renamed, strategy fields copied, owned by the Canary', () => {
    const primary = buildPrimary(canary, target(), { revision: 'r1', replicas: 3, copiedConfigs: new Set(['ConfigMap/env', 'ConfigMap/files', 'Secret/certs']) });
    assert.equal(primary.metadata.name, 'web-primary');
    assert.equal(primary.metadata.annotations?.['sluice.dev/revision'], 'r1');
    assert.deepEqual(primary.spec.selector.matchLabels, { app: 'web-primary' });
    assert.equal(primary.spec.template.metadata?.labels?.app, 'web-primary');
    assert.equal(primary.spec.minReadySeconds, 5);
    assert.equal(primary.spec.replicas, 3);
    const container = primary.spec.template.spec.containers?.[0];
    assert.equal(container?.envFrom?.[0]?.configMapRef?.name, 'env-primary');
    assert.equal(container?.env?.[0]?.valueFrom?.secretKeyRef?.name, 'token', 'untracked Secret keeps its name');
    assert.equal(primary.spec.template.spec.volumes?.[0]?.configMap?.name, 'files-primary');
    assert.equal(primary.spec.template.spec.volumes?.[2]?.projected?.sources?.[0]?.secret?.name, 'certs-primary');
    assert.deepEqual(primary.metadata.ownerReferences?.[0], { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true });
    // The target is not modified.
    assert.equal(target().spec.template.spec.volumes?.[0]?.configMap?.name, 'files');
  });

  test('config copy and HPA copy', () => {
    const copy = buildConfigCopy(canary, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'certs', resourceVersion: '9' }, data: { a: 'Yg==' }, type: 'kubernetes.io/tls' });
    assert.deepEqual({ name: copy.metadata.name, data: copy.data, type: copy.type }, { name: 'certs-primary', data: { a: 'Yg==' }, type: 'kubernetes.io/tls' });
    const hpa: HorizontalPodAutoscaler = {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web' },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 10 },
    };
    const withBounds: Canary = { ...canary, spec: { ...canary.spec, autoscalerRef: { kind: 'HorizontalPodAutoscaler', name: 'web', primaryScalerReplicas: { minReplicas: 4 } } } };
    const primaryHpa = buildPrimaryHpa(withBounds, hpa, 'web-primary');
    assert.equal(primaryHpa.metadata.name, 'web-primary');
    assert.equal(primaryHpa.spec.scaleTargetRef.name, 'web-primary');
    assert.equal(primaryHpa.spec.minReplicas, 4);
    assert.equal(primaryHpa.spec.maxReplicas, 10);
  });

  test('services: apex selects the primary unless told otherwise; -canary selects the target', () => {
    const selector = (role: 'apex' | 'primary' | 'canary', apex?: 'primary' | 'canary') => (buildService(canary, target(), role, apex).spec as { selector: Record<string, string> }).selector;
    assert.deepEqual(selector('apex'), { app: 'web-primary' });
    assert.deepEqual(selector('apex', 'canary'), { app: 'web' });
    assert.deepEqual(selector('primary'), { app: 'web-primary' });
    assert.deepEqual(selector('canary'), { app: 'web' });
    const ports = (buildService(canary, target(), 'canary').spec as { ports: { port: number; targetPort: number }[] }).ports;
    assert.deepEqual(ports.map((p) => [p.port, p.targetPort]), [[80, 8080]]);
  });

  test('a target without a selector label is rejected with a hint', () => {
    const bad = target();
    bad.spec.selector.matchLabels = { tier: 'web' };
    assert.throws(() => buildService(canary, bad, 'apex'), /none of the selector labels/);
  });

  test('readiness: observed generation, updated and available replicas, threshold', () => {
    const d = (status: Deployment['status'], replicas = 4): Deployment => ({ ...target(), metadata: { name: 'web', generation: 2 }, spec: { ...target().spec, replicas }, status });
    assert.equal(isDeploymentReady(undefined), false);
    assert.equal(isDeploymentReady(d({ observedGeneration: 1, updatedReplicas: 4, availableReplicas: 4 })), false);
    assert.equal(isDeploymentReady(d({ observedGeneration: 2, updatedReplicas: 3, availableReplicas: 4 })), false);
    assert.equal(isDeploymentReady(d({ observedGeneration: 2, updatedReplicas: 4, availableReplicas: 4 })), true);
    assert.equal(isDeploymentReady(d({ observedGeneration: 2, updatedReplicas: 4, availableReplicas: 2 })), false);
    assert.equal(isDeploymentReady(d({ observedGeneration: 2, updatedReplicas: 4, availableReplicas: 2 }), 50), true);
    assert.equal(isDeploymentReady(d({ observedGeneration: 2 }, 0)), false, 'a Deployment at zero replicas serves nothing');
  });
});
