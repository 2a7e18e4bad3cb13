// The Dockerfile cannot be built here (no Docker engine on these machines), so
// this test assembles the runtime image's file set the way the Dockerfile's
// stages do and runs it: Node alone in usr/local/bin, kustomize beside it,
// production npm dependencies only (`npm ci --omit=dev --ignore-scripts`), the
// sources without tests (.dockerignore), the CRDs; then the controller starts
// from it as uid 65532 with a read-only app directory, HOME=/tmp and
// NODE_ENV=production, against the real cluster, and initializes a Canary.
// What it does not prove: the base image, the Go build stage and the image
// metadata; those wait for a machine with a container engine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { API_GROUP_VERSION, type Canary } from '../src/api/types.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { createTestNamespace, eventually, kubectlOk, testCluster, testKubeClient } from './env/cluster.ts';
import { deploymentYaml } from './env/manifests.ts';
import { freePort } from './env/ports.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..');
const NONROOT = 65532;

/** The NODE_OPTIONS the image sets, so the controller runs with the same V8 flags. */
function dockerfileNodeOptions(): string {
  const options = /NODE_OPTIONS="([^"]+)"/.exec(fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'))?.[1];
  assert.ok(options, 'the Dockerfile sets NODE_OPTIONS');
  return options;
}

function copyTree(from: string, to: string, keep: (file: string) => boolean): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, target, keep);
    else if (keep(source)) fs.copyFileSync(source, target);
  }
}

describe('the container image file set (Dockerfile stages replayed without a container engine)', () => {
  let root: string;
  let client: KubeClient;
  let namespace: string;
  let controller: ChildProcess | undefined;
  let output = '';

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-image-'));
    fs.chmodSync(root, 0o755);
    client = testKubeClient();
    namespace = await createTestNamespace('image');
  });

  after(() => {
    controller?.kill('SIGKILL');
    client.close();
    // The app directory was made read-only; give write back so it can be removed.
    void run('chmod', ['-R', 'u+w', root]).finally(() => fs.rmSync(root, { recursive: true, force: true }));
  });

  test('the Dockerfile still has the stages this test replays', () => {
    const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    for (const line of [
      'npm ci --omit=dev --ignore-scripts',
      'COPY --from=deps /app/node_modules ./node_modules',
      'COPY package.json ./',
      'COPY crds ./crds',
      'COPY src ./src',
      'SLUICE_KUSTOMIZE=/usr/local/bin/kustomize',
      `USER ${NONROOT}:${NONROOT}`,
      'ENTRYPOINT ["node", "src/main.ts"]',
    ]) assert.ok(dockerfile.includes(line), `Dockerfile: ${line}`);
    assert.match(fs.readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'), /^src\/\*\*\/\*\.test\.ts$/m);
    assert.equal(fs.readFileSync(path.join(repoRoot, '.node-version'), 'utf8').trim(), /ARG NODE_VERSION=(\S+)/.exec(dockerfile)?.[1]);
  });

  test('production dependencies and the sources start the controller as a non-root user, and it reconciles a Canary', async () => {
    const app = path.join(root, 'app');
    const bin = path.join(root, 'usr/local/bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.copyFileSync(process.execPath, path.join(bin, 'node'));
    fs.copyFileSync(path.join(repoRoot, '.tools/bin/kustomize'), path.join(bin, 'kustomize'));
    fs.mkdirSync(app);
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(repoRoot, file), path.join(app, file));
    // The deps stage: the npm cache filled by scripts/setup.sh makes this an offline install.
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 300_000 });
    copyTree(path.join(repoRoot, 'crds'), path.join(app, 'crds'), () => true);
    copyTree(path.join(repoRoot, 'src'), path.join(app, 'src'), (file) => !file.endsWith('.test.ts'));
    fs.rmSync(path.join(app, 'package-lock.json'));
    // Nothing the tests or the build use may be needed at run time.
    for (const devOnly of ['typescript', 'eslint', 'typescript-eslint']) assert.ok(!fs.existsSync(path.join(app, 'node_modules', devOnly)), `${devOnly} is not in the image`);
    const kubeconfig = path.join(root, 'kubeconfig');
    fs.copyFileSync(testCluster().kubeconfig, kubeconfig);
    fs.chmodSync(kubeconfig, 0o644);
    await run('chmod', ['-R', 'a-w,a+rX', app]);

    const port = await freePort();
    const args = [path.join(bin, 'node'), 'src/main.ts', `--kubeconfig=${kubeconfig}`, `--namespaces=${namespace}`, `--health-port=${port}`, '--health-address=127.0.0.1', '--receiver-port=0', '--leader-elect=false'];
    const asRoot = process.getuid?.() === 0;
    // As root (CI), drop to the image's user; otherwise the test already runs unprivileged.
    const [command, ...rest] = asRoot ? ['/usr/bin/setpriv', `--reuid=${NONROOT}`, `--regid=${NONROOT}`, '--clear-groups', ...args] : args;
    controller = spawn(command ?? 'node', rest, {
      cwd: app,
      env: { PATH: bin, HOME: '/tmp', NODE_ENV: 'production', NODE_OPTIONS: dockerfileNodeOptions(), SLUICE_KUSTOMIZE: path.join(bin, 'kustomize'), SLUICE_GIT_CACHE_DIR: path.join(os.tmpdir(), `sluice-image-git-${port}`) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    controller.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    controller.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => controller?.once('exit', resolve));

    await eventually(async () => {
      if (controller?.exitCode !== null) throw new Error(`the controller exited: ${output.slice(-2000)}`);
      const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return response?.ok ? true : undefined;
    }, { timeoutMs: 60_000, what: `/readyz of the image's controller\n${output.slice(-2000)}` });
    if (asRoot) assert.equal((await run('ps', ['-o', 'uid=', '-p', String(controller.pid)])).stdout.trim(), String(NONROOT));

    await kubectlOk(['apply', '--server-side', '-f', '-'], { namespace, input: deploymentYaml('web', 'web:1', 1) });
    const canary: Canary = {
      apiVersion: API_GROUP_VERSION, kind: 'Canary', metadata: { name: 'web', namespace },
      spec: { provider: 'kubernetes', targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, service: { port: 80 }, analysis: { interval: '1s', iterations: 2 } },
    };
    await client.apply(canary);
    await eventually(async () => ((await client.find<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'web' }))?.status?.phase === 'Initialized' ? true : undefined), {
      timeoutMs: 60_000, what: 'the Canary Initialized by the image\'s controller',
    });
    assert.doesNotMatch(output, /"level":(50|60)/, 'no error or fatal log lines');
    controller.kill('SIGTERM');
    assert.equal(await exited, 0, output.slice(-2000));
  });
});
