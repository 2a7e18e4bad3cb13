// The real local Kubernetes control plane for integration tests: one cluster
// per test run (started by global-setup.ts), one namespace per test.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '../../src/kube/client.ts';

const execFileAsync = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const localclusterBin = path.join(repoRoot, '.tools/bin/localcluster');
export const thirdPartyCrdDir = path.join(repoRoot, '.tools/crds');

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface TestCluster {
  kubeconfig: string;
  server: string;
  kubectl(args: string[], options?: { input?: string; namespace?: string }): Promise<CommandResult>;
}

/** Starts a control plane in dir; resolves with its kubeconfig once ready. */
export async function startCluster(dir: string): Promise<{ kubeconfig: string; server: string }> {
  const { stdout } = await execFileAsync(localclusterBin, ['up', '--dir', dir], { maxBuffer: 16 * 1024 * 1024 });
  const server = /server (\S+)/.exec(stdout)?.[1];
  if (!server) throw new Error(`localcluster up printed no server address:\n${stdout}`);
  return { kubeconfig: path.join(dir, 'kubeconfig'), server };
}

export async function stopCluster(dir: string): Promise<void> {
  await execFileAsync(localclusterBin, ['down', '--dir', dir]);
}

export function runKubectl(kubeconfig: string, args: string[], options: { input?: string; namespace?: string } = {}): Promise<CommandResult> {
  const fullArgs = ['kubectl', `--kubeconfig=${kubeconfig}`, ...(options.namespace ? ['-n', options.namespace] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(localclusterBin, fullArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
    child.stdin.end(options.input ?? '');
  });
}

export function testCluster(): TestCluster {
  const kubeconfig = process.env.SLUICE_TEST_KUBECONFIG;
  const server = process.env.SLUICE_TEST_SERVER;
  if (!kubeconfig || !server) {
    throw new Error('no test cluster: run integration tests with `bash scripts/run-tests.sh integration [files]`, which starts one');
  }
  return { kubeconfig, server, kubectl: (args, options) => runKubectl(kubeconfig, args, options) };
}

/** A kube client for the test cluster, as the controller would build it. */
export function testKubeClient(): KubeClient {
  return KubeClient.connect({ kubeconfig: testCluster().kubeconfig });
}

/** Creates a fresh namespace for one test and returns its name. */
export async function createTestNamespace(prefix: string): Promise<string> {
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${randomBytes(3).toString('hex')}`;
  const result = await testCluster().kubectl(['create', 'namespace', name]);
  if (result.code !== 0) throw new Error(`create namespace ${name}: ${result.stderr}`);
  return name;
}

/** kubectl that throws with stderr on failure and returns stdout. */
export async function kubectlOk(args: string[], options: { input?: string; namespace?: string } = {}): Promise<string> {
  const result = await testCluster().kubectl(args, options);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/** Polls fn until it returns a value other than undefined, or throws after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
  const reason = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
  throw new Error(`timed out after ${options.timeoutMs ?? 60_000} ms waiting for ${options.what ?? 'condition'}${reason}`);
}
