// Chat alerts from the real Sync controller: a commit that cannot be applied
// sends one error alert however many times the Sync retries it, and the fix
// sends one recovery message. Real git server, GitRepository and Sync
// controllers, the cluster notifier, and a loopback generic webhook receiver.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Sync } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { GitRepositoryController } from '../src/gitops/source/controller.ts';
import { SyncController } from '../src/gitops/sync/controller.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { ClusterNotifier } from '../src/notify/notifier.ts';
import { ChatReceiver } from './env/chat-receivers.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitServer } from './env/git-server.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const configMap = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: "${value}"\n`;

interface GenericPayload {
  severity: string;
  reason: string;
  message: string;
  involvedObject: { kind: string; name: string };
}

describe('Sync alerts through the notifier', () => {
  let client: KubeClient;
  let namespace: string;
  let git: GitServer;
  let receiver: ChatReceiver;
  let notifier: ClusterNotifier;
  let sources: GitRepositoryController;
  let syncs: SyncController;
  let cacheDir: string;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('notify-sync');
    git = await startGitServer();
    receiver = await ChatReceiver.start({ type: 'generic' });
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-notify-sync-'));
    const events = new EventRecorder(client, { logger });
    notifier = new ClusterNotifier({ client, logger, recorder: events, namespace });
    notifier.start();
    await notifier.waitForSync(AbortSignal.timeout(30_000));
    const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir], {});
    const deps = createDeps({ config, client, logger, events, notifier });
    sources = new GitRepositoryController(deps, { retryBaseMs: 200, retryMaxMs: 1_000 });
    syncs = new SyncController(deps);
    sources.start();
    syncs.start();
    await Promise.all([sources.controller.waitForSync(), syncs.controller.waitForSync()]);
  });

  after(async () => {
    await syncs.stop();
    await sources.stop();
    await notifier.stop(2_000);
    await receiver.close();
    await git.close();
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('a broken revision alerts once across retries; the fix alerts once as recovery', async () => {
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'chat', namespace }, stringData: { address: receiver.address('s3cr3t-token') } });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'AlertProvider', metadata: { name: 'chat', namespace }, spec: { type: 'generic', secretRef: { name: 'chat' } } });
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Alert', metadata: { name: 'syncs', namespace },
      spec: { providerRef: { name: 'chat' }, eventSources: [{ kind: 'Sync', name: '*' }], eventSeverity: 'info' },
    });
    await eventually(async () => {
      const alert = await client.get({ apiVersion: API_GROUP_VERSION, kind: 'Alert', namespace, name: 'syncs' });
      return (alert.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, { timeoutMs: 30_000, what: 'Alert Ready' });

    const repo = await git.createRepo('fleet');
    let sha = await repo.commitFiles({ 'apps/settings.yaml': configMap('1') }, 'good');
    await repo.push();
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace },
      spec: { url: repo.url, interval: '1s', ref: { branch: repo.branch } },
    });
    // Retries every second, so a broken revision is attempted many times.
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, path: './apps', interval: '1s', retryInterval: '1s', prune: true },
    });
    const sync = () => client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' });
    const payloads = () => receiver.requests.map((r) => r.json as GenericPayload).filter((p) => p.involvedObject.kind === 'Sync');
    await eventually(() => (payloads().length === 1 ? true : undefined), { timeoutMs: 30_000, what: 'the applied message' });

    sha = await repo.commitFiles({ 'apps/settings.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n' }, 'broken');
    await repo.push();
    await eventually(async () => ((await sync()).status?.lastAttemptedRevision === `main@sha1:${sha}` ? true : undefined), { timeoutMs: 30_000, what: 'the broken revision attempted' });
    // Let the Sync fail several more times at its 1 s retry interval.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const afterFailures = payloads();
    assert.equal(afterFailures.length, 2, `one alert for the failing revision, got: ${afterFailures.map((p) => p.reason).join(', ')}`);
    assert.equal(afterFailures[1]?.severity, 'error');
    assert.match(afterFailures[1]?.message ?? '', /settings\.yaml/);

    sha = await repo.commitFiles({ 'apps/settings.yaml': configMap('2') }, 'fixed');
    await repo.push();
    await eventually(async () => ((await sync()).status?.lastAppliedRevision === `main@sha1:${sha}` ? true : undefined), { timeoutMs: 30_000, what: 'the fix applied' });
    await eventually(() => (payloads().length === 3 ? true : undefined), { timeoutMs: 10_000, what: 'the recovery message' });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const all = payloads();
    assert.equal(all.length, 3, `exactly one recovery message, got: ${all.map((p) => p.reason).join(', ')}`);
    assert.equal(all[2]?.severity, 'info');
    assert.ok(receiver.requests.every((r) => !JSON.stringify(r.json).includes('s3cr3t-token')), 'the webhook token never appears in a message');
  });
});
