// The sluice CLI against the real local cluster, run as a child process so
// exit codes and output are what a user sees. A real Git server feeds the
// real GitRepository and Sync controllers (run in this process); the CLI
// talks to the cluster only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadAll } from 'js-yaml';
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
import { startPrometheus, type PrometheusInstance } from './env/prometheus.ts';
import { startTrafficGenerator, type TrafficGenerator } from './env/traffic-generator.ts';

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

/** The first container's image of a Deployment. */
const image = (d: KubeObject | undefined) => (d?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec.containers[0]?.image;

function assertNoStack(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at /m, `stack trace printed:\n${result.stderr}`);
}

interface Terminal {
  /** The visible screen, as text. */
  screen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Runs a command in a real pseudo-terminal: a detached tmux session of its
 * own (own server socket), 160x50, read back with capture-pane.
 */
async function startTerminal(command: readonly string[]): Promise<Terminal> {
  const socket = `sluice-cli-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const tmux = (...args: string[]) => new Promise<string>((resolve, reject) => {
    execFile('tmux', ['-L', socket, ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`tmux ${args[0] ?? ''}: ${error.message} ${stderr}`));
      else resolve(stdout);
    });
  });
  const quoted = command.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  // The pane stays after the command exits, so a crash shows its last output instead of an empty screen.
  await tmux('new-session', '-d', '-s', 'cli', '-x', '160', '-y', '50', quoted, ';', 'set-option', '-t', 'cli', 'remain-on-exit', 'on');
  return {
    screen: () => tmux('capture-pane', '-p', '-t', 'cli'),
    close: () => tmux('kill-server').then(() => undefined, () => undefined),
  };
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

  test('suspend stops the Sync; diff shows the last fetched revision (what the controller would apply), not the branch tip; resume applies it', async () => {
    const suspended = await cli('suspend', 'sync', 'apps');
    assert.equal(suspended.code, 0, suspended.stderr);
    assert.equal((await getSync()).spec.suspend, true);
    assert.match((await cli('get', 'syncs')).stdout, /^apps\s+True\s+\S+\s+True/m);

    const next = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:4') }, 'while suspended');
    await repo.push();
    const refused = await cli('reconcile', 'sync', 'apps');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is suspended; resume it first/);

    // Pushed but not fetched: the artifact is still the applied commit, so the controller would change nothing.
    const unfetched = await cli('diff', 'sync', 'apps');
    assert.equal(unfetched.code, 0, `${unfetched.stdout}\n${unfetched.stderr}`);
    assert.match(unfetched.stdout, new RegExp(`► building ./deploy at main@sha1:${sha} \\(the GitRepository's last fetched artifact\\)`));
    assert.match(unfetched.stdout, /✔ no changes/);

    const fetchSource = async (revision: string) => {
      await client.patchMerge({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'fleet' }, { metadata: { annotations: { 'sluice.dev/requestedAt': `fetch-${revision}` } } });
      await eventually(async () => {
        const r = await client.get<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'fleet' });
        return r.status?.artifact?.revision === `main@sha1:${revision}` ? true : undefined;
      }, { what: `source fetched ${revision}` });
    };
    await fetchSource(next);
    // The branch moves on after the fetch: the diff stays at the fetched commit, found in the branch's history.
    const ahead = await repo.commitFiles({ 'deploy/web.yaml': deployment('web', 'web:5') }, 'not fetched yet');
    await repo.push();
    const diff = await cli('diff', 'sync', 'apps');
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, new RegExp(`► building ./deploy at main@sha1:${next} `));
    assert.match(diff.stdout, /^\+\s+image: web:4$/m);
    assert.doesNotMatch(diff.stdout, /web:5/);
    assert.ok(!diff.stdout.includes(ahead));

    // Resume: the Sync applies the fetched commit, which is what diff showed.
    const resumed = await cli('resume', 'sync', 'apps', '--timeout', '60s');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`✔ Applied revision main@sha1:${next}`));
    assert.equal(image(await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' })), 'web:4');
    sha = next;
    const applied = await cli('diff', 'sync', 'apps');
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    assert.match(applied.stdout, /✔ no changes/);

    // A GitRepository the controller has not fetched yet: nothing to diff but a local checkout.
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'unfetched', namespace },
      spec: { url: repo.url, interval: '1h', ref: { branch: repo.branch }, suspend: true },
    });
    await client.apply({
      apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'unfetched', namespace },
      spec: { sourceRef: { kind: 'GitRepository', name: 'unfetched' }, path: './deploy', interval: '1h', prune: false, suspend: true },
    });
    const noArtifact = await cli('diff', 'sync', 'unfetched');
    assert.equal(noArtifact.code, 2, noArtifact.stdout);
    assert.match(noArtifact.stderr, new RegExp(`^✗ GitRepository ${namespace}/unfetched has no artifact yet, so there is nothing the Sync would apply; .*--path DIR\n$`));
    assertNoStack(noArtifact);
    await client.delete({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name: 'unfetched' });
    await client.delete({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace, name: 'unfetched' });
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

    // pause/resume are requests like the others (no controller here, so --no-wait);
    // suspend is Flagger's spec.suspend, and resume clears it (nothing is paused, so that is all it does).
    const paused = await cli('pause', 'canary', 'podinfo', '--no-wait');
    assert.equal(paused.code, 0, paused.stderr);
    assert.ok((await client.get<Canary>(ref)).metadata.annotations?.['sluice.dev/pause']);
    assert.equal((await cli('suspend', 'canary', 'podinfo')).code, 0);
    assert.equal((await client.get<Canary>(ref)).spec.suspend, true);
    const resumed = await cli('resume', 'canary', 'podinfo', '--no-wait');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /spec\.suspend cleared/);
    assert.equal((await client.get<Canary>(ref)).spec.suspend, false);
  });

  test('errors: a bad kubeconfig, an unknown context, an unreachable server and a missing object are one line with a hint', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cli-errors-'));
    /** Runs the CLI with only these global flags (runCli adds the test kubeconfig). */
    const raw = (args: string[], env: Record<string, string> = {}) => new Promise<CliResult>((resolve) => {
      execFile(process.execPath, [cliMain, ...args], { env: { ...process.env, KUBECONFIG: '', SLUICE_DEBUG: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
    const oneLine = (result: CliResult, code: number, pattern: RegExp) => {
      assert.equal(result.code, code, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stderr, /^✗ [^\n]+\n$/, `one line:\n${result.stderr}`);
      assert.match(result.stderr, pattern);
      assertNoStack(result);
    };
    try {
      const missingFile = path.join(dir, 'missing');
      oneLine(await raw(['--kubeconfig', missingFile, 'get', 'syncs']), 1, new RegExp(`^✗ kubeconfig ${missingFile} \\(--kubeconfig\\) does not exist; pass --kubeconfig FILE or set KUBECONFIG`));
      oneLine(await raw(['get', 'syncs'], { KUBECONFIG: missingFile }), 1, /\(KUBECONFIG\) does not exist/);
      const broken = path.join(dir, 'broken');
      fs.writeFileSync(broken, 'apiVersion: v1\nclusters: [\n  - name: x\n');
      oneLine(await raw(['--kubeconfig', broken, 'get', 'syncs']), 1, /is not valid YAML: .* at line \d+, column \d+; fix the file/);
      // diff keeps its own exit status for errors: 2.
      oneLine(await raw(['--kubeconfig', broken, 'diff', 'sync', 'apps']), 2, /is not valid YAML/);

      const context = await runCli(['--context', 'nope', 'get', 'syncs']);
      oneLine(context, 1, /^✗ --context "nope" is not defined in kubeconfig \S+; use one of its contexts: "[^"]+" \(kubectl config get-contexts\)$/m);

      // A port nothing listens on: the cluster's kubeconfig pointed at it.
      const closedPort = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = probe.address() as net.AddressInfo;
          probe.close(() => resolve(port));
        });
      });
      const unreachable = path.join(dir, 'unreachable');
      fs.writeFileSync(unreachable, fs.readFileSync(testCluster().kubeconfig, 'utf8').replace(/server: \S+/, `server: https://127.0.0.1:${closedPort}`));
      const server = new RegExp(`^✗ cannot reach the API server at https://127\\.0\\.0\\.1:${closedPort} \\(context "[^"]+"\\): connection refused; check that the cluster is running and that the kubeconfig points at it \\(kubectl cluster-info\\)$`, 'm');
      oneLine(await raw(['--kubeconfig', unreachable, '-n', namespace, 'get', 'syncs']), 1, server);
      oneLine(await raw(['--kubeconfig', unreachable, '-n', namespace, 'reconcile', 'sync', 'apps']), 1, server);
      oneLine(await raw(['--kubeconfig', unreachable, '-n', namespace, 'diff', 'sync', 'apps']), 2, server);

      // A missing object: what was looked for, where, and how to look elsewhere.
      const where = new RegExp(`not found; check the name and the namespace \\(looked in "${namespace}"; pass -n NAMESPACE for another\\)$`, 'm');
      oneLine(await cli('get', 'sync', 'nope'), 1, /Sync \S+\/nope/);
      oneLine(await cli('get', 'sync', 'nope'), 1, where);
      oneLine(await cli('status', 'canary', 'nope'), 1, where);
      oneLine(await cli('promote', 'canary', 'nope'), 1, where);
      oneLine(await cli('diff', 'sync', 'nope'), 2, where);
      oneLine(await cli('events', 'sync/nope'), 1, where);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('status --watch without a terminal: one clean timestamped line per change', async () => {
    // The in-place terminal view is tested during a real rollout below (tmux); this pins the exact line log.
    const ref = { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' };
    await client.patchStatus(ref, { phase: 'Progressing', canaryWeight: 10, failedChecks: 0 });
    const args = [cliMain, '--kubeconfig', testCluster().kubeconfig, '-n', namespace, 'status', 'canary', 'podinfo', '--watch'];
    const child = execFile(process.execPath, args, { env: { ...process.env, KUBECONFIG: '' } });
    let out = '';
    child.stdout?.on('data', (chunk: string) => { out += chunk; });
    try {
      await eventually(() => (/Progressing weight 10\/50/.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'first line' });
      for (const weight of [20, 30]) {
        await client.patchStatus(ref, { canaryWeight: weight });
        await eventually(() => (new RegExp(`Progressing weight ${weight}/50`).test(out) ? true : undefined), { timeoutMs: 20_000, what: `weight ${weight}` });
      }
      await client.patchStatus(ref, { phase: 'Succeeded', canaryWeight: 0 });
      await eventually(() => (/Succeeded weight 0\/50/.test(out) ? true : undefined), { timeoutMs: 20_000, what: 'final phase line' });
      const lines = out.trim().split('\n');
      assert.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT\S+Z \S+ /.test(l)), out);
      assert.doesNotMatch(out, /\x1b/);
      assert.deepEqual(lines.map((l) => /weight (\d+)/.exec(l)?.[1]), ['10', '20', '30', '0']);
    } finally {
      child.kill('SIGINT');
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

  test('during a real rollout, status --watch redraws one view in a terminal (tmux) and logs clean lines without one; wait exits 0 on promotion', async (t) => {
    await applyCanary({ interval: '2s', stepWeight: 20, maxWeight: 60 });
    assert.equal((await cli('wait', 'canary', 'app', '--for', 'phase=Initialized', '--timeout', '60s')).code, 0);
    const args = [cliMain, '--kubeconfig', testCluster().kubeconfig, '-n', namespace, 'status', 'canary', 'app', '--watch'];
    const watch = execFile(process.execPath, args, { env: { ...process.env, KUBECONFIG: '' } });
    let log = '';
    watch.stdout?.on('data', (chunk: string) => { log += chunk; });
    const terminal = await startTerminal([process.execPath, ...args]);
    // Every distinct screen the terminal showed while the controller drove the rollout.
    const screens: string[] = [];
    let capturing = true;
    const capture = (async () => {
      while (capturing) {
        const text = await terminal.screen().catch(() => '');
        // A blank pane is the terminal before the first view is drawn.
        if (text.trim() !== '' && text !== screens.at(-1)) screens.push(text);
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    try {
      await eventually(() => (/ Initialized /.test(log) ? true : undefined), { timeoutMs: 20_000, what: 'the line log to start' });
      await eventually(() => (screens.some((t) => /^Phase:\s+Initialized/m.test(t)) ? true : undefined), { timeoutMs: 20_000, what: 'the terminal view to start' });
      await applyDeployment('example.com/app:2');
      const waited = await cli('wait', 'canary', 'app', '--for', 'promoted', '--timeout', '90s');
      assert.equal(waited.code, 0, `${waited.stdout}\n${waited.stderr}`);
      assert.match(waited.stdout, /✔ Canary .*\/app promoted/);
      await eventually(() => (/ Succeeded /.test(log) ? true : undefined), { timeoutMs: 10_000, what: 'final phase in the watch log' });
      await eventually(() => (/^Phase:\s+Succeeded/m.test(screens.at(-1) ?? '') ? true : undefined), { timeoutMs: 20_000, what: 'final phase on the terminal' });
      capturing = false;
      await capture;

      // The terminal: the weight advanced on screen, to the final phase, always as one view redrawn in place.
      const shown = screens.flatMap((t) => {
        const m = /^Progress:\s+\[[#.]+\] weight (\d+)\/60 \(step \d\/3\)$/m.exec(t);
        return m && /^Phase:\s+Progressing/m.test(t) ? [Number(m[1])] : [];
      });
      // 0 is the weight of a rollout that has started but not taken its first step yet.
      const distinct = [...new Set(shown)];
      t.diagnostic(`weights on the terminal: ${JSON.stringify(distinct)} in ${screens.length} screens`);
      assert.ok(distinct.length >= 2 && distinct.some((w) => w > 0), `at least two weights on the terminal, saw ${JSON.stringify(distinct)}:\n${screens.join('\n----\n')}`);
      for (const w of distinct) assert.ok([0, 20, 40, 60].includes(w), `weight ${w} is 0 or a step of the schedule`);
      assert.deepEqual(shown, [...shown].sort((a, b) => a - b), 'weights only advance on the terminal');
      for (const text of screens) {
        assert.equal(text.match(/^Phase:/gm)?.length, 1, `one view on the screen, not a scroll of them:\n${text}`);
        assert.equal(text.match(/^Canary \S+\/app → Deployment app$/gm)?.length, 1, `one header on the screen:\n${text}`);
      }
      const final = screens.at(-1) ?? '';
      assert.match(final, /^Progress:\s+\[\.+\] weight 0\/60/m);
      assert.match(final, /^Primary:\s+example\.com\/app:2$/m);

      // Without a terminal: one timestamped line per change, the weights in order, no escape codes.
      const weights = [...log.matchAll(/Progressing weight (\d+)\/60/g)].map((m) => Number(m[1]));
      for (const w of [20, 40, 60]) assert.ok(weights.includes(w), `weight ${w} in the log:\n${log}`);
      assert.deepEqual(weights, [...weights].sort((a, b) => a - b), 'weights only advance');
      assert.ok(log.trim().split('\n').every((l) => /^\d{4}-\d\d-\d\dT\S+Z \S+ /.test(l)), log);
      assert.doesNotMatch(log, /\x1b/);
    } finally {
      capturing = false;
      await capture;
      watch.kill('SIGINT');
      await terminal.close();
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

describe('sluice migrate flagger: the converted podinfo Canary rolls out on the cluster', () => {
  let client: KubeClient;
  let namespace: string;
  let generator: TrafficGenerator;
  let prometheus: PrometheusInstance;
  let loadtester: http.Server;
  let loadtesterUrl: string;
  const hookCalls: { type: string; phase: string; metadata: Record<string, string> }[] = [];
  let controller: CanaryController;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('cli-flagger');
    // Istio's sidecars would report podinfo's requests; the traffic generator plays the mesh, healthy.
    generator = await startTrafficGenerator();
    for (const name of ['podinfo', 'podinfo-primary']) await generator.setTarget({ namespace, name, rps: 20, errorRate: 0, latencyMs: 10 });
    prometheus = await startPrometheus({ scrapeTargets: [generator.address] });
    // Plays flagger-loadtester: answers every webhook call with 200.
    loadtester = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        const payload = JSON.parse(body || '{}') as { type?: string; phase?: string; metadata?: Record<string, string> };
        hookCalls.push({ type: payload.type ?? '', phase: payload.phase ?? '', metadata: payload.metadata ?? {} });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => loadtester.listen(0, '127.0.0.1', resolve));
    loadtesterUrl = `http://127.0.0.1:${(loadtester.address() as { port: number }).port}/`;
    const config = { ...parseConfig([], {}), namespaces: [namespace] };
    const deps = createDeps({ config, client, logger, events: new EventRecorder(client, { logger }) });
    // Flagger's Canary has no spec.provider: Flagger installed for Istio (-mesh-provider=istio) decides it.
    // sluice's equivalent is the controller's default provider (SLUICE_CANARY_PROVIDER), set here the same way.
    controller = new CanaryController(deps, { defaultProvider: 'istio', metricsServer: prometheus.url });
    await controller.start();
    await controller.controller.waitForSync(AbortSignal.timeout(20_000));
  });

  after(async () => {
    await controller?.stop();
    await prometheus?.stop();
    await generator?.stop();
    loadtester?.close();
    client?.close();
  });

  test('podinfo-canary.yaml, converted and adapted only where it needs the internet, promotes podinfo 6.0.0 → 6.0.1', async () => {
    // The tutorial's workload: Deployment and HPA (Flagger, like sluice, creates the Services itself).
    await kubectlOk(['apply', '--server-side', '--field-manager=git', '-f', path.join(fixtures, 'podinfo.yaml')], { namespace });

    const converted = await runCli(['migrate', 'flagger', '-n', namespace, path.join(fixtures, 'podinfo-canary.yaml'), path.join(fixtures, 'metric-template.yaml')]);
    assert.equal(converted.code, 0, converted.stderr);
    const objects = loadAll(converted.stdout) as (KubeObject & { spec: Record<string, unknown> })[];
    const canary = objects.find((o) => o.kind === 'Canary') as unknown as Canary;
    const template = objects.find((o) => o.kind === 'MetricTemplate') as KubeObject & { spec: { provider: { address: string } } };
    assert.ok(canary && template, converted.stdout);

    // What is adapted, and why; everything else is the converted Canary as is
    // (targetRef, autoscalerRef, service with Istio gateways/hosts/trafficPolicy/retries,
    // threshold, stepWeight, maxWeight, the three metrics and their ranges, alerts).
    const analysis = canary.spec.analysis;
    // 1. analysis.interval 1m → 3s: five steps of a minute each would make this test take six minutes.
    assert.equal(analysis.interval, '1m');
    analysis.interval = '3s';
    // 2. The MetricTemplate's Prometheus, http://prometheus.istio-system:9090, does not exist here: the test's
    //    Prometheus (scraping the Istio-shaped series of the traffic generator) stands in for it. The template
    //    was converted into the test namespace (-n), so the Canary's templateRef follows it from istio-system.
    assert.equal(template.spec.provider.address, 'http://prometheus.istio-system:9090');
    template.spec.provider.address = prometheus.url;
    const templateRef = analysis.metrics?.[2]?.templateRef;
    assert.equal(templateRef?.namespace, 'istio-system');
    if (templateRef) templateRef.namespace = namespace;
    // 3. The webhooks call flagger-loadtester (http://flagger-loadtester.test/), which is not installed:
    //    a local server that answers 200 plays it; the hooks, their types and metadata stay.
    for (const hook of analysis.webhooks ?? []) {
      assert.equal(hook.url, 'http://flagger-loadtester.test/');
      hook.url = loadtesterUrl;
    }
    // The alert's AlertProvider (Slack) is not applied: this in-process controller records Events only and
    // sends no chat, so the alert stays in the Canary unchanged and costs nothing.
    const applied = await kubectlOk(['apply', '-f', '-'], { namespace, input: [template, canary].map((o) => JSON.stringify(o)).join('\n---\n') });
    assert.match(applied, /canary\.sluice\.dev\/podinfo created/);

    const cli = (...args: string[]) => runCli(['-n', namespace, ...args]);
    const initialized = await cli('wait', 'canary', 'podinfo', '--for', 'phase=Initialized', '--timeout', '120s');
    assert.equal(initialized.code, 0, `${initialized.stdout}\n${initialized.stderr}`);
    // The Istio fields of the Flagger Canary reached the VirtualService.
    const vs = await client.get({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', namespace, name: 'podinfo' });
    const vsSpec = vs.spec as { hosts: string[]; gateways?: string[] };
    assert.deepEqual(vsSpec.gateways, ['public-gateway.istio-system.svc.cluster.local']);
    assert.ok(vsSpec.hosts.includes('app.example.com'), JSON.stringify(vsSpec));
    await client.get({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace, name: 'podinfo-primary' });

    // The tutorial's next step: a new image.
    await kubectlOk(['set', 'image', 'deployment/podinfo', 'podinfod=ghcr.io/stefanprodan/podinfo:6.0.1'], { namespace });
    const promoted = await cli('wait', 'canary', 'podinfo', '--for', 'promoted', '--timeout', '240s');
    assert.equal(promoted.code, 0, `${promoted.stdout}\n${promoted.stderr}`);
    const weights = [...promoted.stdout.matchAll(/Progressing weight (\d+)\/50/g)].map((m) => Number(m[1]));
    assert.ok(weights.some((w) => w > 0), `the weight advanced:\n${promoted.stdout}`);

    const done = await client.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'podinfo' });
    assert.equal(done.status?.phase, 'Succeeded');
    const primary = await client.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'podinfo-primary' });
    assert.equal(image(primary), 'ghcr.io/stefanprodan/podinfo:6.0.1');
    // All three checks of the Flagger Canary ran against Prometheus and passed.
    const status = await cli('status', 'canary', 'podinfo');
    assert.equal(status.code, 0, status.stderr);
    for (const name of ['request-success-rate', 'request-duration', '404s percentage']) {
      assert.match(status.stdout, new RegExp(`^Metric:\\s+${name} = [0-9.]+ .* Pass`, 'm'), `${name} passed:\n${status.stdout}`);
    }
    assert.ok(hookCalls.some((c) => c.type === 'pre-rollout' && c.metadata.type === 'bash'), `acceptance-test called: ${JSON.stringify(hookCalls)}`);
    assert.ok(hookCalls.some((c) => c.type === 'rollout' && c.metadata.cmd?.startsWith('hey ')), `load-test called: ${JSON.stringify(hookCalls)}`);
  });
});
