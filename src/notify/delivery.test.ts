// The delivery queue against real HTTP receivers on loopback.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { AlertProviderType } from '../api/types.ts';
import { createLogger } from '../log.ts';
import { ChatReceiver, closedAddress, ForwardProxy } from '../../test/env/chat-receivers.ts';
import { DeliveryQueue, parseRetryAfter, type DeliveryFailure, type DeliveryOptions, type TargetResolution } from './delivery.ts';
import { eventFor } from './event.ts';
import { renderMessage } from './message.ts';
import { NotifyMetrics } from './metrics.ts';
import type { Route } from './routing.ts';

const TOKEN = 'T0KEN-do-not-leak-4f9a';
const canary = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'podinfo', namespace: 'prod' } };
const receivers: ChatReceiver[] = [];
after(async () => { await Promise.all(receivers.map((r) => r.close())); });

async function receiver(type: AlertProviderType = 'generic'): Promise<ChatReceiver> {
  const r = await ChatReceiver.start({ type, hmacKey: TOKEN });
  receivers.push(r);
  return r;
}

function route(provider: string): Route {
  return {
    key: `Alert/prod/${provider}`, minSeverity: 'info', weightUpdates: 'coalesce', provider: { namespace: 'prod', name: provider },
    owner: { apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', namespace: 'prod', name: provider },
  };
}

function item(provider: string, text: string, type = 'generic') {
  return { route: route(provider), message: renderMessage(eventFor(canary, 'CanaryWeightAdvanced', text), {}), providerType: type };
}

interface Harness {
  queue: DeliveryQueue;
  metrics: NotifyMetrics;
  failures: DeliveryFailure[];
  logs: string[];
  rejected: string[];
  dropped: string[];
}

function harness(addresses: Record<string, { address: string; type?: AlertProviderType; proxy?: string; timeoutMs?: number }>, options: Partial<DeliveryOptions> = {}): Harness {
  const metrics = new NotifyMetrics();
  const failures: DeliveryFailure[] = [];
  const logs: string[] = [];
  const rejected: string[] = [];
  const dropped: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _encoding, done) { logs.push(chunk.toString()); done(); } });
  const resolve = (r: Route): Promise<TargetResolution> => {
    const entry = addresses[r.provider.name];
    if (!entry) return Promise.resolve({ ok: false, retryable: false, message: `AlertProvider prod/${r.provider.name} not found` });
    return Promise.resolve({
      ok: true,
      provider: { type: entry.type ?? 'generic', target: { address: entry.address, token: TOKEN, headers: {} }, proxy: entry.proxy, timeoutMs: entry.timeoutMs ?? 2000, secrets: [entry.address, TOKEN] },
    });
  };
  const queue = new DeliveryQueue({
    resolve, onFailed: (f) => failures.push(f), onAddressRejected: (r) => rejected.push(r.key), onDropped: (i) => dropped.push(i.message.text),
    logger: createLogger({ level: 'debug', destination }), metrics, backoffBaseMs: 20, jitter: 0, ...options,
  });
  return { queue, metrics, failures, logs, rejected, dropped };
}

const texts = (r: ChatReceiver) => r.delivered().map((req) => (req.json as { message: string }).message);

describe('DeliveryQueue', () => {
  test('messages to one provider arrive one at a time, in order', async () => {
    const r = await receiver();
    const h = harness({ chat: { address: r.address(TOKEN) } });
    for (let i = 1; i <= 20; i++) h.queue.enqueue(item('chat', `step ${i}`));
    await h.queue.idle();
    assert.deepEqual(texts(r), Array.from({ length: 20 }, (_, i) => `step ${i + 1}`));
    assert.equal(h.metrics.value('sluice_notify_deliveries_total', { provider_type: 'generic', outcome: 'sent' }), 20);
    assert.equal(h.metrics.value('sluice_notify_queue_depth'), 0);
  });

  test('500, 500, 200: delivered exactly once after two retries', async () => {
    const r = await receiver();
    r.reply({ status: 500 }, { status: 500 });
    const h = harness({ chat: { address: r.address(TOKEN) } });
    h.queue.enqueue(item('chat', 'promoted'));
    await h.queue.idle();
    assert.deepEqual(r.requests.map((q) => q.status), [500, 500, 200]);
    assert.equal(r.delivered().length, 1);
    assert.equal(h.metrics.value('sluice_notify_delivery_retries_total'), 2);
    assert.equal(h.failures.length, 0);
  });

  test('429 with Retry-After waits at least that long, though the backoff is shorter', async () => {
    const r = await receiver();
    r.reply({ status: 429, headers: { 'retry-after': '1' } });
    const h = harness({ chat: { address: r.address(TOKEN) } });
    h.queue.enqueue(item('chat', 'weight 10'));
    await h.queue.idle();
    const [limited, retried] = r.requests;
    assert.equal(limited?.status, 429);
    assert.equal(retried?.status, 200);
    const waited = (retried?.receivedAt ?? 0) - (limited?.receivedAt ?? 0);
    assert.ok(waited >= 990 && waited < 2500, `waited ${waited.toFixed(0)} ms`);
  });

  test('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2025-03-01T12:00:00Z');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('0.5', now), 500);
    assert.equal(parseRetryAfter('Sat, 01 Mar 2025 12:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  test('a 400 is not retried; the error says what happened without the token', async () => {
    const r = await receiver();
    r.reply({ status: 400, body: `invalid_payload for /hooks/${TOKEN}` });
    const h = harness({ chat: { address: r.address(TOKEN) } });
    h.queue.enqueue(item('chat', 'promoted'));
    await h.queue.idle();
    assert.equal(r.requests.length, 1);
    assert.equal(h.failures.length, 1);
    const message = h.failures[0]?.error.message ?? '';
    assert.match(message, /could not send CanaryWeightAdvanced of Canary prod\/podinfo through AlertProvider prod\/chat after 1 attempt: HTTP 400 from http:\/\/127\.0\.0\.1:\d+\/\[redacted\]: invalid_payload/);
    assert.doesNotMatch(message, new RegExp(TOKEN));
    assert.equal(h.failures[0]?.error.code, 'NOTIFICATION_DISPATCH_FAILED');
    assert.equal(h.metrics.value('sluice_notify_deliveries_total', { provider_type: 'generic', outcome: 'failed' }), 1);
  });

  test('404 tells the owner to re-read the Secret (the webhook may have been rotated)', async () => {
    const r = await receiver();
    r.reply({ status: 404 });
    const h = harness({ chat: { address: r.address(TOKEN) } });
    h.queue.enqueue(item('chat', 'x'));
    await h.queue.idle();
    assert.deepEqual(h.rejected, ['Alert/prod/chat']);
    assert.match(h.failures[0]?.error.message ?? '', /may be wrong or revoked/);
  });

  test('a receiver that is down is retried until the attempt budget, then reported; nothing leaks', async () => {
    const down = await closedAddress(TOKEN);
    const h = harness({ chat: { address: down } }, { maxAttempts: 3 });
    h.queue.enqueue(item('chat', 'rolled back'));
    await h.queue.idle();
    assert.equal(h.failures.length, 1);
    assert.equal(h.failures[0]?.attempts, 3);
    assert.match(h.failures[0]?.error.message ?? '', /after 3 attempts: could not reach http:\/\/127\.0\.0\.1:\d+\/\[redacted\]: ECONNREFUSED/);
    assert.equal(h.metrics.value('sluice_notify_delivery_retries_total'), 2);
    assert.ok(h.logs.length >= 3, 'retries and the failure are logged');
    assert.doesNotMatch(h.logs.join(''), new RegExp(TOKEN));
  });

  test('the time budget gives up before the attempt budget when retries would take too long', async () => {
    const r = await receiver();
    r.reply({ status: 503, headers: { 'retry-after': '30' } });
    const h = harness({ chat: { address: r.address(TOKEN) } }, { retryBudgetMs: 5000 });
    const started = performance.now();
    h.queue.enqueue(item('chat', 'x'));
    await h.queue.idle();
    assert.ok(performance.now() - started < 1000);
    assert.equal(r.requests.length, 1);
    assert.equal(h.failures.length, 1);
  });

  test('a hanging provider holds only its own lane', async () => {
    const stuck = await receiver();
    stuck.hang(true);
    const fine = await receiver();
    const h = harness({ stuck: { address: stuck.address(TOKEN), timeoutMs: 300 }, fine: { address: fine.address(TOKEN) } }, { maxAttempts: 2 });
    h.queue.enqueue(item('stuck', 'a'));
    h.queue.enqueue(item('stuck', 'b'));
    const started = performance.now();
    h.queue.enqueue(item('fine', 'c'));
    await fine.waitForDelivered(1);
    assert.ok(performance.now() - started < 250, 'the healthy lane did not wait for the stuck one');
    await h.queue.idle();
    assert.deepEqual(h.failures.map((f) => f.item.message.text), ['a', 'b']);
    assert.match(h.failures[0]?.error.message ?? '', /no answer from http:\/\/127\.0\.0\.1:\d+\/\[redacted\] within 300 ms/);
  });

  test('enqueue never waits, and a full lane evicts its oldest waiting message', async () => {
    const r = await receiver();
    const h = harness({ chat: { address: r.address(TOKEN) } }, { maxPerLane: 3 });
    const started = performance.now();
    for (let i = 1; i <= 6; i++) h.queue.enqueue(item('chat', `m${i}`));
    assert.ok(performance.now() - started < 20);
    await h.queue.idle();
    assert.deepEqual(texts(r), ['m4', 'm5', 'm6']);
    assert.deepEqual(h.dropped, ['m1', 'm2', 'm3']);
    assert.equal(h.metrics.value('sluice_notify_deliveries_total', { provider_type: 'generic', outcome: 'dropped' }), 3);
  });

  test('the global bound refuses new messages', async () => {
    const r = await receiver();
    const h = harness({ a: { address: r.address(TOKEN) }, b: { address: r.address(TOKEN) } }, { maxQueued: 2 });
    assert.equal(h.queue.enqueue(item('a', '1')), true);
    assert.equal(h.queue.enqueue(item('b', '2')), true);
    assert.equal(h.queue.enqueue(item('b', '3')), false);
    await h.queue.idle();
    assert.equal(r.delivered().length, 2);
  });

  test('resolution problems: permanent ones fail at once, transient ones are retried', async () => {
    const r = await receiver();
    let calls = 0;
    const h = harness({}, {
      resolve: (rt) => {
        calls++;
        if (rt.provider.name === 'missing') return Promise.resolve({ ok: false, retryable: false, message: 'AlertProvider prod/missing not found' });
        if (calls < 4) return Promise.resolve({ ok: false, retryable: true, message: 'could not read Secret prod/hook: KUBE_UNAVAILABLE' });
        return Promise.resolve({ ok: true, provider: { type: 'generic', target: { address: r.address(TOKEN), headers: {} }, timeoutMs: 1000, secrets: [] } });
      },
    });
    h.queue.enqueue(item('missing', 'x'));
    await h.queue.idle();
    assert.equal(h.failures.length, 1);
    assert.match(h.failures[0]?.error.message ?? '', /after 1 attempt: AlertProvider prod\/missing not found/);
    h.queue.enqueue(item('later', 'y'));
    await h.queue.idle();
    assert.equal(r.delivered().length, 1);
  });

  test('a Slack Web API answer of ok=false is a failure', async () => {
    const r = await receiver('slack');
    r.reply({ status: 200, body: '{"ok":false,"error":"channel_not_found"}' });
    const h = harness({ chat: { address: r.address(TOKEN), type: 'slack' } });
    h.queue.enqueue(item('chat', 'x', 'slack'));
    await h.queue.idle();
    assert.match(h.failures[0]?.error.message ?? '', /Slack answered ok=false: channel_not_found/);
  });

  test('spec.proxy sends through the proxy', async () => {
    const r = await receiver();
    const proxy = await ForwardProxy.start();
    try {
      const h = harness({ chat: { address: r.address(TOKEN), proxy: proxy.url } });
      h.queue.enqueue(item('chat', 'via proxy'));
      await h.queue.idle();
      assert.deepEqual(texts(r), ['via proxy']);
      assert.deepEqual(proxy.hosts, [`127.0.0.1:${r.port}`]);
    } finally {
      await proxy.close();
    }
  });

  test('close gives queued messages time, then reports what was left', async () => {
    const r = await receiver();
    r.hang(true);
    const h = harness({ chat: { address: r.address(TOKEN), timeoutMs: 5000 } });
    h.queue.enqueue(item('chat', 'a'));
    h.queue.enqueue(item('chat', 'b'));
    const started = performance.now();
    assert.equal(await h.queue.close(200), 2);
    assert.ok(performance.now() - started < 1000);
    assert.equal(h.queue.enqueue(item('chat', 'c')), false);
  });
});
