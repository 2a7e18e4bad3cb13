// The notifier against the real API server and real HTTP receivers: Alerts,
// AlertProviders and Secrets in a namespace, events emitted the way the canary
// and sync controllers will emit them, chat messages checked at the receivers.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { AlertProviderTypes, type AlertProviderType } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createLogger } from '../src/log.ts';
import { eventFor, type EventMetadata, type SluiceEvent } from '../src/notify/event.ts';
import { ClusterNotifier } from '../src/notify/notifier.ts';
import { ChatReceiver, closedAddress, headlineOf } from './env/chat-receivers.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';

interface KubeEvent extends KubeObject {
  reason: string;
  type: string;
  note: string;
  regarding: { kind: string; name: string; uid?: string };
  series?: { count: number };
}

const tokens: string[] = [];
function token(label: string): string {
  const t = `tok-${label}-${randomBytes(8).toString('hex')}`;
  tokens.push(t);
  return t;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

describe('notifier: chat delivery against the cluster and loopback receivers', () => {
  let client: KubeClient;
  let namespace: string;
  let notifier: ClusterNotifier;
  let canary: KubeObject;
  let sync: KubeObject;
  const logLines: string[] = [];
  const receivers: ChatReceiver[] = [];

  async function startReceiver(type: AlertProviderType, hmacKey?: string): Promise<ChatReceiver> {
    const receiver = await ChatReceiver.start({ type, ...(hmacKey ? { hmacKey } : {}) });
    receivers.push(receiver);
    return receiver;
  }

  /** A Secret with the address (and token), an AlertProvider using it, and an Alert for the given sources. */
  async function chatTarget(name: string, type: AlertProviderType, address: string, alert: Record<string, unknown> | undefined, options: { token?: string; timeout?: string } = {}): Promise<void> {
    const stringData: Record<string, string> = { address, ...(options.token ? { token: options.token } : {}) };
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-hook`, namespace }, stringData });
    await client.apply({
      apiVersion: 'sluice.dev/v1alpha1', kind: 'AlertProvider', metadata: { name, namespace },
      spec: { type, secretRef: { name: `${name}-hook` }, ...(options.timeout ? { timeout: options.timeout } : {}) },
    });
    if (alert) await client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', metadata: { name, namespace }, spec: { providerRef: { name }, ...alert } });
  }

  async function readyAlert(name: string): Promise<void> {
    await eventually(async () => {
      const alert = await client.get({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', namespace, name });
      const ready = (alert.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? true : undefined;
    }, { timeoutMs: 30_000, what: `Alert ${name} to be Ready` });
  }

  async function kubeEvents(): Promise<KubeEvent[]> {
    return (await client.list<KubeEvent>('events.k8s.io/v1', 'Event', { namespace })).items;
  }

  async function makeObject(kind: 'Canary' | 'Sync', name: string, spec: Record<string, unknown>): Promise<KubeObject> {
    return client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind, metadata: { name, namespace, labels: { team: 'web' } }, spec });
  }

  const canarySpec = (alerts?: unknown[]) => ({
    targetRef: { kind: 'Deployment', name: 'podinfo' }, service: { port: 9898 },
    analysis: { interval: '1m', threshold: 5, maxWeight: 50, stepWeight: 10, ...(alerts ? { alerts } : {}) },
  });

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('notify-chat');
    const destination = new Writable({ write(chunk: Buffer, _encoding, done) { logLines.push(chunk.toString()); done(); } });
    notifier = new ClusterNotifier({
      client, namespace, logger: createLogger({ level: 'debug', destination }),
      delivery: { backoffBaseMs: 50, jitter: 0, maxAttempts: 4 }, statusRecheckMs: 500,
    });
    notifier.start();
    await notifier.waitForSync(AbortSignal.timeout(30_000));
    canary = await makeObject('Canary', 'podinfo', canarySpec());
    sync = await makeObject('Sync', 'apps', { sourceRef: { kind: 'GitRepository', name: 'repo' }, interval: '1m', prune: true });
  });

  after(async () => {
    await notifier.stop(2000);
    await Promise.all(receivers.map((r) => r.close()));
    client.close();
  });

  const rolloutMeta = (extra: EventMetadata = {}): EventMetadata => ({ revision: 'podinfo-6.1.0', ...extra });

  /** What the canary controller emits for one promotion and one rollback (Flagger's messages). */
  function rolloutAndRollback(c: KubeObject): SluiceEvent[] {
    const n = `${c.metadata.name}.${namespace}`;
    const events = [
      eventFor(c, 'CanaryInitialized', `Initialization done! ${n}`),
      eventFor(c, 'CanaryNewRevision', `New revision detected! Scaling up ${n}`, { metadata: rolloutMeta({ images: { from: ['ghcr.io/stefanprodan/podinfo:6.0.0'], to: ['ghcr.io/stefanprodan/podinfo:6.1.0'] } }) }),
    ];
    for (const w of [10, 20, 30, 40, 50]) events.push(eventFor(c, 'CanaryWeightAdvanced', `Advance ${n} canary weight ${w}`, { metadata: rolloutMeta({ weight: w }) }));
    events.push(
      eventFor(c, 'CanaryPromotionStarted', `Copying ${n} template spec to ${c.metadata.name}-primary.${namespace}`, { metadata: rolloutMeta() }),
      eventFor(c, 'CanaryPromoted', `Promotion completed! ${n}`, { metadata: rolloutMeta({ durationSeconds: 312 }) }),
      eventFor(c, 'CanaryNewRevision', `New revision detected! Scaling up ${n}`, { metadata: { revision: 'podinfo-6.2.0', images: { from: ['ghcr.io/stefanprodan/podinfo:6.1.0'], to: ['ghcr.io/stefanprodan/podinfo:6.2.0'] } } }),
      eventFor(c, 'CanaryWeightAdvanced', `Advance ${n} canary weight 10`, { metadata: { revision: 'podinfo-6.2.0', weight: 10 } }),
      eventFor(c, 'CanaryWeightAdvanced', `Advance ${n} canary weight 20`, { metadata: { revision: 'podinfo-6.2.0', weight: 20 } }),
      eventFor(c, 'CanaryRolledBack', `Rolling back ${n} failed checks threshold reached 5`, {
        metadata: { revision: 'podinfo-6.2.0', weight: 20, failingCheck: { name: 'request-success-rate', value: 91.3, min: 99 } },
      }),
    );
    return events;
  }

  const expectedTitles = ['Initialized', 'New revision detected', 'Weight advanced', 'Promotion started', 'Promoted', 'New revision detected', 'Weight advanced', 'Rolled back'];

  test('a rollout and a rollback reach every provider type in order, coalesced, as each service documents', async () => {
    const byType = new Map<AlertProviderType, ChatReceiver>();
    const hmacKey = token('hmac-key');
    for (const type of AlertProviderTypes) {
      const receiver = await startReceiver(type, type === 'generic-hmac' ? hmacKey : undefined);
      byType.set(type, receiver);
      // Google Chat keeps its token in the query; the others in the path.
      const address = type === 'googlechat' ? `${receiver.address('spaces/AAA/messages')}?key=k&token=${token(type)}` : receiver.address(token(type));
      await chatTarget(type, type, address, { eventSources: [{ kind: 'Canary', name: 'podinfo' }], summary: 'cluster eu-1' },
        type === 'generic-hmac' ? { token: hmacKey } : {});
    }
    await Promise.all(AlertProviderTypes.map((type) => readyAlert(type)));

    const suppressedBefore = notifier.metrics.value('sluice_notify_messages_suppressed_total', { why: 'coalesced' });
    for (const event of rolloutAndRollback(canary)) notifier.emit(event);
    await Promise.all([...byType.values()].map((r) => r.waitForDelivered(expectedTitles.length)));
    await notifier.settled();
    await sleep(300);

    for (const [type, receiver] of byType) {
      assert.deepEqual(receiver.schemaErrors(), [], `${type} payloads match the documented schema`);
      assert.equal(receiver.requests.length, expectedTitles.length, `${type}: exactly one message per stage`);
      assert.deepEqual(receiver.headlines(), expectedTitles.map((t) => `Canary ${namespace}/podinfo: ${t}`), `${type}: order`);
      const bodies = receiver.delivered().map((r) => r.body);
      assert.match(bodies[3] ?? '', /10% → 20% → 30% → 40% → 50%/, `${type}: promotion lists the folded steps`);
      assert.match(bodies[4] ?? '', /5m12s/, `${type}: promotion duration`);
      assert.match(bodies[1] ?? '', /podinfo:6\.0\.0 → ghcr\.io\/stefanprodan\/podinfo:6\.1\.0/, `${type}: old → new image`);
      assert.match(bodies[7] ?? '', /request-success-rate: 91\.3 \(threshold ≥ 99\)/, `${type}: failing check`);
      assert.match(bodies[7] ?? '', /10% → 20%/, `${type}: rollback lists its steps`);
      assert.match(bodies[0] ?? '', /cluster eu-1/, `${type}: summary`);
    }
    const hmac = byType.get('generic-hmac')?.delivered()[0];
    assert.match(String(hmac?.headers['x-signature']), /^sha256=[0-9a-f]{64}$/);
    assert.equal(byType.get('googlechat')?.delivered()[0]?.query.get('messageReplyOption'), 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    assert.equal(headlineOf('generic', byType.get('generic')?.delivered()[7]?.json), `Canary ${namespace}/podinfo: Rolled back`);
    assert.equal((byType.get('generic')?.delivered()[7]?.json as { severity: string }).severity, 'error');
    // 4 folded steps in the promotion and 1 in the rollback, for each of the 7 Alerts.
    assert.equal(notifier.metrics.value('sluice_notify_messages_suppressed_total', { why: 'coalesced' }) - suppressedBefore, 5 * AlertProviderTypes.length);
  });

  test('every event became a Kubernetes Event on the Canary, Warning for the rollback', async () => {
    const events = await eventually(async () => {
      const mine = (await kubeEvents()).filter((e) => e.regarding.kind === 'Canary' && e.regarding.name === 'podinfo');
      // 13 events, three of them repeats of an earlier note (new revision, weight 10, weight 20): 10 Events.
      return mine.length >= 10 ? mine : undefined;
    }, { timeoutMs: 30_000, what: 'Events on the Canary' });
    const reasons = new Set(events.map((e) => e.reason));
    for (const reason of ['CanaryInitialized', 'CanaryNewRevision', 'CanaryWeightAdvanced', 'CanaryPromotionStarted', 'CanaryPromoted', 'CanaryRolledBack']) {
      assert.ok(reasons.has(reason), `an Event with reason ${reason}`);
    }
    const rolledBack = events.find((e) => e.reason === 'CanaryRolledBack');
    assert.equal(rolledBack?.type, 'Warning');
    assert.equal(rolledBack?.regarding.uid, canary.metadata.uid);
    assert.equal(events.find((e) => e.reason === 'CanaryPromoted')?.type, 'Normal');
    assert.equal(events.length, 10);
    // Both rollouts advanced to 10% and 20%: each second identical note is a series on the first Event.
    for (const step of [10, 20]) {
      const same = events.filter((e) => e.reason === 'CanaryWeightAdvanced' && e.note.endsWith(`canary weight ${step}`));
      assert.equal(same.length, 1);
      assert.equal(same[0]?.series?.count, 2);
    }
    assert.equal(events.filter((e) => e.reason === 'CanaryWeightAdvanced').length, 5);
  });

  test('Canary analysis.alerts route without an Alert object, honouring their severity', async () => {
    const receiver = await startReceiver('generic');
    await chatTarget('oncall', 'generic', receiver.address(token('oncall')), undefined);
    const withAlerts = await makeObject('Canary', 'checkout', canarySpec([{ name: 'pager', severity: 'error', providerRef: { name: 'oncall' } }]));
    // The provider is cached by the informer once its status is written.
    await eventually(async () => {
      const p = await client.get({ apiVersion: 'sluice.dev/v1alpha1', kind: 'AlertProvider', namespace, name: 'oncall' });
      return (p.status as { conditions?: { status: string }[] } | undefined)?.conditions?.[0]?.status === 'True' ? true : undefined;
    }, { what: 'AlertProvider oncall to be Ready' });
    for (const event of rolloutAndRollback(withAlerts)) notifier.emit(event);
    await receiver.waitForDelivered(1);
    await notifier.settled();
    assert.deepEqual(receiver.headlines(), [`Canary ${namespace}/checkout: Rolled back`]);
  });

  test('a receiver answering 500, 500, 200 gets the message exactly once', async () => {
    const receiver = await startReceiver('slack');
    receiver.reply({ status: 500 }, { status: 500 });
    await chatTarget('flaky', 'slack', receiver.address(token('flaky')), { eventSources: [{ kind: 'Sync', name: 'apps' }] });
    await readyAlert('flaky');
    const retries = notifier.metrics.value('sluice_notify_delivery_retries_total', { provider_type: 'slack' });
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied revision main@1a2b3c', { metadata: { revision: 'main@1a2b3c', changeSet: { configured: ['Deployment/web'] } } }));
    await receiver.waitForDelivered(1);
    await notifier.settled();
    await sleep(300);
    assert.deepEqual(receiver.requests.map((r) => r.status), [500, 500, 200]);
    assert.deepEqual(receiver.schemaErrors(), []);
    assert.equal(notifier.metrics.value('sluice_notify_delivery_retries_total', { provider_type: 'slack' }) - retries, 2);
  });

  test('a 429 with Retry-After is honoured', async () => {
    const receiver = await startReceiver('discord');
    receiver.reply({ status: 429, headers: { 'retry-after': '2', 'content-type': 'application/json' }, body: '{"message":"You are being rate limited.","retry_after":2,"global":false}' });
    await chatTarget('limited', 'discord', receiver.address(token('limited')), { eventSources: [{ kind: 'Sync', name: 'apps' }] });
    await readyAlert('limited');
    notifier.emit(eventFor(sync, 'SyncPruned', 'pruned 2 objects', { metadata: { changeSet: { pruned: ['ConfigMap/old', 'Service/old'] } } }));
    await receiver.waitForDelivered(1);
    const [limited, retried] = receiver.requests;
    const waited = (retried?.receivedAt ?? 0) - (limited?.receivedAt ?? 0);
    assert.equal(limited?.status, 429);
    assert.ok(waited >= 1990, `retried after ${waited.toFixed(0)} ms, Retry-After asked for 2000`);
    assert.equal(receiver.requests.length, 2);
  });

  test('a Sync with a broken revision alerts once; the fix sends one recovery message', async () => {
    const receiver = await startReceiver('generic');
    await chatTarget('sync-errors', 'generic', receiver.address(token('sync-errors')), { eventSources: [{ kind: 'Sync', name: '*', matchLabels: { team: 'web' } }], eventSeverity: 'error' });
    await readyAlert('sync-errors');
    const broken = { revision: 'main@bad0001', errors: ['Deployment/web: spec.replicas: Invalid value: -1'] };
    // The sync controller reports the same failure at every interval.
    for (let i = 0; i < 6; i++) notifier.emit(eventFor(sync, 'SyncFailed', 'apply failed: 1 object is invalid', { metadata: broken }));
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied revision main@good002', { metadata: { revision: 'main@good002', changeSet: { configured: ['Deployment/web'] } } }));
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied revision main@good002', { metadata: { revision: 'main@good002', changeSet: { configured: ['Deployment/web'] } } }));
    await receiver.waitForDelivered(2);
    await notifier.settled();
    await sleep(300);
    const bodies = receiver.delivered().map((r) => r.json as { severity: string; reason: string; metadata: Record<string, string> });
    assert.equal(bodies.length, 2, 'one error alert and one recovery');
    assert.equal(bodies[0]?.reason, 'SyncFailed');
    assert.equal(bodies[0]?.metadata.errors, 'Deployment/web: spec.replicas: Invalid value: -1');
    assert.equal(bodies[1]?.reason, 'SyncApplied');
    assert.match(bodies[1]?.metadata.recovered ?? '', /^Apply failed occurred 6 times since /);
    const failedEvents = (await kubeEvents()).filter((e) => e.reason === 'SyncFailed');
    assert.equal(failedEvents.length, 1, 'the repeats are one Kubernetes Event series');
  });

  test('a down or hanging receiver does not slow emit or a reconcile tick (measured), and is reported on the Alert', async (t: TestContext) => {
    const healthy = await startReceiver('generic');
    const hanging = await startReceiver('generic');
    hanging.hang(true);
    await chatTarget('timing-ok', 'generic', healthy.address(token('timing-ok')), { eventSources: [{ kind: 'Canary', name: 'timing-a' }] });
    await chatTarget('timing-down', 'generic', await closedAddress(token('timing-down')), { eventSources: [{ kind: 'Canary', name: 'timing-b' }] });
    await chatTarget('timing-hang', 'msteams', hanging.address(token('timing-hang')), { eventSources: [{ kind: 'Canary', name: 'timing-b' }] }, { timeout: '1s' });
    await Promise.all(['timing-ok', 'timing-down', 'timing-hang'].map(readyAlert));
    const a = await makeObject('Canary', 'timing-a', canarySpec());
    const b = await makeObject('Canary', 'timing-b', canarySpec());

    // One tick of a rollout: report a step, then read the object back, as a reconcile would.
    async function ticks(target: KubeObject, count: number): Promise<{ emitMs: number[]; tickMs: number[] }> {
      const emitMs: number[] = [];
      const tickMs: number[] = [];
      for (let i = 0; i < count; i++) {
        const tickStart = performance.now();
        const emitStart = performance.now();
        notifier.emit(eventFor(target, 'CanaryWeightAdvanced', `Advance weight ${i}`, { metadata: { revision: `r${i}`, weight: i % 100 } }));
        emitMs.push(performance.now() - emitStart);
        await client.get({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace, name: target.metadata.name });
        tickMs.push(performance.now() - tickStart);
      }
      return { emitMs, tickMs };
    }
    await ticks(a, 10); // warm-up
    const base = await ticks(a, 60);
    const down = await ticks(b, 60);
    const summary = (label: string, s: { emitMs: number[]; tickMs: number[] }) =>
      `${label}: emit p50 ${percentile(s.emitMs, 50).toFixed(3)} ms, p99 ${percentile(s.emitMs, 99).toFixed(3)} ms; tick p50 ${percentile(s.tickMs, 50).toFixed(2)} ms, p95 ${percentile(s.tickMs, 95).toFixed(2)} ms`;
    t.diagnostic(summary('healthy receiver', base));
    t.diagnostic(summary('down + hanging receivers', down));
    // Blocking on delivery would cost at least the hanging receiver's 1 s timeout per emit; the
    // bounds sit far below that and far above scheduling noise (the figures are in the diagnostics).
    assert.ok(percentile(down.emitMs, 99) < 100, 'emit does not wait for dead receivers');
    assert.ok(percentile(down.tickMs, 50) < percentile(base.tickMs, 50) + 250, 'a tick is not slowed by dead receivers');
    await healthy.waitForDelivered(70);

    // The closed port fails fast; after the retry budget the Alert gets a NotificationDispatchFailed Event.
    const failure = await eventually(async () => (await kubeEvents()).find((e) => e.reason === 'NotificationDispatchFailed' && e.regarding.name === 'timing-down' && e.note.includes('ECONNREFUSED')),
      { timeoutMs: 30_000, what: 'a NotificationDispatchFailed Event on Alert timing-down' });
    assert.equal(failure.type, 'Warning');
    assert.equal(failure.regarding.kind, 'Alert');
    assert.match(failure.note, /after 4 attempts: could not reach http:\/\/127\.0\.0\.1:\d+\/\[redacted\]: ECONNREFUSED/);
    assert.ok(notifier.metrics.value('sluice_notify_deliveries_total', { provider_type: 'generic', outcome: 'failed' }) >= 1);
    // 60 messages for a provider that keeps only 100 waiting: none were evicted, all are accounted for.
    assert.ok(notifier.metrics.value('sluice_notify_delivery_retries_total', { provider_type: 'generic' }) >= 3);
    hanging.hang(false);
  });

  test('no token appears in any log line, Kubernetes Event or status message', async () => {
    await notifier.settled(AbortSignal.timeout(5000));
    assert.ok(logLines.length > 50, `logs were captured (${logLines.length} lines)`);
    assert.ok(logLines.some((line) => line.includes('notification attempt failed; retrying')), 'failure paths were logged');
    const events = JSON.stringify(await kubeEvents());
    const statuses = JSON.stringify([
      ...(await client.list('sluice.dev/v1alpha1', 'Alert', { namespace })).items.map((o) => o.status),
      ...(await client.list('sluice.dev/v1alpha1', 'AlertProvider', { namespace })).items.map((o) => o.status),
    ]);
    assert.ok(tokens.length >= 10);
    for (const secret of tokens) {
      assert.ok(!logLines.some((line) => line.includes(secret)), `token ${secret.slice(0, 12)}… in the logs`);
      assert.ok(!events.includes(secret), `token ${secret.slice(0, 12)}… in an Event`);
      assert.ok(!statuses.includes(secret), `token ${secret.slice(0, 12)}… in a status`);
    }
  });
});
