// The controller framework and the controller process against the real API
// server: which changes trigger a reconcile, requeue, deletion, readiness, and
// a clean exit on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pino } from 'pino';
import { setCondition } from '../src/api/conditions.ts';
import { API_GROUP_VERSION, type GitRepository } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { Controller } from '../src/runtime/controller.ts';
import { createTestNamespace, eventually, kubectlOk, repoRoot, testCluster, testKubeClient } from './env/cluster.ts';
import { freePort } from './env/ports.ts';

const logger = pino({ level: 'silent' });

const gitRepository = (namespace: string, name: string, url: string): GitRepository => ({
  apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name, namespace },
  spec: { url, interval: '1m' },
});

describe('Controller against the real API server', () => {
  let client: KubeClient;
  let namespace: string;
  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('controller');
  });
  after(() => client.close());

  test('reconciles on create and spec/annotation changes, not on its own status patches; requeues; sees deletes', async (t) => {
    const reconciles: { name: string; generation: number | undefined }[] = [];
    const deleted: string[] = [];
    const controller = new Controller<GitRepository>({
      client, apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespaces: [namespace], logger,
      async reconcile(object, { log }) {
        assert.equal(typeof log.info, 'function');
        reconciles.push({ name: object.metadata.name, generation: object.metadata.generation });
        await client.patchStatus({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: object.metadata.name }, {
          observedGeneration: object.metadata.generation,
          conditions: setCondition(object.status?.conditions, { type: 'Ready', status: 'True', reason: 'Tested', message: 'ok' }),
        });
        return object.metadata.name === 'requeued' ? { requeueAfterMs: 300 } : undefined;
      },
      async onDeleted(key) {
        deleted.push(key);
        await Promise.resolve();
      },
    });
    controller.start();
    t.after(() => controller.stop());
    await controller.waitForSync(AbortSignal.timeout(20_000));

    const count = (name: string) => reconciles.filter((r) => r.name === name).length;
    await client.apply(gitRepository(namespace, 'plain', 'https://git.example/a.git'));
    await eventually(() => (count('plain') === 1 ? true : undefined), { what: 'first reconcile' });
    // The status patch makes an update event; give it time to (wrongly) trigger a reconcile.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(count('plain'), 1, 'a status-only update must not reconcile again');

    await client.apply(gitRepository(namespace, 'plain', 'https://git.example/b.git'));
    await eventually(() => (reconciles.some((r) => r.name === 'plain' && r.generation === 2) ? true : undefined), { what: 'spec change reconcile' });

    await kubectlOk(['annotate', 'gitrepository', 'plain', `sluice.dev/requestedAt=${Date.now()}`], { namespace });
    await eventually(() => (count('plain') === 3 ? true : undefined), { what: 'requestedAt reconcile' });

    await client.apply(gitRepository(namespace, 'requeued', 'https://git.example/c.git'));
    await eventually(() => (count('requeued') >= 3 ? true : undefined), { timeoutMs: 10_000, what: 'requeueAfter' });

    await client.delete({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'plain' });
    await eventually(() => (deleted.includes(`${namespace}/plain`) ? true : undefined), { what: 'onDeleted' });
    assert.equal(controller.get(namespace, 'plain'), undefined);
    assert.equal(controller.get(namespace, 'requeued')?.spec.url, 'https://git.example/c.git');
  });
});

describe('controller process', () => {
  test('becomes ready after its caches sync and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), `--kubeconfig=${testCluster().kubeconfig}`,
      `--health-port=${port}`, '--receiver-port=0', '--health-address=127.0.0.1', '--log-level=info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const healthz = await eventually(async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.status === 200 ? res : undefined;
      }, { timeoutMs: 30_000, what: `/healthz (output so far: ${output})` });
      assert.equal(await healthz.text(), 'ok\n');
      await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), { timeoutMs: 30_000, what: '/readyz' });
      assert.match(output, /"msg":"sluice started"/);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.match(output, /"msg":"stopped"/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a bad flag exits 2 with a message naming the flag', async () => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), '--concurrency=0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /--concurrency must be an integer from 1 to 256, got "0"/);
  });
});
