// Alert and AlertProvider status, Secret handling and routing changes against
// the real API server: what `kubectl get alerts` shows, and that the notifier
// follows objects as they are created, fixed, suspended, rotated and deleted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Condition } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createLogger } from '../src/log.ts';
import { eventFor } from '../src/notify/event.ts';
import { ClusterNotifier } from '../src/notify/notifier.ts';
import { ChatReceiver } from './env/chat-receivers.ts';
import { createTestNamespace, eventually, kubectlOk, testKubeClient } from './env/cluster.ts';

interface WithStatus extends KubeObject {
  status?: { conditions?: Condition[]; observedGeneration?: number };
}

describe('notifier: Alert and AlertProvider status against the cluster', () => {
  let client: KubeClient;
  let namespace: string;
  let notifier: ClusterNotifier;
  let sync: KubeObject;
  const receivers: ChatReceiver[] = [];
  const secretToken = `tok-${randomBytes(8).toString('hex')}`;

  async function receiver(): Promise<ChatReceiver> {
    const r = await ChatReceiver.start({ type: 'generic' });
    receivers.push(r);
    return r;
  }

  const sluice = (kind: string, name: string) => ({ apiVersion: 'sluice.dev/v1alpha1', kind, namespace, name });

  async function ready(kind: 'Alert' | 'AlertProvider', name: string, expect: { status: string; reason: string; generation?: number }): Promise<Condition> {
    return eventually(async () => {
      const object = await client.get<WithStatus>(sluice(kind, name));
      const condition = object.status?.conditions?.find((c) => c.type === 'Ready');
      const generation = expect.generation ?? object.metadata.generation;
      return condition?.status === expect.status && condition.reason === expect.reason && condition.observedGeneration === generation &&
        object.status?.observedGeneration === generation ? condition : undefined;
    }, { timeoutMs: 20_000, what: `${kind} ${name} Ready=${expect.status} (${expect.reason})` });
  }

  async function applySecret(name: string, stringData: Record<string, string>): Promise<void> {
    // Replace, not merge: a key left out must disappear.
    await client.delete({ apiVersion: 'v1', kind: 'Secret', namespace, name });
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData });
  }

  async function applyAlert(name: string, spec: Record<string, unknown>): Promise<void> {
    await client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', metadata: { name, namespace }, spec: { eventSources: [{ kind: 'Sync', name: 'apps' }], ...spec } });
  }

  async function applyProvider(name: string, secret: string): Promise<void> {
    await client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'AlertProvider', metadata: { name, namespace }, spec: { type: 'generic', secretRef: { name: secret } } });
  }

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('notify-status');
    notifier = new ClusterNotifier({
      client, namespace, logger: createLogger({ level: 'silent' }),
      secrets: { ttlMs: 2000, missingTtlMs: 200 }, statusRecheckMs: 300, delivery: { backoffBaseMs: 50, maxAttempts: 2 },
    });
    await notifier.waitForSync(AbortSignal.timeout(30_000));
    sync = await client.apply({
      apiVersion: 'sluice.dev/v1alpha1', kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'repo' }, interval: '1m', prune: true },
    });
  });

  after(async () => {
    await notifier.stop(1000);
    await Promise.all(receivers.map((r) => r.close()));
    client.close();
  });

  test('an Alert follows its provider and Secret from missing to Ready, and the messages never show the address', async () => {
    const r = await receiver();
    const address = r.address(secretToken);
    await applyAlert('ops', { providerRef: { name: 'ops-chat' } });
    let condition = await ready('Alert', 'ops', { status: 'False', reason: 'ProviderNotFound', generation: 1 });
    assert.equal(condition.message, `AlertProvider ${namespace}/ops-chat not found`);

    await applyProvider('ops-chat', 'ops-hook');
    condition = await ready('AlertProvider', 'ops-chat', { status: 'False', reason: 'SecretNotFound' });
    assert.equal(condition.message, `Secret ${namespace}/ops-hook not found`);
    condition = await ready('Alert', 'ops', { status: 'False', reason: 'ProviderNotReady' });
    assert.match(condition.message, /is not ready: Secret .*ops-hook not found/);

    await applySecret('ops-hook', { token: secretToken });
    condition = await ready('AlertProvider', 'ops-chat', { status: 'False', reason: 'InvalidSecret' });
    assert.match(condition.message, /has no address key/);

    await applySecret('ops-hook', { address });
    await ready('AlertProvider', 'ops-chat', { status: 'True', reason: 'Succeeded' });
    await ready('Alert', 'ops', { status: 'True', reason: 'Succeeded' });

    notifier.emit(eventFor(sync, 'SyncApplied', 'applied main@1'));
    await r.waitForDelivered(1);

    const printed = await kubectlOk(['get', 'alerts,alertproviders', '-o', 'wide'], { namespace });
    assert.match(printed, /ops\s+ops-chat\s+info\s+True/);
    const all = await kubectlOk(['get', 'alerts,alertproviders', '-o', 'json'], { namespace });
    assert.ok(!all.includes(secretToken) && !all.includes(address), 'no secret in status');
  });

  test('an invalid regex makes the Alert InvalidSpec and silent; the fix is Ready at generation 2', async () => {
    const r = await receiver();
    await applySecret('regex-hook', { address: r.address(secretToken) });
    await applyProvider('regex-chat', 'regex-hook');
    await applyAlert('regex', { providerRef: { name: 'regex-chat' }, inclusionList: ['applied (main'] });
    const condition = await ready('Alert', 'regex', { status: 'False', reason: 'InvalidSpec', generation: 1 });
    assert.match(condition.message, /spec\.inclusionList\[0\] is not a valid regular expression/);
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied main@2'));
    await applyAlert('regex', { providerRef: { name: 'regex-chat' }, inclusionList: ['applied \\(main'] });
    await ready('Alert', 'regex', { status: 'True', reason: 'Succeeded', generation: 2 });
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied (main@3)'));
    notifier.emit(eventFor(sync, 'SyncApplied', 'applied main@4'));
    await r.waitForDelivered(1);
    await notifier.settled();
    assert.deepEqual(r.delivered().map((q) => (q.json as { message: string }).message), ['applied (main@3)']);
  });

  test('a suspended Alert sends nothing until resumed', async () => {
    const r = await receiver();
    await applySecret('quiet-hook', { address: r.address(secretToken) });
    await applyProvider('quiet-chat', 'quiet-hook');
    await applyAlert('quiet', { providerRef: { name: 'quiet-chat' }, suspend: true });
    await ready('Alert', 'quiet', { status: 'True', reason: 'Suspended' });
    notifier.emit(eventFor(sync, 'SyncPruned', 'pruned ConfigMap/a'));
    await notifier.settled();
    await sleep(200);
    assert.equal(r.requests.length, 0);
    await applyAlert('quiet', { providerRef: { name: 'quiet-chat' }, suspend: false });
    await ready('Alert', 'quiet', { status: 'True', reason: 'Succeeded' });
    notifier.emit(eventFor(sync, 'SyncPruned', 'pruned ConfigMap/b'));
    await r.waitForDelivered(1);
  });

  test('the Secret is read once per cache period, not once per message', async () => {
    const r = await receiver();
    await applySecret('busy-hook', { address: r.address(secretToken) });
    await applyProvider('busy-chat', 'busy-hook');
    await applyAlert('busy', { providerRef: { name: 'busy-chat' } });
    await ready('Alert', 'busy', { status: 'True', reason: 'Succeeded' });
    const before = notifier.stats().secretReads;
    for (let i = 0; i < 40; i++) notifier.emit(eventFor(sync, 'SyncApplied', `applied main@busy${i}`));
    await r.waitForDelivered(40);
    const reads = notifier.stats().secretReads - before;
    assert.ok(reads <= 2, `${reads} Secret reads for 40 messages`);
  });

  test('a rotated webhook address is used once the old one is rejected', async () => {
    // A second notifier with a long Secret TTL, so only the rejection can trigger the re-read.
    const rotating = new ClusterNotifier({ client, namespace, logger: createLogger({ level: 'silent' }), writeStatus: false, secrets: { ttlMs: 600_000 } });
    try {
      await rotating.waitForSync(AbortSignal.timeout(30_000));
      const oldHook = await receiver();
      const newHook = await receiver();
      await applySecret('rot-hook', { address: oldHook.address(secretToken) });
      await applyProvider('rot-chat', 'rot-hook');
      await client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', metadata: { name: 'rot', namespace }, spec: { providerRef: { name: 'rot-chat' }, eventSources: [{ kind: 'Sync', name: 'rotating' }] } });
      await ready('Alert', 'rot', { status: 'True', reason: 'Succeeded' });
      const source = { ...sync, metadata: { ...sync.metadata, name: 'rotating' } };
      rotating.emit(eventFor(source, 'SyncApplied', 'applied r1'));
      await oldHook.waitForDelivered(1);
      await applySecret('rot-hook', { address: newHook.address(secretToken) });
      oldHook.reply({ status: 404, body: 'No such webhook' });
      rotating.emit(eventFor(source, 'SyncApplied', 'applied r2'));
      await oldHook.waitForRequests(2);
      await rotating.settled();
      rotating.emit(eventFor(source, 'SyncApplied', 'applied r3'));
      await newHook.waitForDelivered(1);
      assert.equal((newHook.delivered()[0]?.json as { message: string }).message, 'applied r3');
      assert.equal(rotating.metrics.value('sluice_notify_deliveries_total', { provider_type: 'generic', outcome: 'failed' }), 1);
    } finally {
      await rotating.stop(1000);
    }
  });

  test('events emitted before the caches have synced are routed once they have', async () => {
    const r = await receiver();
    await applySecret('early-hook', { address: r.address(secretToken) });
    await applyProvider('early-chat', 'early-hook');
    await client.apply({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', metadata: { name: 'early', namespace }, spec: { providerRef: { name: 'early-chat' }, eventSources: [{ kind: 'Sync', name: 'early' }] } });
    await ready('Alert', 'early', { status: 'True', reason: 'Succeeded' });
    const fresh = new ClusterNotifier({ client, namespace, logger: createLogger({ level: 'silent' }), writeStatus: false });
    try {
      fresh.start();
      const source = { ...sync, metadata: { ...sync.metadata, name: 'early' } };
      fresh.emit(eventFor(source, 'SyncApplied', 'applied at start-up'));
      assert.equal(fresh.stats().pendingBeforeSync, 1, 'held until the caches sync');
      await r.waitForDelivered(1);
      assert.equal(fresh.stats().pendingBeforeSync, 0);
      assert.equal((r.delivered()[0]?.json as { message: string }).message, 'applied at start-up');
    } finally {
      await fresh.stop(1000);
    }
  });

  test('deleting an AlertProvider turns its Alerts to ProviderNotFound', async () => {
    await applySecret('gone-hook', { address: 'http://127.0.0.1:9/hooks/x' });
    await applyProvider('gone-chat', 'gone-hook');
    await applyAlert('orphan', { providerRef: { name: 'gone-chat' } });
    await ready('Alert', 'orphan', { status: 'True', reason: 'Succeeded' });
    await client.delete(sluice('AlertProvider', 'gone-chat'));
    await ready('Alert', 'orphan', { status: 'False', reason: 'ProviderNotFound' });
  });
});
