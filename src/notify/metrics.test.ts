import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyMetrics } from './metrics.ts';

test('counters by label, sums, gauges and a snapshot a /metrics module can render', () => {
  const metrics = new NotifyMetrics();
  metrics.inc('sluice_notify_deliveries_total', { provider_type: 'slack', outcome: 'sent' });
  metrics.inc('sluice_notify_deliveries_total', { outcome: 'sent', provider_type: 'slack' });
  metrics.inc('sluice_notify_deliveries_total', { provider_type: 'discord', outcome: 'failed' });
  metrics.set('sluice_notify_queue_depth', 7);
  assert.equal(metrics.value('sluice_notify_deliveries_total', { provider_type: 'slack', outcome: 'sent' }), 2);
  assert.equal(metrics.value('sluice_notify_deliveries_total'), 3);
  assert.equal(metrics.value('sluice_notify_events_total'), 0);
  const snapshot = metrics.snapshot();
  assert.deepEqual(snapshot.find((s) => s.name === 'sluice_notify_queue_depth'), {
    name: 'sluice_notify_queue_depth', help: 'Chat messages waiting for delivery.', type: 'gauge', labels: {}, value: 7,
  });
  assert.equal(snapshot.filter((s) => s.name === 'sluice_notify_deliveries_total').length, 2);
  assert.ok(snapshot.every((s) => s.help.length > 0));
});
