// Git write-back of a canary rollback against the real Git server (git
// http-backend with basic auth) and the real API server: the Deployment's
// Sync labels lead to the GitRepository; the commit is checked with the git CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { API_GROUP_VERSION } from '../src/api/types.ts';
import { isSluiceError } from '../src/errors.ts';
import { writeBackRollback, type WriteBackRequest } from '../src/gitops/writeback/writeback.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { createTestNamespace, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const auth = { username: 'fleet-bot', password: 'correct-horse-battery' };
const wrongPassword = 'wrong-staple-9f3c1';

const webYaml = (app: string, proxy: string) => `# The web tier. Hand-written; keep the comments.
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80   # http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2 # scaled by hand
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: ${app}   # set by the release pipeline
          ports: [{containerPort: 8080}]
        - name: proxy
          image: "${proxy}"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data:
  image: ${app}   # not a container: must stay
`;

describe('Git write-back of a canary rollback (real cluster, real git server)', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;

  const git = (...args: string[]) => repo.git(...args).then((out) => out.trim());
  const pull = () => git('pull', '-q', '--ff-only');
  const head = async () => (await git('ls-remote', 'origin', `refs/heads/${repo.branch}`)).split(/\s/)[0] ?? '';

  const gitRepository = (name: string, ref: Record<string, string>, secret: string) => client.apply({
    apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name, namespace },
    spec: { url: repo.url, interval: '1h', ref, secretRef: { name: secret } },
  });
  const sync = (name: string, source: string, path: string) => client.apply({
    apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name, namespace },
    spec: { sourceRef: { kind: 'GitRepository', name: source }, path, interval: '1h', prune: true },
  });
  /** A Deployment as the Sync would have applied it: labelled with its Sync. */
  const deployment = (name: string, syncName: string, images: string[]) => client.apply({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, 'sluice.dev/name': syncName, 'sluice.dev/namespace': namespace } },
    spec: {
      replicas: 1, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: images.map((image, i) => ({ name: i === 0 ? 'app' : 'proxy', image })) } },
    },
  });
  const request = (overrides: Partial<WriteBackRequest> = {}): WriteBackRequest => ({
    client,
    deployment: { namespace, name: 'web' },
    failedImages: ['web:2', 'envoy:1.30'],
    restoreImages: ['web:1', 'envoy:1.30'],
    reason: 'request-success-rate 91% < 99% in 2 checks',
    canary: { namespace, name: 'web' },
    signal: AbortSignal.timeout(120_000),
    ...overrides,
  });

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('writeback');
    server = await startGitServer({ auth });
    repo = await server.createRepo('fleet');
    await repo.commitFiles({
      'deploy/web.yaml': webYaml('web:2', 'envoy:1.30'),
      'deploy/api.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: app, image: "web:2"}]}\n',
      'README.md': 'fleet\n',
    }, 'web 2');
    await repo.push();
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-auth', namespace }, stringData: auth });
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'git-wrong', namespace }, stringData: { username: auth.username, password: wrongPassword } });
    await gitRepository('fleet', { branch: repo.branch }, 'git-auth');
    await sync('apps', 'fleet', './deploy');
    await deployment('web', 'apps', ['web:2', 'envoy:1.30']);
  });

  after(async () => {
    await server.close();
    client.close();
  });

  test('the rollback lands on the branch as one commit: only the container image changes, author and message as documented', async () => {
    const before = await head();
    const result = await writeBackRollback(request());
    assert.equal(result.outcome, 'committed');
    assert.equal(result.branch, 'main');
    assert.deepEqual(result.files, ['deploy/web.yaml']);
    assert.equal(result.attempts, 1);
    assert.equal(result.repository, repo.url);
    assert.equal(await head(), result.commit);

    await pull();
    assert.equal(await git('rev-parse', 'HEAD'), result.commit);
    assert.equal(await git('rev-parse', 'HEAD^'), before);
    // Byte for byte: comments, quoting, the Service, the ConfigMap and the other Deployment untouched.
    assert.equal(await git('show', 'HEAD:deploy/web.yaml'), webYaml('web:2', 'envoy:1.30').replace('image: web:2   # set by', 'image: web:1   # set by').trim());
    assert.equal(await git('diff', '--name-only', 'HEAD^', 'HEAD'), 'deploy/web.yaml');
    assert.equal(await git('log', '-1', '--format=%an <%ae>|%cn <%ce>'), 'sluice <sluice@users.noreply.local>|sluice <sluice@users.noreply.local>');
    assert.equal(await git('log', '-1', '--format=%s'), `Roll back ${namespace}/web to web:1`);
    const body = await git('log', '-1', '--format=%b');
    assert.match(body, new RegExp(`Canary ${namespace}/web rolled back web:2: request-success-rate 91% < 99% in 2 checks`));
    assert.match(body, /deploy\/web\.yaml:26 \(app\): web:2 -> web:1/);
    assert.equal(await git('fsck', '--no-progress'), '');
  });

  test('already clean: the branch no longer declares the failed image, so nothing is pushed', async () => {
    const before = await head();
    const result = await writeBackRollback(request());
    assert.equal(result.outcome, 'already-clean');
    assert.equal(result.commit, before);
    assert.deepEqual(result.files, []);
    assert.equal(await head(), before);
  });

  test('the branch moves between clone and push: the edit is redone on the new head and pushed', async () => {
    await pull();
    await repo.commitFiles({ 'deploy/web.yaml': webYaml('web:3', 'envoy:1.31') }, 'web 3');
    await repo.push();
    await deployment('web', 'apps', ['web:3', 'envoy:1.31']);
    let moved = '';
    const result = await writeBackRollback(request({
      failedImages: ['web:3', 'envoy:1.31'], restoreImages: ['web:1', 'envoy:1.30'],
      beforePush: async (attempt) => {
        if (attempt !== 1) return;
        // Someone else pushes an unrelated change meanwhile.
        moved = await repo.commitFiles({ 'README.md': 'fleet, edited meanwhile\n' }, 'docs');
        await repo.push();
      },
    }));
    assert.equal(result.outcome, 'committed');
    assert.equal(result.attempts, 2);
    await pull();
    assert.equal(await git('rev-parse', 'HEAD'), result.commit);
    assert.equal(await git('rev-parse', 'HEAD^'), moved, 'the rollback sits on top of the commit that moved the branch');
    assert.equal(await git('show', 'HEAD:README.md'), 'fleet, edited meanwhile');
    assert.equal(await git('show', 'HEAD:deploy/web.yaml'),
      webYaml('web:3', 'envoy:1.31').replace('image: web:3   # set by', 'image: web:1   # set by').replace('"envoy:1.31"', '"envoy:1.30"').trim());
    assert.equal(await git('log', '-1', '--format=%s'), `Roll back ${namespace}/web to web:1, envoy:1.30`);
  });

  test('someone fixes Git between clone and push: the retry finds the branch clean and pushes nothing', async () => {
    await pull();
    await repo.commitFiles({ 'deploy/web.yaml': webYaml('web:4', 'envoy:1.30') }, 'web 4');
    await repo.push();
    let fixed = '';
    const result = await writeBackRollback(request({
      failedImages: ['web:4', 'envoy:1.30'],
      beforePush: async (attempt) => {
        if (attempt !== 1) return;
        fixed = await repo.commitFiles({ 'deploy/web.yaml': webYaml('web:1', 'envoy:1.30') }, 'revert web 4 by hand');
        await repo.push();
      },
    }));
    assert.equal(result.outcome, 'already-clean');
    assert.equal(result.commit, fixed);
    assert.equal(await head(), fixed);
  });

  test('kustomize overlay: the images entry that sets the failed tag is edited, the base is left alone', async () => {
    await pull();
    const overlay = '# prod overlay\nresources:\n  - ../../base\nnamePrefix: prod-\nimages:\n  - name: shop\n    newTag: "9" # release 9\n';
    const base = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: shop:1\n';
    await repo.commitFiles({ 'overlays/prod/kustomization.yaml': overlay, 'base/kustomization.yaml': 'resources: [shop.yaml]\n', 'base/shop.yaml': base }, 'shop 9');
    await repo.push();
    await sync('apps-k', 'fleet', './overlays/prod');
    await deployment('prod-shop', 'apps-k', ['shop:9']);
    const result = await writeBackRollback(request({ deployment: { namespace, name: 'prod-shop' }, failedImages: ['shop:9'], restoreImages: { app: 'shop:8' } }));
    assert.equal(result.outcome, 'committed');
    assert.deepEqual(result.files, ['overlays/prod/kustomization.yaml']);
    await pull();
    assert.equal(await git('show', 'HEAD:overlays/prod/kustomization.yaml'), overlay.replace('"9" # release', '"8" # release').trim());
    assert.equal(await git('show', 'HEAD:base/shop.yaml'), base.trim());
  });

  test('a GitRepository on a tag is refused: sluice cannot push to a tag', async () => {
    await repo.git('tag', 'v1.0.0');
    await repo.git('push', '-q', 'origin', 'v1.0.0');
    await gitRepository('fleet-tag', { tag: 'v1.0.0' }, 'git-auth');
    await sync('apps-tag', 'fleet-tag', './deploy');
    await deployment('web-tag', 'apps-tag', ['web:1']);
    const before = await head();
    await assert.rejects(writeBackRollback(request({ deployment: { namespace, name: 'web-tag' }, failedImages: ['web:1'], restoreImages: ['web:0'] })),
      (error: unknown) => isSluiceError(error, 'SPEC_INVALID') && /follows tag "v1\.0\.0".*cannot push to a tag.*write-back needs a branch/.test(error.message));
    assert.equal(await head(), before);
  });

  test('a wrong password fails with GIT_AUTH_FAILED naming the Secret, never the password', async () => {
    await gitRepository('fleet-wrong', { branch: repo.branch }, 'git-wrong');
    await sync('apps-wrong', 'fleet-wrong', './deploy');
    await deployment('web-wrong', 'apps-wrong', ['web:1']);
    const error = await writeBackRollback(request({ deployment: { namespace, name: 'web-wrong' }, failedImages: ['web:1'], restoreImages: ['web:0'] }))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(isSluiceError(error, 'GIT_AUTH_FAILED'), `expected GIT_AUTH_FAILED, got ${String(error)}`);
    assert.match(error.describe(), /authentication to .*fleet\.git failed \(HTTP 401/);
    assert.match(error.describe(), /Secret git-wrong/);
    const everything = `${error.describe()} ${error.stack ?? ''} ${JSON.stringify(error)} ${String(error.cause)}`;
    assert.ok(!everything.includes(wrongPassword), 'the password appears in the error');
    assert.ok(!everything.includes(Buffer.from(`${auth.username}:${wrongPassword}`).toString('base64')), 'the encoded credentials appear in the error');
  });

  test('nothing in the Sync path declares the Deployment: a clear error saying what was searched', async () => {
    await deployment('ghost', 'apps', ['ghost:2']);
    await assert.rejects(writeBackRollback(request({ deployment: { namespace, name: 'ghost' }, failedImages: ['ghost:2'], restoreImages: ['ghost:1'] })),
      (error: unknown) => isSluiceError(error, 'MANIFEST_INVALID')
        && error.message.includes(`declares Deployment ${namespace}/ghost: searched 2 YAML files under "deploy" (the path of Sync ${namespace}/apps)`));
  });
});
