// The cluster a benchmark runs against: the one named by SLUICE_TEST_KUBECONFIG,
// or a local cluster of its own with sluice's CRDs, removed by stop().
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runKubectl, startCluster, stopCluster } from '../test/env/cluster.ts';

export interface BenchCluster {
  kubeconfig: string;
  stop(): Promise<void>;
}

export async function benchCluster(): Promise<BenchCluster> {
  const existing = process.env.SLUICE_TEST_KUBECONFIG;
  if (existing) return { kubeconfig: existing, stop: () => Promise.resolve() };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-cluster-'));
  process.stderr.write('starting a local cluster...\n');
  const { kubeconfig } = await startCluster(dir);
  const stop = async (): Promise<void> => {
    await stopCluster(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const crds = await runKubectl(kubeconfig, ['apply', '--server-side', '-f', path.resolve(import.meta.dirname, '../crds')]);
  if (crds.code !== 0) {
    await stop();
    throw new Error(crds.stderr);
  }
  await runKubectl(kubeconfig, ['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  return { kubeconfig, stop };
}
