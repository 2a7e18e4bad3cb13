import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../kube/types.ts';
import { healthOf } from './health.ts';

const deployment = (spec: Record<string, unknown>, status: Record<string, unknown>, generation = 2): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop', generation }, spec, status,
});

test('a Deployment is healthy once the latest generation is rolled out and available', () => {
  assert.equal(healthOf(deployment({ replicas: 2 }, {})).state, 'progressing', 'no status yet');
  assert.equal(healthOf(deployment({ replicas: 2 }, { observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).state, 'progressing', 'old generation');
  assert.match(healthOf(deployment({ replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 })).message, /old replicas/);
  assert.match(healthOf(deployment({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 })).message, /1 of 2 replicas available/);
  assert.equal(healthOf(deployment({ replicas: 2 }, {
    observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2, conditions: [{ type: 'Available', status: 'True' }],
  })).state, 'healthy');
  assert.equal(healthOf(deployment({ replicas: 2 }, {
    observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' }],
  })).state, 'failed');
});

test('Jobs, custom resources with Ready, and kinds without health', () => {
  const job = (conditions: unknown[]): KubeObject => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, status: { conditions } });
  assert.equal(healthOf(job([])).state, 'progressing');
  assert.equal(healthOf(job([{ type: 'Complete', status: 'True' }])).state, 'healthy');
  assert.equal(healthOf(job([{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }])).state, 'failed');

  const canary = (conditions: unknown[], observedGeneration = 1): KubeObject => ({
    apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'c', generation: 1 }, status: { conditions, observedGeneration },
  });
  assert.equal(healthOf(canary([{ type: 'Ready', status: 'True' }])).state, 'healthy');
  assert.equal(healthOf(canary([{ type: 'Ready', status: 'False', message: 'analysis running' }])).state, 'progressing');
  assert.equal(healthOf(canary([{ type: 'Ready', status: 'False' }, { type: 'Stalled', status: 'True' }])).state, 'failed');
  assert.equal(healthOf(canary([{ type: 'Ready', status: 'True' }], 0)).state, 'progressing', 'stale observedGeneration');
  assert.equal(healthOf({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }).state, 'healthy');
});
