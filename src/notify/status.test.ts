import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Alert, AlertProvider } from '../api/types.ts';
import { compileAlert } from './routing.ts';
import { alertReadiness, providerReadiness, readyStatusPatch } from './status.ts';

const provider: AlertProvider = { apiVersion: 'sluice.dev/v1alpha1', kind: 'AlertProvider', metadata: { name: 'slack', namespace: 'team', generation: 2 }, spec: { type: 'slack' } };
const alert: Alert = {
  apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', metadata: { name: 'chat', namespace: 'team', generation: 1 },
  spec: { providerRef: { name: 'slack' }, eventSources: [{ kind: 'Canary', name: '*' }] },
};
const options = { weightUpdates: 'coalesce' as const };

describe('Ready conditions', () => {
  test('alert readiness follows spec problems, the provider and its readiness', () => {
    const ok = { status: 'True' as const, reason: 'Succeeded', message: 'ready' };
    assert.equal(alertReadiness(compileAlert(alert, options), undefined, undefined).reason, 'ProviderNotFound');
    assert.deepEqual(alertReadiness(compileAlert(alert, options), provider, { status: 'False', reason: 'SecretNotFound', message: 'Secret team/x not found' }),
      { status: 'False', reason: 'ProviderNotReady', message: 'AlertProvider team/slack is not ready: Secret team/x not found' });
    assert.equal(alertReadiness(compileAlert(alert, options), provider, ok).status, 'True');
    assert.equal(alertReadiness(compileAlert({ ...alert, spec: { ...alert.spec, suspend: true } }, options), provider, ok).reason, 'Suspended');
    assert.equal(alertReadiness(compileAlert({ ...alert, spec: { ...alert.spec, exclusionList: ['['] } }, options), provider, ok).reason, 'InvalidSpec');
  });

  test('provider readiness mirrors the resolution', () => {
    assert.deepEqual(providerReadiness({ ok: false, reason: 'SecretNotFound', message: 'Secret team/x not found', retryable: false }),
      { status: 'False', reason: 'SecretNotFound', message: 'Secret team/x not found' });
  });

  test('a patch is made only when the condition or generation changes; transition time moves only with the status', () => {
    const now = new Date('2025-03-01T12:00:00.123Z');
    const state = { status: 'False' as const, reason: 'SecretNotFound', message: 'Secret team/x not found' };
    const first = readyStatusPatch(provider, state, now);
    assert.deepEqual(first, {
      observedGeneration: 2,
      conditions: [{ type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: '2025-03-01T12:00:00Z', reason: 'SecretNotFound', message: 'Secret team/x not found' }],
    });
    const written = { ...provider, status: first };
    assert.equal(readyStatusPatch(written, state, new Date()), undefined);
    const otherMessage = readyStatusPatch(written, { ...state, message: 'Secret team/y not found' }, new Date('2025-03-02T00:00:00Z'));
    assert.equal(otherMessage?.conditions[0]?.lastTransitionTime, '2025-03-01T12:00:00Z');
    const ready = readyStatusPatch(written, { status: 'True', reason: 'Succeeded', message: 'ok' }, new Date('2025-03-02T00:00:00Z'));
    assert.equal(ready?.conditions[0]?.lastTransitionTime, '2025-03-02T00:00:00Z');
    // Other condition types are kept.
    const withStalled = { ...written, status: { ...first, conditions: [...(first?.conditions ?? []), { type: 'Stalled', status: 'False' as const, reason: 'X', message: '', lastTransitionTime: 't' }] } };
    assert.deepEqual(readyStatusPatch(withStalled, { status: 'True', reason: 'Succeeded', message: 'ok' }, now)?.conditions.map((c) => c.type), ['Stalled', 'Ready']);
  });
});
