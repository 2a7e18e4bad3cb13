// Chat messages from the real Canary controller: a promotion and a rollback
// reach a Slack-shaped and a generic receiver through Alerts, in order, with
// weight steps coalesced, and every payload valid for its service.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { API_GROUP_VERSION } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { ClusterNotifier } from '../src/notify/notifier.ts';
import { applyDeployment, canaryObject, startController, waitForPhase, type CanaryHarness } from './env/canary.ts';
import { ChatReceiver, validatePayload } from './env/chat-receivers.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { deploymentYaml } from './env/manifests.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });

const deployment = (image: string) => deploymentYaml('app', image, 1, { ports: [{ containerPort: 8080 }] });

interface GenericPayload { reason: string; severity: string; message: string; involvedObject: { kind: string } }

describe('Canary stages in chat', () => {
  let client: KubeClient;
  let namespace: string;
  let notifier: ClusterNotifier;
  let controller: CanaryHarness;
  let generic: ChatReceiver;
  let slack: ChatReceiver;
  let hooks: http.Server;
  let hookStatus = 200;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('notify-canary');
    generic = await ChatReceiver.start({ type: 'generic' });
    slack = await ChatReceiver.start({ type: 'slack' });
    hooks = http.createServer((req, res) => {
      req.resume().on('end', () => res.writeHead(hookStatus).end());
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    for (const [name, receiver] of [['generic', generic], ['slack', slack]] as const) {
      await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: { address: receiver.address(`token-${name}`) } });
      await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'AlertProvider', metadata: { name, namespace }, spec: { type: name, secretRef: { name } } });
      await client.apply({
        apiVersion: API_GROUP_VERSION, kind: 'Alert', metadata: { name, namespace },
        spec: { providerRef: { name }, eventSources: [{ kind: 'Canary', name: '*' }], eventSeverity: 'info' },
      });
    }
    const events = new EventRecorder(client, { logger });
    notifier = new ClusterNotifier({ client, logger, recorder: events, namespace });
    notifier.start();
    await notifier.waitForSync(AbortSignal.timeout(30_000));
    controller = await startController(client, namespace, { logger, events, notifier });
  });

  after(async () => {
    await controller.stop();
    await notifier.stop(2_000);
    await generic.close();
    await slack.close();
    await new Promise((resolve) => hooks.close(resolve));
    client.close();
  });

  test('a promotion and a rollback, coalesced, valid for each service', async (t) => {
    const { port } = hooks.address() as AddressInfo;
    await applyDeployment(namespace, deployment('example.com/app:1'), { forceConflicts: false });
    await client.apply(canaryObject(namespace, 'app', 'gatewayapi', {
      interval: '1s', stepWeight: 10, maxWeight: 50,
      webhooks: [{ name: 'load-test', type: 'rollout', url: `http://127.0.0.1:${port}/check`, timeout: '5s' }],
    }));
    const phase = (want: string) => waitForPhase(client, namespace, 'app', want, 90_000);
    await phase('Initialized');

    await applyDeployment(namespace, deployment('example.com/app:2'));
    await phase('Succeeded');
    hookStatus = 500;
    await applyDeployment(namespace, deployment('example.com/app:3'));
    await phase('Failed');

    const reasons = (receiver: ChatReceiver) => receiver.requests.map((r) => r.json as GenericPayload);
    await eventually(() => (reasons(generic).some((p) => p.reason === 'CanaryRolledBack') ? true : undefined), { timeoutMs: 15_000, what: 'the rollback message' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const messages = reasons(generic);
    const sequence = messages.map((p) => p.reason);
    t.diagnostic(`chat messages: ${sequence.join(' → ')}`);
    // Five weight steps (10 → 50) in the promotion, at most two chat messages for them.
    const promoted = sequence.indexOf('CanaryPromoted');
    assert.ok(promoted > 0, `promotion message missing: ${sequence.join(', ')}`);
    const first = sequence.slice(0, promoted + 1);
    assert.equal(first[0], 'CanaryInitialized', sequence.join(', '));
    assert.ok(first.indexOf('CanaryNewRevision') < first.indexOf('CanaryWeightAdvanced'), sequence.join(', '));
    assert.ok(first.filter((r) => r === 'CanaryWeightAdvanced').length <= 2, `weight steps not coalesced: ${sequence.join(', ')}`);
    const rest = sequence.slice(promoted + 1);
    assert.equal(rest[0], 'CanaryNewRevision', sequence.join(', '));
    assert.equal(rest[rest.length - 1], 'CanaryRolledBack', sequence.join(', '));
    const rollback = messages[messages.length - 1];
    assert.equal(rollback?.severity, 'error');
    assert.match(rollback?.message ?? '', /load-test/);

    // The Slack receiver got the same stages, each payload valid for Slack.
    await eventually(() => (slack.requests.length === generic.requests.length ? true : undefined), { timeoutMs: 10_000, what: 'slack to catch up' });
    for (const request of [...slack.requests, ...generic.requests]) {
      assert.deepEqual(request.schemaErrors, [], JSON.stringify(request.json));
    }
    assert.deepEqual(validatePayload('generic', generic.requests[0]?.json), []);
    assert.ok(slack.requests.every((r) => !r.body.includes('token-slack')), 'the webhook token never appears in a message');
  });
});
