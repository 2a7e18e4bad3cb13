// The GitRepository controller against the real local cluster and the real Git
// server (git http-backend with basic auth): fetch, polling, reconcile-now,
// tags and semver, auth failure and outage with the last artifact kept, size
// limit, missing Secret, deletion, and the on-disk Git cache: entries removed
// with their last GitRepository, and evicted beyond --git-cache-max-bytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Condition, type GitRepository, type GitRepositorySpec } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps, type ControllerDeps } from '../src/controllers.ts';
import { GitRepositoryController } from '../src/gitops/source/controller.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { REQUESTED_AT_ANNOTATION } from '../src/runtime/controller.ts';
import { createTestNamespace, eventually, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const logger = pino({ level: 'silent' });
const auth = { username: 'fleet-bot', password: 'correct-horse-battery' };

function condition(repo: GitRepository | undefined, type: string): Condition | undefined {
  return repo?.status?.conditions?.find((c) => c.type === type);
}

describe('GitRepository controller (real cluster, real git server)', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;
  let deps: ControllerDeps;
  let controller: GitRepositoryController;
  let cacheDir: string;

  const ref = (name: string) => ({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name });
  const get = (name: string) => client.get<GitRepository>(ref(name));
  const apply = (name: string, spec: Partial<GitRepositorySpec>) => client.apply<GitRepository>({
    apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name, namespace },
    spec: { url: repo.url, interval: '1h', secretRef: { name: 'git-auth' }, ...spec },
  });
  const putSecret = (name: string, data: Record<string, string>) => client.apply({
    apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: data,
  });
  const requestReconcile = async (name: string): Promise<string> => {
    const value = new Date().toISOString();
    await client.patchMerge(ref(name), { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: value } } });
    return value;
  };
  /** Waits until the object's status satisfies `check`. */
  const waitFor = (name: string, what: string, check: (repo: GitRepository) => boolean, timeoutMs = 30_000) =>
    eventually(async () => {
      const current = await get(name);
      return check(current) ? current : undefined;
    }, { timeoutMs, what: `GitRepository ${name}: ${what}` });
  /** Events about one object; `count` includes repeats recorded as a series. */
  const events = async (name: string): Promise<{ reason: string; note: string; type: string; count: number }[]> => {
    const list = await client.list<KubeObject & { reason: string; note: string; type: string; regarding: { name: string }; series?: { count: number } }>('events.k8s.io/v1', 'Event', { namespace });
    return list.items.filter((e) => e.regarding.name === name).map((e) => ({ reason: e.reason, note: e.note, type: e.type, count: e.series?.count ?? 1 }));
  };
  const occurrences = async (name: string, reason: string): Promise<number> =>
    (await events(name)).filter((e) => e.reason === reason).reduce((sum, e) => sum + e.count, 0);

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('gitrepo');
    server = await startGitServer({ auth });
    repo = await server.createRepo('fleet');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-gitrepo-test-'));
    const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir], {});
    deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    // Fast retries so outage recovery shows within the test's patience.
    controller = new GitRepositoryController(deps, { retryBaseMs: 200, retryMaxMs: 2_000 });
    controller.start();
    await controller.controller.waitForSync(AbortSignal.timeout(20_000));
    await putSecret('git-auth', auth);
  });
  after(async () => {
    await controller.stop();
    await server.close();
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  let firstSha = '';
  test('a GitRepository with basic auth fetches the pushed commit', async () => {
    firstSha = await repo.commitFiles({ 'apps/podinfo.yaml': 'kind: ConfigMap\n', 'README.md': 'fleet\n' }, 'first');
    await repo.push();
    await apply('fleet', {});
    const ready = await waitFor('fleet', 'Ready with an artifact', (r) => condition(r, 'Ready')?.status === 'True');
    assert.equal(ready.status?.artifact?.revision, `main@sha1:${firstSha}`);
    assert.match(ready.status?.artifact?.digest ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(ready.status?.artifact?.size, 'kind: ConfigMap\n'.length + 'fleet\n'.length);
    assert.equal(ready.status?.observedGeneration, ready.metadata.generation);
    assert.equal(condition(ready, 'Ready')?.message, `stored artifact for revision 'main@sha1:${firstSha}'`);
    assert.equal(condition(ready, 'Reconciling'), undefined);
    const artifact = deps.artifacts.get(namespace, 'fleet');
    assert.equal(artifact?.revision, `main@sha1:${firstSha}`);
    assert.equal(Buffer.from(artifact?.files.get('apps/podinfo.yaml') ?? []).toString(), 'kind: ConfigMap\n');
    await eventually(async () => ((await events('fleet')).some((e) => e.reason === 'NewArtifact' && e.note.includes(firstSha)) ? true : undefined), { what: 'NewArtifact event' });
  });

  test('a new push is picked up on the interval; a quiet poll writes nothing', async () => {
    await apply('polled', { interval: '2s' });
    await waitFor('polled', 'first artifact', (r) => r.status?.artifact?.revision === `main@sha1:${firstSha}`);
    // Several polls with nothing new must not touch the object.
    const before = (await get('polled')).metadata.resourceVersion;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.equal((await get('polled')).metadata.resourceVersion, before, 'a poll that finds the same revision must not patch status');

    const sha = await repo.commitFiles({ 'apps/podinfo.yaml': 'kind: ConfigMap\ndata: {v: "2"}\n' }, 'second');
    await repo.push();
    const started = Date.now();
    await waitFor('polled', 'the new commit', (r) => r.status?.artifact?.revision === `main@sha1:${sha}`, 20_000);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms with a 2s interval`);
  });

  test('the sluice.dev/requestedAt annotation triggers an immediate fetch', async () => {
    const before = await get('fleet');
    const sha = await repo.commitFiles({ 'apps/new.yaml': 'kind: ConfigMap\n' }, 'third');
    await repo.push();
    // The interval is 1h: only the annotation can make this happen.
    const started = Date.now();
    const requested = await requestReconcile('fleet');
    const after = await waitFor('fleet', 'the requested fetch', (r) => r.status?.artifact?.revision === `main@sha1:${sha}`, 15_000);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(after.status?.lastHandledReconcileAt, requested);
    assert.notEqual(after.status?.artifact?.digest, before.status?.artifact?.digest);
  });

  test('tag and semver refs', async () => {
    await repo.git('tag', '-a', 'v1.0.0', '-m', 'v1.0.0');
    const v11 = await repo.commitFiles({ 'apps/podinfo.yaml': 'kind: ConfigMap\ndata: {v: "1.1"}\n' }, 'v1.1');
    await repo.git('tag', 'v1.1.0');
    const v1 = (await repo.git('rev-parse', 'v1.0.0^{commit}')).trim();
    await repo.push();
    await repo.git('push', '-q', 'origin', '--tags');
    await apply('tagged', { ref: { tag: 'v1.0.0' } });
    await apply('ranged', { ref: { semver: '>=1.0.0 <2.0.0' } });
    await waitFor('tagged', 'tag v1.0.0', (r) => r.status?.artifact?.revision === `v1.0.0@sha1:${v1}`);
    await waitFor('ranged', 'semver → v1.1.0', (r) => r.status?.artifact?.revision === `v1.1.0@sha1:${v11}`);

    const v12 = await repo.commitFiles({ 'apps/podinfo.yaml': 'kind: ConfigMap\ndata: {v: "1.2"}\n' }, 'v1.2');
    await repo.git('tag', 'v1.2.0');
    await repo.git('tag', 'v2.0.0');
    await repo.push();
    await repo.git('push', '-q', 'origin', '--tags');
    await requestReconcile('ranged');
    await waitFor('ranged', 'semver → v1.2.0 (not v2.0.0)', (r) => r.status?.artifact?.revision === `v1.2.0@sha1:${v12}`);
    await apply('missing-tag', { ref: { tag: 'v9.9.9' } });
    const missing = await waitFor('missing-tag', 'GitRefNotFound', (r) => condition(r, 'Ready')?.reason === 'GitRefNotFound');
    assert.match(condition(missing, 'Ready')?.message ?? '', /tag "v9\.9\.9" does not exist on the remote/);
  });

  test('a wrong password: Ready=False with GitAuthFailed, the last artifact keeps serving, recovery after the fix', async () => {
    const good = await get('fleet');
    const servedRevision = good.status?.artifact?.revision;
    assert.ok(servedRevision);
    await putSecret('git-auth', { ...auth, password: 'wrong-password' });
    await repo.commitFiles({ 'apps/unseen.yaml': 'kind: ConfigMap\n' }, 'not fetched while auth fails');
    await repo.push();
    await requestReconcile('fleet');
    const failed = await waitFor('fleet', 'GitAuthFailed', (r) => condition(r, 'Ready')?.reason === 'GitAuthFailed');
    assert.equal(condition(failed, 'Ready')?.status, 'False');
    assert.match(condition(failed, 'Ready')?.message ?? '', /authentication to .*fleet\.git failed \(HTTP 401/);
    assert.match(condition(failed, 'Ready')?.message ?? '', /still serving revision/);
    assert.equal(condition(failed, 'FetchFailed')?.status, 'True');
    assert.equal(failed.status?.artifact?.revision, servedRevision, 'status keeps the last good artifact');
    assert.equal(deps.artifacts.get(namespace, 'fleet')?.revision, servedRevision, 'Syncs keep the last good artifact');
    assert.ok(!JSON.stringify(failed.status).includes('wrong-password'), 'no secret in status');
    await eventually(async () => ((await events('fleet')).some((e) => e.type === 'Warning' && e.reason === 'GitAuthFailed') ? true : undefined), { what: 'GitAuthFailed event' });

    await putSecret('git-auth', auth);
    await requestReconcile('fleet');
    const recovered = await waitFor('fleet', 'recovered', (r) => condition(r, 'Ready')?.status === 'True');
    assert.notEqual(recovered.status?.artifact?.revision, servedRevision);
    assert.equal(condition(recovered, 'FetchFailed'), undefined);
    const all = await events('fleet');
    assert.ok(all.some((e) => e.reason === 'FetchRecovered'), JSON.stringify(all));
    assert.ok(!JSON.stringify(all).includes('wrong-password'), 'no secret in events');
  });

  test('git server stopped: Ready=False with the reason, retried with backoff, recovery when it returns', async () => {
    const served = (await get('fleet')).status?.artifact?.revision;
    const recoveries = await occurrences('fleet', 'FetchRecovered');
    await server.stop();
    try {
      await requestReconcile('fleet');
      const down = await waitFor('fleet', 'GitUnreachable', (r) => condition(r, 'Ready')?.reason === 'GitUnreachable');
      assert.match(condition(down, 'Ready')?.message ?? '', /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
      assert.equal(down.status?.artifact?.revision, served);
      assert.equal(deps.artifacts.get(namespace, 'fleet')?.revision, served);
    } finally {
      await server.start();
    }
    // No annotation this time: the backoff retry alone must bring it back.
    const back = await waitFor('fleet', 'recovered by retry', (r) => condition(r, 'Ready')?.status === 'True', 20_000);
    assert.equal(back.status?.artifact?.revision, served);
    assert.equal(await occurrences('fleet', 'GitUnreachable'), 1, 'one Warning per distinct failure, not one per retry');
    await eventually(async () => (await occurrences('fleet', 'FetchRecovered') === recoveries + 1 ? true : undefined), { what: 'a second FetchRecovered event' });
  });

  test('a repository larger than maxSizeBytes fails with the reason', async () => {
    const big = await server.createRepo('big');
    await big.commitFiles({ 'data.yaml': `data: "${'x'.repeat(300_000)}"\n` }, 'big');
    await big.push();
    await apply('big', { url: big.url, maxSizeBytes: 100_000 });
    const failed = await waitFor('big', 'GitTooLarge', (r) => condition(r, 'Ready')?.reason === 'GitTooLarge');
    assert.match(condition(failed, 'Ready')?.message ?? '', /exceed the size limit of 100000 bytes/);
    assert.equal(failed.status?.artifact, undefined);
    assert.equal(deps.artifacts.get(namespace, 'big'), undefined);
  });

  test('a missing Secret is Stalled until it exists; deleting the GitRepository drops its artifact', async () => {
    await apply('no-secret', { secretRef: { name: 'later' }, interval: '2s' });
    const stalled = await waitFor('no-secret', 'Stalled', (r) => condition(r, 'Stalled')?.status === 'True');
    assert.equal(condition(stalled, 'Ready')?.reason, 'SecretNotFound');
    assert.match(condition(stalled, 'Ready')?.message ?? '', new RegExp(`Secret ${namespace}/later not found`));
    await putSecret('later', auth);
    const ready = await waitFor('no-secret', 'Ready after the Secret appears', (r) => condition(r, 'Ready')?.status === 'True');
    assert.equal(condition(ready, 'Stalled'), undefined);
    assert.ok(deps.artifacts.get(namespace, 'no-secret'));

    await client.delete(ref('no-secret'));
    await eventually(() => (deps.artifacts.get(namespace, 'no-secret') === undefined ? true : undefined), { what: 'artifact dropped' });
  });

  test('deleting a GitRepository removes its cache directory unless another GitRepository shares the URL; so does moving to another URL', async () => {
    const doomed = await server.createRepo('doomed');
    await doomed.commitFiles({ 'a.yaml': 'kind: ConfigMap\n' }, 'doomed');
    await doomed.push();
    const gitdir = controller.fetcher.gitdirFor(doomed.url, 'shallow');
    await apply('doomed-a', { url: doomed.url });
    await apply('doomed-b', { url: doomed.url });
    for (const name of ['doomed-a', 'doomed-b']) await waitFor(name, 'Ready', (r) => condition(r, 'Ready')?.status === 'True');
    assert.ok(fs.existsSync(gitdir), `${gitdir} exists after the fetch`);
    // The entry is removed only with its last user.
    await client.delete(ref('doomed-a'));
    await eventually(() => (deps.artifacts.get(namespace, 'doomed-a') === undefined ? true : undefined), { what: 'doomed-a forgotten' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.ok(fs.existsSync(gitdir), 'doomed-b still uses the entry');
    await client.delete(ref('doomed-b'));
    await eventually(() => (fs.existsSync(gitdir) ? undefined : true), { what: `${gitdir} removed with the last GitRepository using it`, timeoutMs: 20_000 });

    const moved = await server.createRepo('moved');
    const movedSha = await moved.commitFiles({ 'b.yaml': 'kind: Secret\n' }, 'moved');
    await moved.push();
    await apply('mover', { url: doomed.url });
    await waitFor('mover', 'Ready on the first URL', (r) => condition(r, 'Ready')?.status === 'True');
    assert.ok(fs.existsSync(gitdir));
    await apply('mover', { url: moved.url });
    await waitFor('mover', 'the second URL\'s revision', (r) => r.status?.artifact?.revision === `main@sha1:${movedSha}`);
    await eventually(() => (fs.existsSync(gitdir) ? undefined : true), { what: 'the old URL\'s entry removed', timeoutMs: 20_000 });
    const movedGitdir = controller.fetcher.gitdirFor(moved.url, 'shallow');
    assert.ok(fs.existsSync(movedGitdir));
    await client.delete(ref('mover'));
    await eventually(() => (fs.existsSync(movedGitdir) ? undefined : true), { what: 'the new URL\'s entry removed', timeoutMs: 20_000 });
    // Entries of URLs still in use stay.
    assert.ok(fs.existsSync(controller.fetcher.gitdirFor(repo.url, 'shallow')));
  });

  describe('with a tiny --git-cache-max-bytes', () => {
    let boundedNamespace: string;
    let boundedCacheDir: string;
    let boundedDeps: ControllerDeps;
    let bounded: GitRepositoryController;
    const boundedRef = (name: string) => ({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace: boundedNamespace, name });
    const applyBounded = (name: string, url: string) => client.apply<GitRepository>({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name, namespace: boundedNamespace },
      spec: { url, interval: '1h', secretRef: { name: 'git-auth' } },
    });
    const waitForRevision = (name: string, sha: string) => eventually(async () => {
      const current = await client.get<GitRepository>(boundedRef(name));
      return current.status?.artifact?.revision === `main@sha1:${sha}` && condition(current, 'Ready')?.status === 'True' ? current : undefined;
    }, { timeoutMs: 30_000, what: `GitRepository ${name} at ${sha}` });

    before(async () => {
      boundedNamespace = await createTestNamespace('gitcache');
      boundedCacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-gitcache-test-'));
      // 1 byte: every entry but the one just fetched is evicted after a fetch.
      const config = parseConfig(['--namespaces', boundedNamespace, '--git-cache-dir', boundedCacheDir, '--git-cache-max-bytes', '1'], {});
      boundedDeps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
      bounded = new GitRepositoryController(boundedDeps, { retryBaseMs: 200, retryMaxMs: 2_000 });
      bounded.start();
      await bounded.controller.waitForSync(AbortSignal.timeout(20_000));
      await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-auth', namespace: boundedNamespace }, stringData: auth });
    });
    after(async () => {
      await bounded.stop();
      fs.rmSync(boundedCacheDir, { recursive: true, force: true });
    });

    test('fetching a second repository evicts the first one\'s cache; the first still fetches correctly afterwards', async () => {
      const first = await server.createRepo('evict-first');
      const second = await server.createRepo('evict-second');
      const firstSha = await first.commitFiles({ 'one.yaml': 'kind: ConfigMap\n' }, 'first');
      await first.push();
      const secondSha = await second.commitFiles({ 'two.yaml': 'kind: Secret\n' }, 'second');
      await second.push();
      const firstDir = bounded.fetcher.gitdirFor(first.url, 'shallow');
      const secondDir = bounded.fetcher.gitdirFor(second.url, 'shallow');

      await applyBounded('first', first.url);
      await waitForRevision('first', firstSha);
      assert.ok(fs.existsSync(firstDir), 'the first repository is cached');
      await applyBounded('second', second.url);
      await waitForRevision('second', secondSha);
      assert.ok(!fs.existsSync(firstDir), 'the first repository\'s cache was evicted');
      assert.ok(fs.existsSync(secondDir), 'the one just fetched stays');
      const stats = await bounded.fetcher.cache.stats();
      assert.equal(stats.entries, 1);
      assert.ok(stats.evictions >= 1);

      // The first keeps serving its artifact, and a new commit is fetched again from scratch.
      assert.equal(boundedDeps.artifacts.get(boundedNamespace, 'first')?.revision, `main@sha1:${firstSha}`);
      const newer = await first.commitFiles({ 'one.yaml': 'kind: ConfigMap\ndata: {v: "2"}\n' }, 'first, again');
      await first.push();
      await client.patchMerge(boundedRef('first'), { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } });
      await waitForRevision('first', newer);
      const artifact = boundedDeps.artifacts.get(boundedNamespace, 'first');
      assert.equal(Buffer.from(artifact?.files.get('one.yaml') ?? []).toString(), 'kind: ConfigMap\ndata: {v: "2"}\n');
      assert.ok(fs.existsSync(firstDir), 'fetched into a fresh cache directory');
      assert.ok(!fs.existsSync(secondDir), 'and now the second one was evicted');
    });
  });
});
