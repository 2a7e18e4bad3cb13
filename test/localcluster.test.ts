// The local control plane is real: the controller-manager rolls out a
// Deployment, the scheduler places its pods, kwok makes them Ready, Services
// get ClusterIPs, and the routers' published CRDs validate for real.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestNamespace, eventually, kubectlOk, localclusterBin, runKubectl, startCluster, stopCluster, testCluster } from './env/cluster.ts';

const execFileAsync = promisify(execFile);

interface DeploymentStatus { replicas?: number; readyReplicas?: number; availableReplicas?: number; conditions?: { type: string; status: string }[] }

describe('local cluster', () => {
  test('a Deployment with 3 replicas becomes Available with 3 ready pods; a Service gets a ClusterIP', async () => {
    const namespace = await createTestNamespace('workload');
    await kubectlOk(['create', 'deployment', 'web', '--image=registry.example/web:1.0', '--replicas=3', '--port=8080'], { namespace });
    await kubectlOk(['expose', 'deployment', 'web', '--port=80', '--target-port=8080'], { namespace });

    const status = await eventually(async () => {
      const deployment = JSON.parse(await kubectlOk(['get', 'deployment', 'web', '-o', 'json'], { namespace })) as { status: DeploymentStatus };
      const available = deployment.status.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
      return available && deployment.status.readyReplicas === 3 ? deployment.status : undefined;
    }, { timeoutMs: 60_000, what: 'Deployment web Available with 3 ready replicas' });
    assert.equal(status.availableReplicas, 3);

    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-l', 'app=web', '-o', 'json'], { namespace })) as {
      items: { spec: { nodeName?: string }; status: { phase: string; podIP?: string; conditions?: { type: string; status: string }[] } }[];
    };
    assert.equal(pods.items.length, 3);
    for (const pod of pods.items) {
      assert.equal(pod.spec.nodeName, 'kwok-node-0', 'scheduled by the real scheduler');
      assert.equal(pod.status.phase, 'Running');
      assert.ok(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      assert.match(pod.status.podIP ?? '', /^10\.244\./);
    }

    const service = JSON.parse(await kubectlOk(['get', 'service', 'web', '-o', 'json'], { namespace })) as { spec: { clusterIP: string } };
    assert.match(service.spec.clusterIP, /^10\.96\.\d+\.\d+$/);
    // The endpoint slice controller sees the ready pods behind the Service.
    await eventually(async () => {
      const slices = JSON.parse(await kubectlOk(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'], { namespace })) as {
        items: { endpoints?: { conditions?: { ready?: boolean } }[] }[];
      };
      const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready === true);
      return ready.length === 3 ? true : undefined;
    }, { timeoutMs: 30_000, what: '3 ready endpoints' });
  });

  test('HTTPRoute, VirtualService and TrafficSplit are checked by their published CRD schemas', async () => {
    const namespace = await createTestNamespace('routers');
    const valid = [
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web' },
        spec: { parentRefs: [{ name: 'gateway' }], rules: [{ backendRefs: [{ name: 'web-primary', port: 80, weight: 90 }, { name: 'web-canary', port: 80, weight: 10 }] }] } },
      { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'web' },
        spec: { hosts: ['web'], http: [{ route: [{ destination: { host: 'web-primary' }, weight: 90 }, { destination: { host: 'web-canary' }, weight: 10 }] }] } },
      { apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { name: 'web' },
        spec: { service: 'web', backends: [{ service: 'web-primary', weight: 90 }, { service: 'web-canary', weight: 10 }] } },
    ];
    for (const object of valid) {
      await kubectlOk(['apply', '--server-side', '-f', '-'], { namespace, input: JSON.stringify(object) });
    }
    const routes = JSON.parse(await kubectlOk(['get', 'httproute', 'web', '-o', 'json'], { namespace })) as { spec: { rules: { backendRefs: { weight: number }[] }[] } };
    assert.deepEqual(routes.spec.rules[0]?.backendRefs.map((b) => b.weight), [90, 10]);

    const invalid: [object, RegExp][] = [
      // Gateway API bounds backend weights to 0..1000000.
      [{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'bad' },
        spec: { rules: [{ backendRefs: [{ name: 'web-primary', port: 80, weight: -5 }] }] } }, /weight/],
      // Istio's schema types weight as an integer.
      [{ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'bad' },
        spec: { hosts: ['web'], http: [{ route: [{ destination: { host: 'web-primary' }, weight: 'ninety' }] }] } }, /weight/],
      // SMI requires backends.
      [{ apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', metadata: { name: 'bad' }, spec: { service: 'web' } }, /backends/],
    ];
    for (const [object, field] of invalid) {
      const result = await testCluster().kubectl(['apply', '--server-side', '-f', '-'], { namespace, input: JSON.stringify(object) });
      assert.notEqual(result.code, 0, `${(object as { kind: string }).kind} must be rejected`);
      assert.match(result.stderr, field);
      assert.match(result.stderr, /Error from server|is invalid/);
    }
  });

  test('a second cluster runs beside the first; a crashed component is reported with its log tail', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-cluster-'));
    try {
      const second = await startCluster(dir);
      assert.notEqual(second.server, testCluster().server);
      const nodes = await runKubectl(second.kubeconfig, ['get', 'nodes', '-o', 'name']);
      assert.equal(nodes.stdout.trim(), 'node/kwok-node-0');

      const state = JSON.parse(await readFile(path.join(dir, 'cluster.json'), 'utf8')) as { components: { name: string; pid: number }[] };
      const scheduler = state.components.find((c) => c.name === 'kube-scheduler');
      assert.ok(scheduler);
      process.kill(scheduler.pid, 'SIGKILL');
      await eventually(async () => {
        try {
          await execFileAsync(localclusterBin, ['status', '--dir', dir]);
          return undefined;
        } catch (error) {
          return error as { code: number; stdout: string; stderr: string };
        }
      }, { timeoutMs: 10_000, what: 'status to report the killed scheduler' }).then((failed) => {
        assert.equal(failed.code, 1);
        assert.match(failed.stdout, /kube-scheduler\s+stopped\s+pid \d+; last lines of .*kube-scheduler\.log:\n\s+\S/);
        assert.match(failed.stderr, /1 of 5 components are not running/);
      });
    } finally {
      await stopCluster(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
