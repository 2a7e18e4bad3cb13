// Receivers against the real cluster and Git server: a signed push webhook
// makes a GitRepository fetch the new commit at once (its interval is an
// hour), bad signatures are refused and change nothing, GitHub's ping and
// event filter, wildcard targets with labels, Sync targets, missing Secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type GitRepository, type Receiver, type ReceiverSpec } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { ReceiverController } from '../src/gitops/receiver/controller.ts';
import { signBody } from '../src/gitops/receiver/signature.ts';
import { GitRepositoryController } from '../src/gitops/source/controller.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { REQUESTED_AT_ANNOTATION } from '../src/runtime/controller.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const logger = pino({ level: 'silent' });
const auth = { username: 'fleet-bot', password: 'receiver-test-pass' };
const token = 'receiver-webhook-token-0123456789';

describe('Receiver (real cluster, real git server)', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;
  let sources: GitRepositoryController;
  let receivers: ReceiverController;
  let cacheDir: string;
  let base = '';

  const gitRef = (name: string) => ({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name });
  const receiverRef = (name: string) => ({ apiVersion: API_GROUP_VERSION, kind: 'Receiver', namespace, name });
  const applyReceiver = (name: string, spec: Partial<ReceiverSpec>) => client.apply<Receiver>({
    apiVersion: API_GROUP_VERSION, kind: 'Receiver', metadata: { name, namespace },
    spec: { type: 'generic-hmac', secretRef: { name: 'webhook-token' }, resources: [{ kind: 'GitRepository', name: 'fleet' }], ...spec },
  });
  const webhookPathOf = async (name: string): Promise<string> => eventually(async () => {
    const receiver = await client.get<Receiver>(receiverRef(name));
    return receiver.status?.webhookPath;
  }, { what: `Receiver ${name} status.webhookPath` });
  const revision = async (name: string) => (await client.get<GitRepository>(gitRef(name))).status?.artifact?.revision;
  const requestedAt = async (kind: string, name: string) =>
    (await client.get({ apiVersion: API_GROUP_VERSION, kind, namespace, name })).metadata.annotations?.[REQUESTED_AT_ANNOTATION];

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('receiver');
    server = await startGitServer({ auth });
    repo = await server.createRepo('fleet');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-receiver-test-'));
    const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir, '--receiver-port', '0', '--health-address', '127.0.0.1'], {});
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    sources = new GitRepositoryController(deps);
    receivers = new ReceiverController(deps);
    sources.start();
    await receivers.start();
    await Promise.all([sources.controller.waitForSync(AbortSignal.timeout(20_000)), receivers.controller.waitForSync(AbortSignal.timeout(20_000))]);
    base = `http://127.0.0.1:${receivers.port ?? 0}`;
    for (const [name, data] of [['git-auth', auth], ['webhook-token', { token }]] as const) {
      await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data });
    }
    await repo.commitFiles({ 'apps/app.yaml': 'kind: ConfigMap\n' }, 'first');
    await repo.push();
    await client.apply<GitRepository>({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace, labels: { team: 'a' } },
      spec: { url: repo.url, interval: '1h', secretRef: { name: 'git-auth' } },
    });
    await eventually(async () => ((await revision('fleet')) ? true : undefined), { what: 'first artifact' });
  });
  after(async () => {
    await receivers.stop();
    await sources.stop();
    await server.close();
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('generic-hmac: a signed push makes the new commit live at once; a bad signature changes nothing', async () => {
    await applyReceiver('push', {});
    const hookPath = await webhookPathOf('push');
    assert.match(hookPath, /^\/hook\/[0-9a-f]{64}$/);
    const sha = await repo.commitFiles({ 'apps/app.yaml': 'kind: ConfigMap\ndata: {v: "2"}\n' }, 'second');
    await repo.push();
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });

    const annotationBefore = await requestedAt('GitRepository', 'fleet');
    const forged = await fetch(`${base}${hookPath}`, { method: 'POST', body, headers: { 'x-signature': signBody(body, 'not-the-token') } });
    assert.equal(forged.status, 401);
    assert.equal(await forged.text(), 'unauthorized\n');
    const unsigned = await fetch(`${base}${hookPath}`, { method: 'POST', body });
    assert.equal(unsigned.status, 401);
    assert.equal((await fetch(`${base}/hook/${'a'.repeat(64)}`, { method: 'POST', body })).status, 404);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await requestedAt('GitRepository', 'fleet'), annotationBefore, 'a refused webhook must not touch the target');
    assert.notEqual(await revision('fleet'), `main@sha1:${sha}`);

    const started = Date.now();
    const ok = await fetch(`${base}${hookPath}`, { method: 'POST', body, headers: { 'x-signature': signBody(body, token) } });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(await ok.text(), 'reconcile requested for 1 object(s)\n');
    await eventually(async () => ((await revision('fleet')) === `main@sha1:${sha}` ? true : undefined), { timeoutMs: 15_000, what: 'the pushed commit' });
    const latency = Date.now() - started;
    assert.ok(latency < 10_000, `webhook to artifact took ${latency} ms`);
  });

  test('github: ping, event filter, signed push; unsigned calls refused', async () => {
    await applyReceiver('github', { type: 'github', events: ['push'] });
    const hookPath = await webhookPathOf('github');
    const post = (event: string, body: string, signature?: string) => fetch(`${base}${hookPath}`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'x-github-event': event, ...(signature ? { 'x-hub-signature-256': signature } : {}) },
    });
    const ping = await post('ping', '{"zen":"Keep it logically awesome."}', signBody('{"zen":"Keep it logically awesome."}', token));
    assert.equal(ping.status, 200);
    assert.equal(await ping.text(), 'pong\n');
    const before = await requestedAt('GitRepository', 'fleet');
    assert.equal((await post('issues', '{}', signBody('{}', token))).status, 200);
    assert.equal((await post('push', '{}')).status, 401);
    assert.equal((await post('push', '{}', signBody('{}', 'wrong'))).status, 401);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await requestedAt('GitRepository', 'fleet'), before, 'ping, filtered and refused calls trigger nothing');

    const sha = await repo.commitFiles({ 'apps/app.yaml': 'kind: ConfigMap\ndata: {v: "3"}\n' }, 'third');
    await repo.push();
    const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
    assert.equal((await post('push', body, signBody(body, token))).status, 200);
    await eventually(async () => ((await revision('fleet')) === `main@sha1:${sha}` ? true : undefined), { timeoutMs: 15_000, what: 'the pushed commit' });
    const receiver = await client.get<Receiver>(receiverRef('github'));
    assert.equal(receiver.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  test('wildcard targets with matchLabels, Sync targets, and missing objects', async () => {
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, interval: '1h', prune: false, suspend: true },
    });
    await client.apply<GitRepository>({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'other-team', namespace, labels: { team: 'b' } },
      spec: { url: repo.url, interval: '1h', secretRef: { name: 'git-auth' }, suspend: true },
    });
    await applyReceiver('fanout', {
      type: 'generic',
      resources: [{ kind: 'GitRepository', name: '*', matchLabels: { team: 'a' } }, { kind: 'Sync', name: 'apps' }, { kind: 'Sync', name: 'absent' }],
    });
    const hookPath = await webhookPathOf('fanout');
    const other = await requestedAt('GitRepository', 'other-team');
    const response = await fetch(`${base}${hookPath}`, { method: 'POST' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'reconcile requested for 2 object(s)\n');
    assert.ok(await requestedAt('Sync', 'apps'), 'the Sync was annotated');
    assert.ok(await requestedAt('GitRepository', 'fleet'));
    assert.equal(await requestedAt('GitRepository', 'other-team'), other, 'labels filter the wildcard');
    await eventually(async () => {
      const list = await client.list<KubeObject & { reason: string; note: string; regarding: { name: string } }>('events.k8s.io/v1', 'Event', { namespace });
      return list.items.some((e) => e.regarding.name === 'fanout' && e.reason === 'ResourceNotFound' && e.note.includes(`Sync ${namespace}/absent`)) ? true : undefined;
    }, { what: 'ResourceNotFound event naming the missing Sync' });
  });

  test('a Receiver without its Secret is Stalled and accepts nothing; rotating the token moves the path', async () => {
    await applyReceiver('rotating', { type: 'generic', secretRef: { name: 'rotating-token' } });
    const stalled = await eventually(async () => {
      const r = await client.get<Receiver>(receiverRef('rotating'));
      return r.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True') ? r : undefined;
    }, { what: 'Stalled Receiver' });
    assert.equal(stalled.status?.conditions?.find((c) => c.type === 'Ready')?.reason, 'SecretNotFound');
    assert.equal(stalled.status?.webhookPath, undefined);

    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rotating-token', namespace }, stringData: { token: 'first' } });
    await client.patchMerge(receiverRef('rotating'), { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } });
    const first = await webhookPathOf('rotating');
    assert.equal((await fetch(`${base}${first}`, { method: 'POST' })).status, 200);

    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rotating-token', namespace }, stringData: { token: 'second' } });
    await client.patchMerge(receiverRef('rotating'), { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } });
    const second = await eventually(async () => {
      const current = (await client.get<Receiver>(receiverRef('rotating'))).status?.webhookPath;
      return current !== undefined && current !== first ? current : undefined;
    }, { what: 'the new webhook path' });
    assert.equal((await fetch(`${base}${first}`, { method: 'POST' })).status, 404, 'the old path stops working');
    assert.equal((await fetch(`${base}${second}`, { method: 'POST' })).status, 200);
  });
});
