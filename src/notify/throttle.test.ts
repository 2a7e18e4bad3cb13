import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EventSeverity, SluiceEvent } from './event.ts';
import { NotificationThrottle, type ThrottleRoute, type ThrottleVerdict } from './throttle.ts';

const minute = 60_000;

function clock(start = Date.UTC(2025, 0, 1, 10)): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function ev(reason: string, severity: EventSeverity, message: string, metadata: SluiceEvent['metadata'] = {}, name = 'podinfo'): SluiceEvent {
  return { object: { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace: 'prod', name }, severity, reason, message, metadata };
}

const route = (overrides: Partial<ThrottleRoute> = {}): ThrottleRoute => ({ key: 'Alert/prod/chat', minSeverity: 'info', weightUpdates: 'coalesce', ...overrides });
const weight = (w: number, revision = 'r2') => ev('CanaryWeightAdvanced', 'info', `weight ${w}`, { weight: w, revision });
const sent = (verdict: ThrottleVerdict) => (verdict.send ? verdict.annotations : undefined);

describe('NotificationThrottle', () => {
  test('identical info events within the window are sent once, and again after it', () => {
    const c = clock();
    const throttle = new NotificationThrottle({ dedupWindowMs: 10 * minute, now: c.now });
    const applied = ev('SyncApplied', 'info', 'applied revision main@abc', { revision: 'main@abc' });
    assert.equal(throttle.decide(route(), applied).send, true);
    c.advance(5 * minute);
    assert.deepEqual(throttle.decide(route(), applied), { send: false, why: 'duplicate' });
    // Different metadata is a different event.
    assert.equal(throttle.decide(route(), { ...applied, metadata: { revision: 'main@def' } }).send, true);
    c.advance(6 * minute);
    assert.equal(throttle.decide(route(), applied).send, true);
  });

  test('weight steps of one rollout are folded into the next message of the object', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    assert.deepEqual(sent(throttle.decide(route(), weight(10))), {});
    for (const w of [20, 30, 40, 50]) assert.deepEqual(throttle.decide(route(), weight(w)), { send: false, why: 'coalesced' });
    const promotion = throttle.decide(route(), ev('CanaryPromotionStarted', 'info', 'promoting'));
    assert.deepEqual(sent(promotion), { weightSteps: [10, 20, 30, 40, 50] });
    // The group is closed: the next rollout's first step is sent again.
    assert.deepEqual(sent(throttle.decide(route(), weight(10, 'r3'))), {});
  });

  test('a new revision starts a new group even without another event between', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    assert.equal(throttle.decide(route(), weight(10, 'r2')).send, true);
    assert.equal(throttle.decide(route(), weight(20, 'r2')).send, false);
    assert.equal(throttle.decide(route(), weight(10, 'r3')).send, true);
  });

  test('a slow rollout re-sends its progress after the heartbeat interval', () => {
    const c = clock();
    const throttle = new NotificationThrottle({ weightHeartbeatMs: 30 * minute, now: c.now });
    throttle.decide(route(), weight(10));
    c.advance(20 * minute);
    assert.equal(throttle.decide(route(), weight(20)).send, false);
    c.advance(11 * minute);
    assert.deepEqual(sent(throttle.decide(route(), weight(30))), { weightSteps: [10, 20, 30] });
    assert.equal(throttle.decide(route(), weight(40)).send, false);
  });

  test('mode "every" sends each step, still without duplicates', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    const every = route({ weightUpdates: 'every' });
    for (const w of [10, 20, 30]) assert.equal(throttle.decide(every, weight(w)).send, true);
    assert.deepEqual(throttle.decide(every, weight(30)), { send: false, why: 'duplicate' });
  });

  test('a repeating error is sent once, then at most once per interval with its count', () => {
    const c = clock();
    const throttle = new NotificationThrottle({ repeatIntervalMs: 60 * minute, now: c.now });
    const failed = ev('SyncFailed', 'error', 'apply failed: Deployment/web is invalid', { revision: 'main@bad' }, 'apps');
    const first = c.now();
    assert.deepEqual(sent(throttle.decide(route(), failed)), {});
    for (let i = 0; i < 11; i++) {
      c.advance(5 * minute);
      assert.deepEqual(throttle.decide(route(), failed), { send: false, why: 'repeat' });
    }
    c.advance(5 * minute);
    assert.deepEqual(sent(throttle.decide(route(), failed)), { repeated: { count: 13, sinceMs: first } });
    // The same failure on a new revision is news.
    assert.equal(throttle.decide(route(), { ...failed, metadata: { revision: 'main@worse' } }).send, true);
  });

  test('the first info event after errors is the recovery, sent even to error-only routes', () => {
    const c = clock();
    const throttle = new NotificationThrottle({ now: c.now });
    const errorsOnly = route({ minSeverity: 'error' });
    const failed = ev('SyncFailed', 'error', 'apply failed', {}, 'apps');
    const since = c.now();
    throttle.decide(errorsOnly, failed);
    c.advance(minute);
    throttle.decide(errorsOnly, failed);
    const applied = ev('SyncApplied', 'info', 'applied main@good', {}, 'apps');
    assert.deepEqual(sent(throttle.decide(errorsOnly, applied)), { recovered: { reason: 'SyncFailed', failures: 2, sinceMs: since } });
    // Afterwards info events are below this route's threshold again.
    assert.deepEqual(throttle.decide(errorsOnly, ev('SyncApplied', 'info', 'applied main@next', {}, 'apps')), { send: false, why: 'below-severity' });
    // And the incident is closed: the same failure alerts at once.
    assert.equal(throttle.decide(errorsOnly, failed).send, true);
  });

  test('warnings are rate-limited but an info event after them is no recovery', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    const abort = ev('CanaryManualAbort', 'warning', 'aborted by alice');
    assert.equal(throttle.decide(route(), abort).send, true);
    assert.deepEqual(throttle.decide(route(), abort), { send: false, why: 'repeat' });
    assert.deepEqual(sent(throttle.decide(route(), ev('CanaryNewRevision', 'info', 'new revision'))), {});
    assert.deepEqual(throttle.decide(route({ minSeverity: 'error' }), abort), { send: false, why: 'below-severity' });
  });

  test('a rollback carries the folded weight steps', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    throttle.decide(route(), weight(10));
    throttle.decide(route(), weight(20));
    const rolledBack = ev('CanaryRolledBack', 'error', 'rolled back', { failingCheck: { name: 'request-success-rate', value: 91, min: 99 } });
    assert.deepEqual(sent(throttle.decide(route(), rolledBack)), { weightSteps: [10, 20] });
  });

  test('routes and objects keep separate state', () => {
    const throttle = new NotificationThrottle({ now: clock().now });
    const applied = ev('SyncApplied', 'info', 'applied');
    assert.equal(throttle.decide(route({ key: 'Alert/a/one' }), applied).send, true);
    assert.equal(throttle.decide(route({ key: 'Alert/a/two' }), applied).send, true);
    assert.equal(throttle.decide(route({ key: 'Alert/a/one' }), { ...applied, object: { ...applied.object, name: 'other' } }).send, true);
  });

  test('state is bounded and expires', () => {
    const c = clock();
    const throttle = new NotificationThrottle({ maxEntries: 50, dedupWindowMs: minute, stateTtlMs: 10 * minute, now: c.now });
    for (let i = 0; i < 500; i++) throttle.decide(route(), ev('SyncApplied', 'info', `applied ${i}`, {}, `s${i}`));
    assert.ok(throttle.size <= 150, `size ${throttle.size}`);
    c.advance(11 * minute);
    throttle.decide(route(), ev('SyncApplied', 'info', 'applied', {}, 'late'));
    assert.equal(throttle.size, 1);
  });
});
