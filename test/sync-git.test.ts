// End to end: a commit pushed to the real Git server (git http-backend) is
// fetched by the real GitRepository controller and applied by the Sync
// controller to the real cluster — including kustomize overlays, a broken
// commit, and a Git outage.
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
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { deploymentYaml as deployment } from './env/manifests.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });

const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: {app: ${name}}\n  ports:\n    - port: 80\n`;

describe('Sync fed by a real GitRepository', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;
  let source: GitRepositoryController;
  let sync: SyncController;
  let cacheDir: string;

  const getSync = () => client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' });
  const find = (apiVersion: string, kind: string, name: string) => client.find<KubeObject>({ apiVersion, kind, namespace, name });
  const image = (d: KubeObject | undefined) => (d?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec.containers[0]?.image;
  const applied = (sha: string) => eventually(async () => {
    const current = await getSync();
    const ready = current.status?.conditions?.find((c) => c.type === 'Ready');
    return ready?.status === 'True' && current.status?.lastAppliedRevision === `main@sha1:${sha}` ? current : undefined;
  }, { timeoutMs: 60_000, what: `commit ${sha.slice(0, 8)} to be applied` });

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('sync-git');
    server = await startGitServer();
    repo = await server.createRepo('fleet');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sync-git-'));
    const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir], {});
    // One ArtifactStore shared by both controllers, as in the controller process.
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    source = new GitRepositoryController(deps, { retryBaseMs: 200, retryMaxMs: 1_000 });
    sync = new SyncController(deps, { healthIntervalMs: 250 });
    source.start();
    sync.start();
    await Promise.all([source.controller.waitForSync(), sync.controller.waitForSync()]);
  });

  after(async () => {
    await sync.stop();
    await source.stop();
    await server.close();
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('push → applied; image change → updated; file deleted → pruned; broken commit → nothing applied; fix → applied', async () => {
    let sha = await repo.commitFiles({
      'deploy/web.yaml': deployment('web', 'web:1'),
      'deploy/svc.yaml': service('web'),
      'README.md': 'not a manifest, outside the path',
    }, 'web');
    await repo.push();
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace },
      spec: { url: repo.url, interval: '1s', ref: { branch: repo.branch } },
    });
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, path: './deploy', interval: '1m', prune: true, wait: true, timeout: '60s' },
    });
    await applied(sha);
    assert.equal(image(await find('apps/v1', 'Deployment', 'web')), 'web:1');
    assert.ok(await find('v1', 'Service', 'web'));

    sha = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:2') }, 'bump');
    await repo.push();
    await applied(sha);
    assert.equal(image(await find('apps/v1', 'Deployment', 'web')), 'web:2');

    sha = await repo.commitFiles({ 'deploy/svc.yaml': null }, 'drop service');
    await repo.push();
    await applied(sha);
    await eventually(async () => ((await find('v1', 'Service', 'web')) ? undefined : true), { what: 'Service pruned' });

    const good = sha;
    const broken = await repo.commitFiles({
      'deploy/web.yaml': deployment('web', 'web:3'),
      'deploy/bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: "unterminated\n',
    }, 'broken');
    await repo.push();
    const failed = await eventually(async () => {
      const current = await getSync();
      return current.status?.lastAttemptedRevision === `main@sha1:${broken}` && current.status.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? current : undefined;
    }, { timeoutMs: 30_000, what: 'broken commit to be rejected' });
    assert.match(failed.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '', /deploy\/bad\.yaml:\d+: invalid YAML/);
    assert.equal(failed.status?.lastAppliedRevision, `main@sha1:${good}`);
    assert.equal(image(await find('apps/v1', 'Deployment', 'web')), 'web:2', 'nothing of the broken commit applied');

    sha = await repo.commitFiles({ 'deploy/bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: "terminated"\n' }, 'fix');
    await repo.push();
    await applied(sha);
    assert.equal(image(await find('apps/v1', 'Deployment', 'web')), 'web:3');
    assert.ok(await find('v1', 'ConfigMap', 'bad'));
  });

  test('a kustomize overlay in the repository is built and applied', async () => {
    const sha = await repo.commitFiles({
      'deploy/kustomization.yaml': 'resources:\n- ../base\nnamePrefix: prod-\nimages:\n- name: web\n  newTag: "9"\n',
      'deploy/web.yaml': null, 'deploy/bad.yaml': null,
      'base/kustomization.yaml': 'resources:\n- web.yaml\n',
      'base/web.yaml': deployment('web', 'web:1'),
    }, 'kustomize');
    await repo.push();
    const current = await applied(sha);
    assert.equal(image(await find('apps/v1', 'Deployment', 'prod-web')), 'web:9');
    // The plain objects of the previous revision left Git: pruned.
    await eventually(async () => ((await find('apps/v1', 'Deployment', 'web')) ? undefined : true), { what: 'old Deployment pruned' });
    assert.deepEqual(current.status?.inventory?.entries?.map((e) => e.id), [`${namespace}_prod-web_apps_Deployment`]);
  });

  test('while the Git server is down the cluster stays as last applied; a push after recovery is applied', async () => {
    const before = await find('apps/v1', 'Deployment', 'prod-web');
    await server.stop();
    await eventually(async () => {
      const repoObject = await client.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'fleet' });
      return repoObject.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? true : undefined;
    }, { timeoutMs: 30_000, what: 'GitRepository to report the outage' });
    // The Sync keeps the last artifact: still Ready, objects untouched.
    const during = await getSync();
    assert.equal(during.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal((await find('apps/v1', 'Deployment', 'prod-web'))?.metadata.generation, before?.metadata.generation);
    await server.start();
    const sha = await repo.commitFiles({ 'deploy/kustomization.yaml': 'resources:\n- ../base\nnamePrefix: prod-\nimages:\n- name: web\n  newTag: "10"\n' }, 'after outage');
    await repo.push();
    await applied(sha);
    assert.equal(image(await find('apps/v1', 'Deployment', 'prod-web')), 'web:10');
  });

  test('deleting a Sync with prune: true deletes its objects, then the Sync; with prune: false the objects stay', async () => {
    const sha = await repo.commitFiles({ 'gc/web.yaml': deployment('gc-web', 'web:1'), 'gc/svc.yaml': service('gc-web') }, 'gc');
    await repo.push();
    const syncRef = (name: string) => ({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name });
    const createSync = (name: string, prune: boolean) => client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name, namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, path: './gc', interval: '1m', prune },
    });
    const appliedBy = (name: string) => eventually(async () => {
      const current = await client.get<Sync>(syncRef(name));
      const ready = current.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && current.status?.lastAppliedRevision === `main@sha1:${sha}` ? current : undefined;
    }, { timeoutMs: 60_000, what: `Sync ${name} to apply ${sha.slice(0, 8)}` });
    const gone = (name: string) => eventually(async () => ((await client.find(syncRef(name))) ? undefined : true), { timeoutMs: 60_000, what: `Sync ${name} to be gone` });

    await createSync('gc', true);
    const collected = await appliedBy('gc');
    assert.deepEqual(collected.metadata.finalizers, ['sluice.dev/prune-on-deletion']);
    assert.ok(await find('apps/v1', 'Deployment', 'gc-web'));
    assert.ok(await find('v1', 'Service', 'gc-web'));
    await client.delete(syncRef('gc'));
    await gone('gc');
    assert.equal(await find('apps/v1', 'Deployment', 'gc-web'), undefined);
    assert.equal(await find('v1', 'Service', 'gc-web'), undefined);

    await createSync('kept', false);
    const kept = await appliedBy('kept');
    assert.equal(kept.metadata.finalizers, undefined);
    await client.delete(syncRef('kept'));
    await gone('kept');
    assert.ok(await find('apps/v1', 'Deployment', 'gc-web'), 'prune: false leaves the Deployment');
    assert.ok(await find('v1', 'Service', 'gc-web'), 'prune: false leaves the Service');
  });
});
