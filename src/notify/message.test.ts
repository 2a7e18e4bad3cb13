import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventFor, CollectingNotifier, isAtLeast, reasonTitle } from './event.ts';
import { renderMessage, truncate } from './message.ts';

const canary = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'podinfo', namespace: 'prod', uid: 'u1', labels: { app: 'podinfo' } } };
const at = new Date('2025-03-01T12:00:00Z');

describe('events and messages', () => {
  test('eventFor fills the involved object and the catalogue severity', () => {
    const e = eventFor(canary, 'CanaryRolledBack', 'rolled back');
    assert.deepEqual(e.object, { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace: 'prod', name: 'podinfo', uid: 'u1', labels: { app: 'podinfo' } });
    assert.equal(e.severity, 'error');
    assert.equal(eventFor(canary, 'SomethingCustom', 'x').severity, 'info');
    assert.equal(eventFor(canary, 'CanaryPromoted', 'x', { severity: 'warning' }).severity, 'warning');
  });

  test('severity order and reason titles', () => {
    assert.equal(isAtLeast('error', 'warning'), true);
    assert.equal(isAtLeast('info', 'warning'), false);
    assert.equal(reasonTitle('CanaryWeightAdvanced'), 'Weight advanced');
    assert.equal(reasonTitle('HealthCheckTimedOut'), 'Health check timed out');
  });

  test('CollectingNotifier keeps what reconcilers emitted', () => {
    const notifier = new CollectingNotifier();
    notifier.emit(eventFor(canary, 'CanaryInitialized', 'ready'));
    assert.deepEqual(notifier.reasons(), ['CanaryInitialized']);
  });

  test('a rollback message shows the failing check, the steps and the revision', () => {
    const e = eventFor(canary, 'CanaryRolledBack', 'canary failed 5 checks', {
      timestamp: at,
      metadata: {
        revision: 'podinfo-7d9f', failingCheck: { name: 'request-success-rate', value: 91.5, min: 99 },
        images: { from: ['ghcr.io/podinfo:6.0.0'], to: ['ghcr.io/podinfo:6.1.0'] },
      },
    });
    const m = renderMessage(e, { weightSteps: [10, 20] }, { summary: 'eu-1', eventMetadata: { env: 'prod' } });
    assert.equal(m.title, 'Canary prod/podinfo: Rolled back');
    assert.equal(m.text, 'canary failed 5 checks');
    assert.deepEqual(m.fields, [
      { name: 'Revision', value: 'podinfo-7d9f' },
      { name: 'Images', value: 'ghcr.io/podinfo:6.0.0 → ghcr.io/podinfo:6.1.0' },
      { name: 'Traffic steps', value: '10% → 20%' },
      { name: 'Failing check', value: 'request-success-rate: 91.5 (threshold ≥ 99)' },
      { name: 'env', value: 'prod' },
    ]);
    assert.equal(m.metadata.summary, 'eu-1');
    assert.equal(m.metadata.failingCheck, 'request-success-rate: 91.5 (threshold ≥ 99)');
    assert.equal(m.timestamp, at);
  });

  test('recovery, repeats, change sets, errors and durations are rendered', () => {
    const sync = { ...canary, kind: 'Sync' };
    const since = Date.parse('2025-03-01T10:02:00Z');
    const applied = renderMessage(eventFor(sync, 'SyncApplied', 'applied main@abc', {
      metadata: { changeSet: { created: ['Deployment/a', 'Service/a'], configured: ['ConfigMap/c'], unchanged: 12 }, durationSeconds: 75 },
    }), { recovered: { reason: 'SyncFailed', failures: 7, sinceMs: since } });
    assert.deepEqual(applied.fields.map((f) => [f.name, f.value]), [
      ['Recovered', 'Apply failed occurred 7 times since 2025-03-01 10:02 UTC'],
      ['Duration', '1m15s'],
      ['Changes', 'created Deployment/a, Service/a; configured ConfigMap/c; 12 unchanged'],
    ]);
    const failed = renderMessage(eventFor(sync, 'SyncFailed', 'apply failed', {
      metadata: { errors: ['e1', 'e2', 'e3', 'e4', 'e5'] },
    }), { repeated: { count: 13, sinceMs: since } });
    assert.deepEqual(failed.fields.map((f) => [f.name, f.value]), [
      ['Repeated', '13 times since 2025-03-01 10:02 UTC'],
      ['Errors', 'e1\ne2\ne3\n(and 2 more)'],
    ]);
  });

  test('truncate keeps within the limit and never splits a surrogate pair', () => {
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abc', 4), 'abc');
    const cut = truncate('ab😀cd', 4);
    assert.ok(cut.length <= 4);
    assert.equal(cut, 'ab…');
  });
});
