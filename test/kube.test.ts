// The kube access layer against the real kube-apiserver: server-side apply,
// status patches, informers (including a cut and a silent watch), Events and
// error mapping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ErrorCodes, SluiceError } from '../src/errors.ts';
import { KubeClient, FIELD_MANAGER } from '../src/kube/client.ts';
import { connect } from '../src/kube/config.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { Informer, type InformerEvent } from '../src/kube/informer.ts';
import { RestClient } from '../src/kube/rest.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, kubectlOk, testCluster, testKubeClient } from './env/cluster.ts';
import { startTcpProxy, type TcpProxy } from './env/tcp-proxy.ts';

const logger = pino({ level: 'silent' });

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const configMap = (namespace: string, name: string, data: Record<string, string>): ConfigMap => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data,
});

const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.sluice.dev' },
  spec: {
    group: 'test.sluice.dev',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    scope: 'Namespaced',
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', properties: {
        spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
        status: { type: 'object', properties: { phase: { type: 'string' }, observedGeneration: { type: 'integer' } } },
      } } },
    }],
  },
};

describe('kube client against the real API server', () => {
  let client: KubeClient;
  let namespace: string;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('kube');
  });
  after(() => client.close());

  test('server-side apply creates, leaves an unchanged object alone, and updates', async () => {
    const created = await client.apply(configMap(namespace, 'ssa', { a: '1' }));
    assert.equal(created.data?.a, '1');
    const managers = (created.metadata.managedFields as { manager: string; operation: string }[]).map((f) => `${f.manager}/${f.operation}`);
    assert.deepEqual(managers, [`${FIELD_MANAGER}/Apply`]);

    // Server-owned metadata in the input (as read back from the cluster) is stripped, not rejected.
    const again = await client.apply({ ...created, data: { a: '1' } });
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion, 'no-op apply must not write');

    const updated = await client.apply(configMap(namespace, 'ssa', { a: '2', b: '3' }));
    assert.notEqual(updated.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.deepEqual(updated.data, { a: '2', b: '3' });

    // Fields dropped from the applied configuration are removed, as SSA owns them.
    const shrunk = await client.apply(configMap(namespace, 'ssa', { b: '3' }));
    assert.deepEqual(shrunk.data, { b: '3' });
  });

  test('apply conflicts with another manager unless forced', async () => {
    await kubectlOk(['apply', '--server-side', '--field-manager=someone-else', '-f', '-'], {
      namespace, input: JSON.stringify(configMap(namespace, 'shared', { owner: 'someone-else' })),
    });
    await assert.rejects(client.apply(configMap(namespace, 'shared', { owner: 'sluice' })), (error: unknown) =>
      error instanceof SluiceError && error.code === ErrorCodes.KubeConflict && /owner/.test(error.message));
    const forced = await client.apply(configMap(namespace, 'shared', { owner: 'sluice' }), { force: true });
    assert.equal(forced.data?.owner, 'sluice');
  });

  test('dry-run apply validates without writing', async () => {
    const dry = await client.apply(configMap(namespace, 'dry', { x: 'y' }), { dryRun: true });
    assert.equal(dry.data?.x, 'y');
    assert.equal(await client.find({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'dry' }), undefined);
  });

  test('status subresource merge patch, on a CRD installed after the client started', async () => {
    await client.apply(widgetCrd, { force: true });
    await kubectlOk(['wait', '--for=condition=Established', 'crd/widgets.test.sluice.dev', '--timeout=60s']);
    const widgetOf = (size: number): KubeObject => ({ apiVersion: 'test.sluice.dev/v1', kind: 'Widget', metadata: { name: 'w', namespace }, spec: { size } });
    const widget = await client.apply(widgetOf(2));
    const ref = { apiVersion: 'test.sluice.dev/v1', kind: 'Widget', namespace, name: 'w' };
    const patched = await client.patchStatus(ref, { phase: 'Ready', observedGeneration: widget.metadata.generation });
    assert.deepEqual(patched.status, { phase: 'Ready', observedGeneration: 1 });
    // A status patch does not bump the generation, and apply does not clobber status.
    const reapplied = await client.apply(widgetOf(3));
    assert.equal(reapplied.metadata.generation, 2);
    assert.deepEqual(reapplied.status, { phase: 'Ready', observedGeneration: 1 });
  });

  test('API errors arrive as stable codes with the server message', async () => {
    await assert.rejects(client.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'missing' }),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCodes.KubeNotFound && e.status === 404);
    await assert.rejects(client.apply({ apiVersion: 'test.sluice.dev/v1', kind: 'Widget', metadata: { name: 'bad', namespace }, spec: { size: 0 } }),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCodes.KubeInvalid && /spec\.size/.test(e.message));
    await assert.rejects(client.get({ apiVersion: 'nope.sluice.dev/v1', kind: 'Nothing', namespace, name: 'x' }),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCodes.KubeUnknownKind && /install the CRD/.test(e.describe()));
    assert.equal(await client.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'missing' }), false);
  });

  test('an unreachable API server is KubeUnavailable and retryable', async () => {
    const dead = new KubeClient(new RestClient({ ...connect({ kubeconfig: testCluster().kubeconfig }), server: 'https://127.0.0.1:1' }));
    await assert.rejects(dead.list('v1', 'ConfigMap', { namespace }),
      (e: unknown) => e instanceof SluiceError && e.code === ErrorCodes.KubeUnavailable && e.retryable);
    dead.close();
  });

  test('Events are recorded with MicroTime and repeats become a series', async () => {
    const cm = await client.apply(configMap(namespace, 'evented', { a: '1' }));
    const recorder = new EventRecorder(client, { logger });
    const spec = {
      regarding: { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'evented', uid: cm.metadata.uid },
      type: 'Normal' as const, reason: 'Tested', action: 'Test', note: 'hello from sluice',
    };
    assert.equal(await recorder.record(spec), true);
    assert.equal(await recorder.record(spec), true);
    const events = await client.list<KubeObject & { reason?: string; note?: string; series?: { count: number }; regarding?: { uid?: string } }>(
      'events.k8s.io/v1', 'Event', { namespace });
    const ours = events.items.filter((e) => e.reason === 'Tested');
    assert.equal(ours.length, 1, 'the repeat must update the first Event, not create another');
    assert.equal(ours[0]?.note, 'hello from sluice');
    assert.equal(ours[0]?.series?.count, 2);
    assert.equal(ours[0]?.regarding?.uid, cm.metadata.uid);
    assert.match(String(ours[0]?.eventTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });
});

describe('informer against the real API server', () => {
  let namespace: string;
  let proxy: TcpProxy;
  let client: KubeClient;

  before(async () => {
    namespace = await createTestNamespace('informer');
    const direct = connect({ kubeconfig: testCluster().kubeconfig });
    const target = new URL(direct.server);
    proxy = await startTcpProxy(target.hostname, Number(target.port));
    // The informer talks through the proxy so the test can cut or silence its watch.
    client = new KubeClient(new RestClient({ ...direct, server: `https://127.0.0.1:${proxy.port}` }));
  });
  after(async () => {
    client.close();
    await proxy.close();
  });

  test('add, update, delete; recovery after the watch is cut; restart when silent', async (t) => {
    const writer = testKubeClient();
    t.after(() => writer.close());
    const events: InformerEvent<ConfigMap>[] = [];
    const informer = new Informer<ConfigMap>(client, {
      apiVersion: 'v1', kind: 'ConfigMap', namespace, logger,
      silenceTimeoutMs: 2_000, backoffInitialMs: 100, backoffMaxMs: 500,
    });
    informer.on((event) => events.push(event));
    t.after(() => informer.stop());
    const seen = (type: InformerEvent<ConfigMap>['type'], name: string, value?: string) => eventually(() =>
      events.find((e) => e.type === type && e.object.metadata.name === name && (value === undefined || e.object.data?.v === value)),
    { timeoutMs: 20_000, what: `${type} ${name}` });

    await writer.apply(configMap(namespace, 'before-start', { v: '0' }));
    informer.start();
    await informer.waitForSync(AbortSignal.timeout(20_000));
    await seen('added', 'before-start');

    await writer.apply(configMap(namespace, 'one', { v: '1' }));
    await seen('added', 'one');
    await writer.apply(configMap(namespace, 'one', { v: '2' }));
    const update = await seen('updated', 'one', '2');
    assert.equal(update.type === 'updated' && update.old.data?.v, '1');
    assert.equal(informer.get(namespace, 'one')?.data?.v, '2');

    // Cut the watch; changes made while it is down must still arrive.
    await eventually(() => (proxy.connections() > 0 ? true : undefined), { what: 'watch connection' });
    const errorsBefore = informer.stats.errors + informer.stats.watchStarts;
    proxy.cut();
    await writer.apply(configMap(namespace, 'during-cut', { v: '1' }));
    await writer.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'before-start' });
    await seen('added', 'during-cut');
    await seen('deleted', 'before-start');
    assert.ok(informer.stats.errors + informer.stats.watchStarts > errorsBefore, 'the informer restarted its watch');
    assert.equal(informer.get(namespace, 'before-start'), undefined);

    // A watch that goes quiet without closing is restarted by the watchdog.
    proxy.silence();
    await writer.apply(configMap(namespace, 'during-silence', { v: '1' }));
    await eventually(() => (informer.stats.watchdogRestarts > 0 ? true : undefined), { timeoutMs: 15_000, what: 'watchdog restart' });
    proxy.restore();
    await seen('added', 'during-silence');

    await writer.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'one' });
    await seen('deleted', 'one');
    assert.deepEqual(informer.list(namespace).map((c) => c.metadata.name).sort(), ['during-cut', 'during-silence', 'kube-root-ca.crt']);
  });
});
