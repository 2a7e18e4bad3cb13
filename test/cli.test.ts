// The sluice CLI against the real local cluster, run as a child process so
// exit codes and output are what a user sees. A real Git server feeds the
// real GitRepository and Sync controllers (run in this process); the CLI
// talks to the cluster only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Canary, type GitRepository, type Sync } from '../src/api/types.ts';
import { CanaryController } from '../src/canary/controller.ts';
import { parseConfig } from '../src/config.ts';
import { createDeps } from '../src/controllers.ts';
import { GitRepositoryController } from '../src/gitops/source/controller.ts';
import { SyncController } from '../src/gitops/sync/controller.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { EventRecorder } from '../src/kube/events.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, kubectlOk, localclusterBin, repoRoot, testCluster, testKubeClient } from './env/cluster.ts';
import { deploymentYaml as deployment } from './env/manifests.ts';
import { startGitServer, type GitRepo, type GitServer } from './env/git-server.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const cliMain = path.join(repoRoot, 'src/cli/main.ts');
const fixtures = path.join(repoRoot, 'src/cli/testdata/flagger');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cliMain, '--kubeconfig', testCluster().kubeconfig, ...args], {
      env: { ...process.env, KUBECONFIG: '', SLUICE_DEBUG: '' }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

function assertNoStack(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at /m, `stack trace printed:\n${result.stderr}`);
}

const secret = (value: string) => `apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
data:
  password: ${Buffer.from(value).toString('base64')}
`;

describe('sluice CLI', () => {
  let client: KubeClient;
  let namespace: string;
  let server: GitServer;
  let repo: GitRepo;
  let source: GitRepositoryController;
  let sync: SyncController;
  let cacheDir: string;
  let sha: string;

  const getSync = () => client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' });
  const image = (d: KubeObject | undefined) => (d?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec.containers[0]?.image;
  const cli = (...args: string[]) => runCli(['-n', namespace, ...args]);

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('cli');
    server = await startGitServer();
    repo = await server.createRepo('fleet');
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-'));
    const config = parseConfig(['--namespaces', namespace, '--git-cache-dir', cacheDir], {});
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    source = new GitRepositoryController(deps, { retryBaseMs: 200, retryMaxMs: 1_000 });
    sync = new SyncController(deps, { healthIntervalMs: 250 });
    source.start();
    sync.start();
    await Promise.all([source.controller.waitForSync(), sync.controller.waitForSync()]);

    sha = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:1'), 'deploy/secret.yaml': secret('one') }, 'web');
    await repo.push();
    // A long interval: only pushes the tests announce with `reconcile --with-source` are fetched.
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'fleet', namespace },
      spec: { url: repo.url, interval: '1h', ref: { branch: repo.branch } },
    });
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'apps', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'fleet' }, path: './deploy', interval: '1h', prune: true, timeout: '60s' },
    });
    await eventually(async () => {
      const current = await getSync();
      return current.status?.lastAppliedRevision === `main@sha1:${sha}` && current.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? true : undefined;
    }, { timeoutMs: 60_000, what: 'first commit applied' });
  });

  after(async () => {
    await sync.stop();
    await source.stop();
    await server.close();
    client.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('get sources|syncs prints tables and json', async () => {
    const sources = await cli('get', 'sources');
    assert.equal(sources.code, 0, sources.stderr);
    assert.match(sources.stdout, /^NAME\s+READY\s+REVISION\s+SUSPENDED\s+AGE\s+MESSAGE/);
    assert.match(sources.stdout, new RegExp(`^fleet\\s+True\\s+main@sha1:${sha}\\s+False\\s+\\d+[sm]\\s+`, 'm'));

    const syncs = await cli('get', 'syncs');
    assert.equal(syncs.code, 0, syncs.stderr);
    assert.match(syncs.stdout, new RegExp(`^apps\\s+True\\s+main@sha1:${sha}\\s+False\\s+\\d+[sm]\\s+Applied revision main@sha1:${sha}: 2 created`, 'm'));

    const all = await runCli(['get', 'syncs', '-A']);
    assert.match(all.stdout, /^NAMESPACE\s+NAME\s+READY/);
    assert.match(all.stdout, new RegExp(`^${namespace}\\s+apps\\s+True`, 'm'));

    const json = await cli('get', 'syncs', '-o', 'json');
    const list = JSON.parse(json.stdout) as { kind: string; items: Sync[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(list.items.map((s) => s.metadata.name), ['apps']);
    assert.equal(list.items[0]?.status?.lastAppliedRevision, `main@sha1:${sha}`);

    const yaml = await cli('get', 'sync', 'apps', '-o', 'yaml');
    assert.match(yaml.stdout, /^kind: Sync$/m);

    const none = await cli('get', 'canaries');
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /No Canary objects found/);

    const bad = await cli('get', 'widgets');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown resource "widgets"; use one of canaries\|syncs\|sources\|alerts/);
    assertNoStack(bad);
  });

  test('works as the kubectl plugin kubectl-sluice', async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-plugin-'));
    try {
      fs.symlinkSync(cliMain, path.join(bin, 'kubectl-sluice'));
      const env = { ...process.env, KUBECONFIG: testCluster().kubeconfig, PATH: `${bin}:${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(localclusterBin, ['kubectl', 'sluice', 'get', 'syncs', '-n', namespace], { env }, (error, out, err) => {
          if (error) reject(new Error(`kubectl sluice failed: ${err}`));
          else resolve(out);
        });
      });
      assert.match(stdout, /^apps\s+True\s+main@sha1:/m);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  test('get --watch streams a row per change', async () => {
    const child = execFile(process.execPath, [cliMain, '--kubeconfig', testCluster().kubeconfig, '-n', namespace, 'get', 'syncs', '--watch'], { env: { ...process.env, KUBECONFIG: '' } });
    let out = '';
    child.stdout?.on('data', (chunk: string) => { out += chunk; });
    try {
      await eventually(() => (/^apps\s+True/m.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'first row' });
      await client.patchMerge({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' }, { spec: { suspend: true } });
      await eventually(() => (/^apps\s+True\s+\S+\s+True/m.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'row showing suspended' });
      assert.equal(out.match(/^NAME/gm)?.length, 1, 'one header');
    } finally {
      child.kill('SIGINT');
      await client.patchMerge({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'apps' }, { spec: { suspend: false } });
    }
  });

  test('reconcile sync --with-source fetches the new commit, waits for Ready and prints the change set', async () => {
    sha = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:2') }, 'bump');
    await repo.push();
    const result = await cli('reconcile', 'sync', 'apps', '--with-source', '--timeout', '60s');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`✔ fetched revision main@sha1:${sha}`));
    assert.match(result.stdout, new RegExp(`✔ Applied revision main@sha1:${sha}: 0 created, 1 configured, 1 unchanged, 0 pruned`));
    assert.match(result.stdout, new RegExp(`^  Deployment/${namespace}/web configured$`, 'm'));
    assert.equal(image(await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' })), 'web:2');

    // Nothing new: the request is still handled, and the run says nothing changed.
    const again = await cli('reconcile', 'sync', 'apps');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /no objects changed in this run/);

    const missing = await cli('reconcile', 'sync', 'nope', '--timeout', '5s');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Sync .*nope/);
    assertNoStack(missing);
    const wrongKind = await cli('reconcile', 'canary', 'x');
    assert.equal(wrongKind.code, 2);
    assert.match(wrongKind.stderr, /use: reconcile sync/);
  });

  test('trace names the Sync, GitRepository, revision and commit of an applied Deployment', async () => {
    const result = await cli('trace', 'deployment/web');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Object:\\s+Deployment ${namespace}/web$`, 'm'));
    assert.match(result.stdout, new RegExp(`^Sync:\\s+${namespace}/apps$`, 'm'));
    assert.match(result.stdout, new RegExp(`^Revision:\\s+main@sha1:${sha}$`, 'm'));
    assert.match(result.stdout, /^In inventory:\s+yes$/m);
    assert.match(result.stdout, new RegExp(`^GitRepository:\\s+${namespace}/fleet$`, 'm'));
    assert.match(result.stdout, new RegExp(`^URL:\\s+${repo.url.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.match(result.stdout, new RegExp(`^Commit:\\s+${sha}$`, 'm'));
    assert.match(result.stdout, /^Canary:\s+none$/m);

    const json = JSON.parse((await cli('trace', 'deploy/web', '-o', 'json')).stdout) as { commit: string; sync: { name: string } };
    assert.equal(json.commit, sha);
    assert.equal(json.sync.name, 'apps');

    const unmanaged = await cli('trace', 'sync/apps');
    assert.match(unmanaged.stdout, /not applied by any sluice Sync/);
    const missing = await cli('trace', 'deployment/nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/i);
    assertNoStack(missing);
    const malformed = await cli('trace', 'web');
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /"web" is not KIND\/NAME/);
  });

  test('events of a Deployment include its Sync\'s and GitRepository\'s, in time order', async () => {
    const result = await cli('events', 'deployment/web');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    assert.match(result.stdout, /Normal\s+Applied\s+Sync\/apps\s+revision main@sha1:/);
    assert.match(result.stdout, /GitRepository\/fleet/);
    const json = JSON.parse((await cli('events', 'sync/apps', '-o', 'json')).stdout) as { time: string; reason: string; object: string }[];
    assert.ok(json.some((e) => e.reason === 'Applied' && e.object === 'Sync/apps'));
    const times = json.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  test('diff --path: a modified manifest shows its change, Secrets are masked, exit 0/1/2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-diff-'));
    try {
      fs.writeFileSync(path.join(dir, 'web.yaml'), deployment('web', 'web:2'));
      fs.writeFileSync(path.join(dir, 'secret.yaml'), secret('one'));
      const same = await cli('diff', 'sync', 'apps', '--path', dir);
      assert.equal(same.code, 0, `${same.stdout}\n${same.stderr}`);
      assert.match(same.stdout, /✔ no changes/);

      fs.writeFileSync(path.join(dir, 'web.yaml'), deployment('web', 'web:3'));
      fs.writeFileSync(path.join(dir, 'secret.yaml'), secret('two'));
      fs.writeFileSync(path.join(dir, 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n');
      const changed = await cli('diff', 'sync', 'apps', '--path', dir);
      assert.equal(changed.code, 1, changed.stderr);
      assert.match(changed.stdout, new RegExp(`► Deployment ${namespace}/web changed`));
      assert.match(changed.stdout, /^-\s+image: web:2$/m);
      assert.match(changed.stdout, /^\+\s+image: web:3$/m);
      assert.match(changed.stdout, new RegExp(`► Secret ${namespace}/creds changed`));
      assert.match(changed.stdout, /^-\s+password: '?\*\*\* \(before\)'?$/m);
      assert.match(changed.stdout, /^\+\s+password: '?\*\*\* \(after\)'?$/m);
      assert.match(changed.stdout, new RegExp(`► ConfigMap ${namespace}/extra created`));
      for (const value of ['one', 'two']) assert.ok(!changed.stdout.includes(Buffer.from(value).toString('base64')), `secret value ${value} leaked`);

      // The dry run changed nothing.
      assert.equal(image(await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' })), 'web:2');

      fs.rmSync(path.join(dir, 'secret.yaml'));
      const pruned = await cli('diff', 'sync', 'apps', '--path', dir);
      assert.equal(pruned.code, 1);
      assert.match(pruned.stdout, new RegExp(`► Secret ${namespace}/creds deleted`));

      fs.writeFileSync(path.join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  a: "unterminated\n');
      const broken = await cli('diff', 'sync', 'apps', '--path', dir);
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /broken\.yaml/);
      assertNoStack(broken);

      const noDir = await cli('diff', 'sync', 'apps', '--path', path.join(dir, 'missing'));
      assert.equal(noDir.code, 2);
      assert.match(noDir.stderr, /does not exist/);
      const noSync = await cli('diff', 'sync', 'nope', '--path', dir);
      assert.equal(noSync.code, 2);
      assertNoStack(noSync);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('suspend stops the Sync; diff from the GitRepository shows the unapplied commit; resume applies it', async () => {
    const suspended = await cli('suspend', 'sync', 'apps');
    assert.equal(suspended.code, 0, suspended.stderr);
    assert.equal((await getSync()).spec.suspend, true);
    assert.match((await cli('get', 'syncs')).stdout, /^apps\s+True\s+\S+\s+True/m);

    const next = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:4') }, 'while suspended');
    await repo.push();
    const refused = await cli('reconcile', 'sync', 'apps');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is suspended; resume it first/);

    const diff = await cli('diff', 'sync', 'apps');
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, new RegExp(`► building ./deploy at main@sha1:${next}`));
    assert.match(diff.stdout, /^\+\s+image: web:4$/m);

    // Fetch the commit, then resume: the Sync applies it and resume reports it.
    await client.patchMerge({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'fleet' }, { metadata: { annotations: { 'sluice.dev/requestedAt': 'fetch-now' } } });
    await eventually(async () => {
      const r = await client.get<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'fleet' });
      return r.status?.artifact?.revision === `main@sha1:${next}` ? true : undefined;
    }, { what: 'source fetched' });
    const resumed = await cli('resume', 'sync', 'apps', '--timeout', '60s');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`✔ Applied revision main@sha1:${next}`));
    assert.equal(image(await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' })), 'web:4');
    sha = next;
  });

  test('migrate flagger converts the podinfo Canary, a MetricTemplate and an AlertProvider into objects the API server accepts', async () => {
    const files = ['podinfo-canary.yaml', 'metric-template.yaml', 'alert-provider.yaml'].map((f) => path.join(fixtures, f));
    const result = await runCli(['migrate', 'flagger', '-n', namespace, ...files]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /flagger\.app/);
    assert.equal(result.stdout.match(/^apiVersion: sluice\.dev\/v1alpha1$/gm)?.length, 3);
    const applied = await kubectlOk(['apply', '-f', '-'], { input: result.stdout, namespace });
    assert.match(applied, /canary\.sluice\.dev\/podinfo created/);
    assert.match(applied, /metrictemplate\.sluice\.dev\/not-found-percentage created/);
    assert.match(applied, /alertprovider\.sluice\.dev\/on-call created/);
    const canary = await client.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' });
    assert.equal(canary.spec.analysis.stepWeight, 10);
    assert.equal(canary.spec.analysis.metrics?.[2]?.templateRef?.name, 'not-found-percentage');
    assert.equal(canary.spec.analysis.webhooks?.[0]?.type, 'pre-rollout');

    const unsupported = await runCli(['migrate', 'flagger', path.join(fixtures, 'datadog-template.yaml')]);
    assert.equal(unsupported.code, 1);
    assert.match(unsupported.stderr, /metric provider type "datadog" is not supported/);
    assertNoStack(unsupported);
    const missing = await runCli(['migrate', 'flagger', '/nonexistent/canary.yaml']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/nonexistent\/canary\.yaml: cannot read: no such file/);
    const garbage = await runCli(['migrate', 'flagger', '-'], { input: 'kind: [unclosed\n' });
    assert.equal(garbage.code, 1);
    assert.match(garbage.stderr, /-: invalid YAML/);
    assertNoStack(garbage);
  });

  test('status, wait, promote and pause of a Canary read and write it generically', async () => {
    const ref = { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' };
    // No Canary controller runs here: the test plays its part by writing status.
    await client.patchStatus(ref, { phase: 'Progressing', canaryWeight: 20, failedChecks: 1, iterations: 0, canaryImages: ['podinfo:6.0.1'] });
    const status = await cli('status', 'canary', 'podinfo');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^Phase:\s+Progressing/m);
    assert.match(status.stdout, /weight 20\/50 \(step 2\/5\)/);
    assert.match(status.stdout, /failed checks 1\/5/);
    assert.match(status.stdout, /podinfo:6\.0\.1/);
    assert.match((await cli('get', 'canaries')).stdout, /^podinfo\s+Progressing\s+20\/50\s+1\/5/m);

    const timedOut = await cli('wait', 'canary', 'podinfo', '--for', 'promoted', '--timeout', '2s');
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /timed out after 2s .* it is Progressing/);

    const waiting = cli('wait', 'canary', 'podinfo', '--for', 'promoted', '--timeout', '60s');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await client.patchStatus(ref, { phase: 'Succeeded', canaryWeight: 0 });
    const promoted = await waiting;
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /✔ Canary .*podinfo promoted/);

    await client.patchStatus(ref, { phase: 'Failed' });
    const failed = await cli('wait', 'canary', 'podinfo', '--for', 'promoted');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /reached Failed instead/);
    assert.equal((await cli('wait', 'canary', 'podinfo', '--for', 'phase=Failed')).code, 0);
    assert.equal((await cli('wait', 'canary', 'podinfo', '--for', 'sideways')).code, 1);

    // retry: the annotation is set, and the command returns when status.requests acknowledges its id.
    const retrying = cli('retry', 'canary', 'podinfo', '--timeout', '60s');
    const id = await eventually(async () => (await client.get<Canary>(ref)).metadata.annotations?.['sluice.dev/retry'], { what: 'retry annotation' });
    await client.patchStatus(ref, { requests: { retry: { id, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), result: 'retry done: phase Failed → Progressing' } } });
    const retried = await retrying;
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /✔ retry done: phase Failed → Progressing/);

    const noWait = await cli('promote', 'canary', 'podinfo', '--no-wait');
    assert.equal(noWait.code, 0, noWait.stderr);
    assert.ok((await client.get<Canary>(ref)).metadata.annotations?.['sluice.dev/promote']);
    const unacknowledged = await cli('abort', 'canary', 'podinfo', '--timeout', '1s');
    assert.equal(unacknowledged.code, 1);
    assert.match(unacknowledged.stderr, /did not acknowledge the abort request/);

    assert.equal((await cli('pause', 'canary', 'podinfo')).code, 0);
    assert.equal((await client.get<Canary>(ref)).spec.suspend, true);
    assert.equal((await cli('resume', 'canary', 'podinfo')).code, 0);
    assert.equal((await client.get<Canary>(ref)).spec.suspend, false);
  });

  test('status --watch: a clean line log without a terminal, an in-place view in one (tmux)', async () => {
    const ref = { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' };
    await client.patchStatus(ref, { phase: 'Progressing', canaryWeight: 10, failedChecks: 0 });
    const args = [cliMain, '--kubeconfig', testCluster().kubeconfig, '-n', namespace, 'status', 'canary', 'podinfo', '--watch'];
    const child = execFile(process.execPath, args, { env: { ...process.env, KUBECONFIG: '' } });
    let out = '';
    child.stdout?.on('data', (chunk: string) => { out += chunk; });
    const socket = `sluice-cli-test-${process.pid}`;
    const tmux = (...tmuxArgs: string[]) => new Promise<string>((resolve, reject) => {
      execFile('tmux', ['-L', socket, ...tmuxArgs], (error, stdout) => {
        if (error) reject(new Error(`tmux ${tmuxArgs[0] ?? ''}: ${error.message}`));
        else resolve(stdout);
      });
    });
    const screen = () => tmux('capture-pane', '-p', '-t', 'watch');
    try {
      await tmux('new-session', '-d', '-s', 'watch', '-x', '160', '-y', '40', [process.execPath, ...args].map((a) => `'${a}'`).join(' '));
      await eventually(() => (/Progressing weight 10\/50/.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'first line' });
      await eventually(async () => (/Phase:\s+Progressing/.test(await screen()) ? true : undefined), { timeoutMs: 20_000, what: 'tty view' });
      assert.match(await screen(), /Progress:\s+\[####\.+\] weight 10\/50 \(step 1\/5\)/);
      for (const weight of [20, 30]) {
        await client.patchStatus(ref, { canaryWeight: weight });
        await eventually(() => (new RegExp(`Progressing weight ${weight}/50`).test(out) ? true : undefined), { timeoutMs: 20_000, what: `weight ${weight}` });
      }
      await eventually(async () => (/weight 30\/50 \(step 3\/5\)/.test(await screen()) ? true : undefined), { timeoutMs: 20_000, what: 'tty weight 30' });
      await client.patchStatus(ref, { phase: 'Succeeded', canaryWeight: 0 });
      await eventually(() => (/Succeeded weight 0\/50/.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'final phase line' });
      const finalScreen = await eventually(async () => {
        const text = await screen();
        return /Phase:\s+Succeeded/.test(text) ? text : undefined;
      }, { timeoutMs: 20_000, what: 'tty final phase' });
      // Redrawn in place: one view on screen, not a scroll of them.
      assert.equal(finalScreen.match(/^Phase:/gm)?.length, 1);
      // The line log: one timestamped line per change, no escape codes.
      const lines = out.trim().split('\n');
      assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT\S+Z \S+ /.test(l)), out);
      assert.doesNotMatch(out, /\x1b/);
      assert.deepEqual(lines.map((l) => /weight (\d+)/.exec(l)?.[1]), ['10', '20', '30', '0']);
    } finally {
      child.kill('SIGINT');
      await tmux('kill-server').catch(() => undefined);
    }
  });
});

describe('sluice CLI during real rollouts', () => {
  let client: KubeClient;
  let namespace: string;
  let controller: CanaryController;

  const deploymentJson = (image: string) => JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app' },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'app' } },
      template: { metadata: { labels: { app: 'app' } }, spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] } },
    },
  });
  // As a Git sync would: another field manager than the controller's.
  const applyDeployment = (image: string) => kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-f', '-'], { namespace, input: deploymentJson(image) });
  const canaryPhase = async () => (await client.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'app' })).status;
  const cli = (...args: string[]) => runCli(['-n', namespace, ...args]);

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('cli-rollout');
    const config = { ...parseConfig([], {}), namespaces: [namespace] };
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    controller = new CanaryController(deps);
    await controller.start();
    await controller.controller.waitForSync(AbortSignal.timeout(20_000));
    await applyDeployment('example.com/app:1');
  });

  after(async () => {
    await controller.stop();
    client.close();
  });

  const applyCanary = (analysis: Record<string, unknown>) => client.apply({
    apiVersion: API_GROUP_VERSION, kind: 'Canary', metadata: { name: 'app', namespace },
    spec: {
      provider: 'gatewayapi', targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' },
      service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: 'public', namespace: 'gateways' }] },
      analysis: { threshold: 2, ...analysis },
    },
  });

  test('wait exits 0 on promotion while status --watch logs the weight advancing to the final phase', async () => {
    await applyCanary({ interval: '2s', stepWeight: 20, maxWeight: 60 });
    assert.equal((await cli('wait', 'canary', 'app', '--for', 'phase=Initialized', '--timeout', '60s')).code, 0);
    const watch = execFile(process.execPath, [cliMain, '--kubeconfig', testCluster().kubeconfig, '-n', namespace, 'status', 'canary', 'app', '--watch'], { env: { ...process.env, KUBECONFIG: '' } });
    let log = '';
    watch.stdout?.on('data', (chunk: string) => { log += chunk; });
    try {
      await eventually(() => (/ Initialized /.test(log) ? true : undefined), { timeoutMs: 20_000, what: 'the watch to start' });
      await applyDeployment('example.com/app:2');
      const waited = await cli('wait', 'canary', 'app', '--for', 'promoted', '--timeout', '90s');
      assert.equal(waited.code, 0, `${waited.stdout}\n${waited.stderr}`);
      assert.match(waited.stdout, /✔ Canary .*\/app promoted/);
      await eventually(() => (/ Succeeded /.test(log) ? true : undefined), { timeoutMs: 10_000, what: 'final phase in the watch log' });
      const weights = [...log.matchAll(/Progressing weight (\d+)\/60/g)].map((m) => Number(m[1]));
      for (const w of [20, 40, 60]) assert.ok(weights.includes(w), `weight ${w} in the log:\n${log}`);
      assert.deepEqual(weights, [...weights].sort((a, b) => a - b), 'weights only advance');
      assert.doesNotMatch(log, /\x1b/);
    } finally {
      watch.kill('SIGINT');
    }
    const status = await cli('status', 'canary', 'app');
    assert.match(status.stdout, /^Phase:\s+Succeeded/m);
    assert.match(status.stdout, /^Primary:\s+example\.com\/app:2$/m);
    const trace = await cli('trace', 'deployment/app');
    assert.equal(trace.code, 0, trace.stderr);
    assert.match(trace.stdout, new RegExp(`^Canary:\\s+${namespace}/app \\(phase Succeeded, canary weight 0\\)$`, 'm'));
    assert.match((await cli('trace', 'deployment/app-primary')).stdout, /^Canary:\s+\S+\/app \(phase Succeeded/m);
  });

  test('abort rolls a progressing canary back and wait exits non-zero; retry re-runs it; promote skips the remaining steps', async () => {
    // A long interval: only the CLI's requests move the rollout on.
    await applyCanary({ interval: '1h', stepWeight: 10, maxWeight: 50 });
    await applyDeployment('example.com/app:3');
    // The Succeeded of app:2 does not count for app:3.
    const stale = await cli('wait', 'canary', 'app', '--for', 'promoted', '--timeout', '3s');
    assert.equal(stale.code, 1, stale.stdout);
    assert.match(stale.stderr, /timed out after 3s/);
    await eventually(async () => ((await canaryPhase())?.canaryWeight === 10 ? true : undefined), { what: 'first step', timeoutMs: 60_000 });

    const aborted = await cli('abort', 'canary', 'app', '--timeout', '60s');
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /✔ abort done: phase Progressing → Failed/);
    const waited = await cli('wait', 'canary', 'app', '--for', 'promoted', '--timeout', '30s');
    assert.equal(waited.code, 1);
    assert.match(waited.stderr, /reached Failed instead/);

    const retried = await cli('retry', 'canary', 'app', '--timeout', '60s');
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, /✔ retry done: phase Failed → /);
    await eventually(async () => ((await canaryPhase())?.canaryWeight === 10 ? true : undefined), { what: 'retried first step', timeoutMs: 60_000 });
    // Retried without any edit to the Deployment: it still declares app:3.
    const target = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'app' });
    assert.equal((target.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image, 'example.com/app:3');

    const promoted = await cli('promote', 'canary', 'app', '--timeout', '60s');
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.match(promoted.stdout, /✔ promote done: phase Progressing → /);
    assert.equal((await cli('wait', 'canary', 'app', '--for', 'phase=Promoting', '--timeout', '30s')).code, 0);
    await eventually(async () => {
      const primary = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'app-primary' });
      return (primary.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image === 'example.com/app:3' ? true : undefined;
    }, { what: 'primary promoted' });

    // Nothing left to promote: the controller says so and the CLI exits non-zero.
    const idle = await cli('promote', 'canary', 'app', '--timeout', '60s');
    assert.equal(idle.code, 1);
    assert.match(idle.stderr, /ignored: nothing to promote/);
  });
});
