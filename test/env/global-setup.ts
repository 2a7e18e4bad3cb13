// node --test global setup: one real control plane for the whole run, with
// the routers' third-party CRDs and sluice's own CRDs installed.
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, runKubectl, startCluster, stopCluster, thirdPartyCrdDir } from './cluster.ts';

let clusterDir: string | undefined;

async function applyDir(kubeconfig: string, dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) return;
  const result = await runKubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', ...files.flatMap((f) => ['-f', path.join(dir, f)])]);
  if (result.code !== 0) throw new Error(`installing CRDs from ${dir} failed:\n${result.stderr}`);
  const established = await runKubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  if (established.code !== 0) throw new Error(`CRDs from ${dir} not Established:\n${established.stderr}`);
}

export async function globalSetup(): Promise<void> {
  if (process.env.SLUICE_TEST_KUBECONFIG) return;
  clusterDir = path.join(repoRoot, '.cache', `test-cluster-${process.pid}`);
  await rm(clusterDir, { recursive: true, force: true });
  await mkdir(clusterDir, { recursive: true });
  const started = Date.now();
  const { kubeconfig, server } = await startCluster(clusterDir);
  process.stderr.write(`[test-env] local cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${server}\n`);
  await applyDir(kubeconfig, thirdPartyCrdDir);
  await applyDir(kubeconfig, path.join(repoRoot, 'crds'));
  process.env.SLUICE_TEST_KUBECONFIG = kubeconfig;
  process.env.SLUICE_TEST_SERVER = server;
  process.env.SLUICE_TEST_CLUSTER_DIR = clusterDir;
}

export async function globalTeardown(): Promise<void> {
  if (!clusterDir) return;
  await stopCluster(clusterDir);
  await rm(clusterDir, { recursive: true, force: true });
}
