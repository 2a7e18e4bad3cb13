// spec.writeBackRollback end to end, with the whole controller (GitRepository,
// Sync and Canary controllers) against the real cluster and the real git
// server: Git declares a version whose rollout webhook fails, the canary rolls
// back, sluice commits the primary's image to the branch, the GitRepository
// fetches that commit, the Sync applies it, and Git and cluster agree again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Canary } from '../src/api/types.ts';
import type { Deployment } from '../src/canary/workloads.ts';
import { parseConfig } from '../src/config.ts';
import type { KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { startControllerProcess, type ControllerProcess } from '../src/main.ts';
import { createTestNamespace, eventually, testCluster, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';
import { deploymentYaml } from './env/manifests.ts';

const auth = { username: 'release-bot', password: 'write-back-secret-77' };

const canaryYaml = (webhookUrl: string) => `apiVersion: ${API_GROUP_VERSION}
kind: Canary
metadata:
  name: web
spec:
  provider: kubernetes
  writeBackRollback: true
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  service: {port: 80}
  analysis:
    interval: 1s
    iterations: 3
    threshold: 2
    webhooks:
      - name: smoke-test
        url: ${webhookUrl}
        timeout: 2s
`;

describe('Canary spec.writeBackRollback with the whole controller', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;
  let sluice: ControllerProcess;
  let hook: http.Server;
  let cacheDir: string;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('writeback-e2e');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-writeback-cache-'));
    // The smoke test fails for web:2 only; the webhook payload names the canary's images.
    hook = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      request.on('end', () => {
        response.statusCode = body.includes('web:2') ? 500 : 200;
        response.end(body.includes('web:2') ? 'smoke test failed: /healthz returned 503' : 'ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    server = await startGitServer({ auth });
    repo = await server.createRepo('app');
    const config = parseConfig([`--kubeconfig=${testCluster().kubeconfig}`, `--namespaces=${namespace}`, '--health-port=0', '--health-address=127.0.0.1', '--receiver-port=0', `--git-cache-dir=${cacheDir}`], {});
    sluice = await startControllerProcess(config, pino({ level: process.env.CANARY_TEST_LOG ?? 'silent' }, pino.destination(2)));
  });

  after(async () => {
    await sluice.stop();
    await server.close();
    await new Promise((resolve) => hook.close(resolve));
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('a rolled-back version is committed back to the branch; the Sync applies it and the FailedRevisionDeclared condition clears', async () => {
    const { port } = hook.address() as AddressInfo;
    const deploymentFile = (image: string) => `# web tier; the release pipeline bumps the image.\n${deploymentYaml('web', image, 2)}`;
    await repo.commitFiles({ 'deploy/web.yaml': deploymentFile('web:1'), 'deploy/canary.yaml': canaryYaml(`http://127.0.0.1:${port}/smoke`) }, 'web 1');
    await repo.push();
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-push', namespace }, stringData: auth });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'app', namespace }, spec: { url: repo.url, interval: '1s', ref: { branch: repo.branch }, secretRef: { name: 'git-push' } } });
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'app', namespace }, spec: { sourceRef: { kind: 'GitRepository', name: 'app' }, path: './deploy', interval: '1m', prune: true } });
    const canaryRef = { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'web' };
    await eventually(async () => ((await client.find<Canary>(canaryRef))?.status?.phase === 'Initialized' ? true : undefined), { what: 'Canary Initialized', timeoutMs: 90_000 });

    const badCommit = await repo.commitFiles({ 'deploy/web.yaml': deploymentFile('web:2') }, 'web 2');
    await repo.push();
    const failed = await eventually(async () => {
      const canary = await client.get<Canary>(canaryRef);
      return canary.status?.phase === 'Failed' ? canary : undefined;
    }, { what: 'rollback', timeoutMs: 90_000 });
    assert.deepEqual(failed.status?.failedRevision?.images, ['web:2']);

    // The write-back commit lands on the branch: one file, one line changed, comment kept.
    const head = await eventually(async () => {
      const sha = (await repo.git('ls-remote', 'origin', `refs/heads/${repo.branch}`)).split(/\s/)[0] ?? '';
      return sha !== badCommit ? sha : undefined;
    }, { what: 'the write-back commit', timeoutMs: 60_000 });
    await repo.git('pull', '-q', '--ff-only');
    assert.equal((await repo.git('rev-parse', 'HEAD')).trim(), head);
    assert.equal((await repo.git('log', '-1', '--format=%s')).trim(), `Roll back ${namespace}/web to web:1`);
    assert.match(await repo.git('log', '-1', '--format=%b'), /smoke-test/);
    assert.equal(fs.readFileSync(path.join(repo.workdir, 'deploy/web.yaml'), 'utf8'), deploymentFile('web:1'));

    // The Sync applies the commit: Git and the cluster agree, the condition goes, no new rollout starts.
    await eventually(async () => {
      const target = await client.get<Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' });
      const canary = await client.get<Canary>(canaryRef);
      const declared = canary.status?.conditions?.some((c) => c.type === 'FailedRevisionDeclared');
      return target.spec.template.spec?.containers?.[0]?.image === 'web:1' && !declared && !canary.status?.failedRevision ? canary : undefined;
    }, { what: 'the Sync to apply the write-back and the condition to clear', timeoutMs: 60_000 });
    const events = await client.list<KubeObject & { reason?: string; note?: string }>('events.k8s.io/v1', 'Event', { namespace });
    const written = events.items.filter((e) => e.reason === 'CanaryRollbackWrittenToGit');
    assert.equal(written.length, 1, 'one write-back Event');
    assert.match(written[0]?.note ?? '', new RegExp(`committed ${head.slice(0, 12)} to ${repo.branch}: web:1 in deploy/web.yaml`));
    assert.ok(!JSON.stringify(events.items).includes(auth.password), 'no secret in Events');
    const canary = await client.get<Canary>(canaryRef);
    assert.equal(canary.status?.phase, 'Failed', 'the rolled-back rollout stays Failed; reverting Git is not a new rollout');
    const primary = await client.get<Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web-primary' });
    assert.equal(primary.spec.template.spec?.containers?.[0]?.image, 'web:1');
  });
});
