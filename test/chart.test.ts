// The Helm chart with the real helm (built from its Go module by the setup):
// it renders and lints; its CRDs are the repository's; and its RBAC is enough
// to run the controller — a Sync of a real Git repository applies a
// Deployment while the controller authenticates as the chart's
// ServiceAccount, and a Canary (nginx router, with an HPA) rolls a new version
// out to Succeeded — touching Deployments, Services, Ingresses, HPAs, Events
// and the Lease under that token — and no more: with rbac.namespaces set,
// Secrets elsewhere are refused.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { load, loadAll } from 'js-yaml';
import { API_GROUP_VERSION, type Canary, type Sync } from '../src/api/types.ts';
import { ErrorCodes, isSluiceError } from '../src/errors.ts';
import { KubeClient } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, kubectlOk, repoRoot, testCluster, testKubeClient } from './env/cluster.ts';
import { startGitServer, type GitServer } from './env/git-server.ts';
import { deploymentYaml as deploymentOf } from './env/manifests.ts';
import { freePort } from './env/ports.ts';

const run = promisify(execFile);
const helmBin = path.join(repoRoot, '.tools/bin/helm');
const chartDir = path.join(repoRoot, 'charts/sluice');

interface Rendered extends KubeObject {
  data?: Record<string, string>;
  rules?: { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }[];
  spec?: { template?: { spec?: { containers?: { args?: string[]; env?: { name: string; value?: string }[]; securityContext?: Record<string, unknown>; resources?: unknown; livenessProbe?: unknown; readinessProbe?: unknown }[]; securityContext?: Record<string, unknown> } } };
}

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(helmBin, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

async function render(release: string, namespace: string, sets: string[] = [], extra: string[] = []): Promise<Rendered[]> {
  const text = await helm(['template', release, chartDir, '--namespace', namespace, ...extra, ...sets.flatMap((s) => ['--set', s])]);
  return (loadAll(text) as (Rendered | null)[]).filter((o): o is Rendered => o !== null);
}

const named = (objects: Rendered[], kind: string, name?: string) => objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

/** A kubeconfig for the test cluster that authenticates with `token` only. */
function tokenKubeconfig(token: string, dir: string): string {
  const admin = load(fs.readFileSync(testCluster().kubeconfig, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
  const cluster = admin.clusters[0]?.cluster;
  assert.ok(cluster, 'admin kubeconfig has a cluster');
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
    clusters: [{ name: 'local', cluster }], users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'local', user: 'sa' } }],
  }), { mode: 0o600 });
  return file;
}

const deploymentYaml = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: web:1
`;

describe('Helm chart charts/sluice', () => {
  test('renders and lints with the real helm, default and every option', async () => {
    const version = await helm(['version', '--short']);
    assert.match(version, /^v4\./);
    for (const sets of [[], ['rbac.namespaces={a,b}', 'serviceMonitor.enabled=true', 'grafanaDashboard.enabled=true', 'replicaCount=2']]) {
      const out = await helm(['lint', chartDir, '--strict', ...sets.flatMap((s) => ['--set', s])]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
    const objects = await render('sluice', 'sluice-system', [], ['--include-crds']);
    // The chart's CRDs are the repository's crds/, byte for byte in content.
    const crds = named(objects, 'CustomResourceDefinition');
    const expected = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml'))
      .map((f) => load(fs.readFileSync(path.join(repoRoot, 'crds', f), 'utf8')) as KubeObject);
    assert.deepEqual(crds.map((c) => c.metadata.name).sort(), expected.map((c) => c.metadata.name).sort());
    for (const crd of expected) assert.deepEqual(crds.find((c) => c.metadata.name === crd.metadata.name), crd);

    const [deployment] = named(objects, 'Deployment');
    const pod = deployment?.spec?.template?.spec;
    const container = pod?.containers?.[0];
    assert.ok(pod && container);
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    assert.ok(container.resources && container.livenessProbe && container.readinessProbe);
    assert.ok(container.args?.includes('--leader-elect=true'));
    assert.ok(container.args?.includes('--lease-namespace=sluice-system'));
    assert.ok(container.args?.includes('--renew-deadline=10s'));
    assert.ok(container.args?.includes('--canary-provider=kubernetes'));
    assert.equal(container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value, '--max-old-space-size=256 --max-semi-space-size=4');
    assert.ok(!container.args?.some((a) => a.startsWith('--metrics-server')), 'no --metrics-server unless set');
    // Every flag in the chart is one the controller accepts.
    const flags = (container.args ?? []).map((a) => a.split('=')[0]);
    const usage = (await run(process.execPath, [path.join(repoRoot, 'src/main.ts'), '--help'])).stdout;
    for (const flag of flags) assert.ok(usage.includes(`${flag} `), `chart passes ${flag}, which sluice does not know`);
    assert.equal(named(objects, 'ClusterRole').length, 1);
    assert.equal(named(objects, 'Service').length, 1);
    assert.equal(named(objects, 'ServiceMonitor').length, 0);

    const restricted = await render('sluice', 'sluice-system', ['rbac.namespaces={team-a,team-b}', 'grafanaDashboard.enabled=true', 'serviceMonitor.enabled=true', 'controller.canaryProvider=istio', 'controller.metricsServer=http://prometheus.monitoring:9090']);
    assert.deepEqual(named(restricted, 'Role', 'sluice').map((r) => r.metadata.namespace), ['team-a', 'team-b']);
    const clusterRoles = named(restricted, 'ClusterRole');
    // Only read access to Alerts/AlertProviders is cluster-wide (the notifier's one watch for several namespaces).
    assert.deepEqual(clusterRoles.flatMap((r) => r.rules ?? []), [{ apiGroups: ['sluice.dev'], resources: ['alerts', 'alertproviders'], verbs: ['get', 'list', 'watch'] }]);
    const restrictedArgs = named(restricted, 'Deployment')[0]?.spec?.template?.spec?.containers?.[0]?.args ?? [];
    for (const arg of ['--namespaces=team-a,team-b', '--canary-provider=istio', '--metrics-server=http://prometheus.monitoring:9090']) assert.ok(restrictedArgs.includes(arg), arg);
    const dashboard = named(restricted, 'ConfigMap')[0];
    const panels = (JSON.parse(dashboard?.data?.['sluice.json'] ?? '{}') as { panels?: { targets: { expr: string }[] }[] }).panels ?? [];
    assert.ok(panels.some((p) => p.targets.some((t) => t.expr.includes('sluice_canary_weight'))));
    assert.equal(named(restricted, 'ServiceMonitor').length, 1);

    await assert.rejects(render('sluice', 'x', ['replicaCount=2', 'leaderElection.enabled=false']), /needs leaderElection\.enabled/);
    // values.schema.json refuses bad values before anything renders.
    await assert.rejects(render('sluice', 'x', ['rbac.namespaces={Bad_NS}']), /rbac\/namespaces\/0.*does not match pattern/);
    await assert.rejects(render('sluice', 'x', ['leaderElection.renewDeadline=10']), /leaderElection\/renewDeadline/);
    await assert.rejects(render('sluice', 'x', ['controller.canaryProvider=traefik']), /controller\/canaryProvider/);
  });

  test('the cluster-wide RBAC grants what sluice uses and nothing cluster-admin-like', async () => {
    const release = `rbac-${Math.random().toString(16).slice(2, 8)}`;
    const namespace = await createTestNamespace('chart-cluster');
    const objects = (await render(release, namespace)).filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
    await kubectlOk(['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
    const as = `--as=system:serviceaccount:${namespace}:${release}-sluice`;
    const can = async (...args: string[]) => (await testCluster().kubectl(['auth', 'can-i', as, ...args])).stdout.trim();
    assert.equal(await can('watch', 'canaries.sluice.dev', '--all-namespaces'), 'yes');
    assert.equal(await can('patch', 'syncs.sluice.dev/status', '-n', 'default'), 'yes');
    assert.equal(await can('create', 'deployments.apps', '-n', 'default'), 'yes');
    assert.equal(await can('create', 'events.events.k8s.io', '-n', 'default'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io/sluice-controller', '-n', namespace), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io/kube-scheduler', '-n', namespace), 'no');
    assert.equal(await can('update', 'leases.coordination.k8s.io/sluice-controller', '-n', 'kube-system'), 'no');
    assert.equal(await can('delete', 'nodes'), 'no');
    assert.equal(await can('create', 'clusterrolebindings.rbac.authorization.k8s.io'), 'no');
    assert.equal(await can('create', 'pods', '-n', 'default'), 'no');
    assert.equal(await can('delete', 'sluice.dev/gitrepositories', '-n', 'default'), 'no');
    await kubectlOk(['delete', 'clusterrole,clusterrolebinding', `${release}-sluice`]);
  });

  describe('the controller running as the chart ServiceAccount, restricted to one namespace', () => {
    let admin: KubeClient;
    let server: GitServer;
    let release: string;
    let appNamespace: string;
    let otherNamespace: string;
    let tmp: string;
    before(async () => {
      admin = testKubeClient();
      server = await startGitServer();
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-chart-'));
      release = await createTestNamespace('chart-release');
      appNamespace = await createTestNamespace('chart-app');
      otherNamespace = await createTestNamespace('chart-other');
    });
    after(async () => {
      admin.close();
      await server.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    test('caches sync, a Sync applies a Deployment from Git, a Canary rollout succeeds, and Secrets elsewhere are forbidden', async () => {
      const objects = (await render('sluice', release, [`rbac.namespaces={${appNamespace}}`]))
        .filter((o) => ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
      assert.equal(named(objects, 'ClusterRole').length, 0, 'restricted to one namespace: nothing cluster-wide');
      await kubectlOk(['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
      const token = (await kubectlOk(['create', 'token', 'sluice', '--duration=1h'], { namespace: release })).trim();
      const kubeconfig = tokenKubeconfig(token, tmp);

      // What the ServiceAccount may not do, straight from the API server.
      for (const namespace of [appNamespace, otherNamespace]) {
        await kubectlOk(['create', 'secret', 'generic', 'probe', '--from-literal=k=v'], { namespace });
      }
      const asSa = KubeClient.connect({ kubeconfig });
      try {
        const inApp = await asSa.get({ apiVersion: 'v1', kind: 'Secret', namespace: appNamespace, name: 'probe' });
        assert.equal(inApp.metadata.name, 'probe');
        await assert.rejects(asSa.get({ apiVersion: 'v1', kind: 'Secret', namespace: otherNamespace, name: 'probe' }),
          (error: unknown) => isSluiceError(error, ErrorCodes.KubeForbidden) && error.status === 403);
        await assert.rejects(asSa.list('v1', 'Secret'), (error: unknown) => isSluiceError(error, ErrorCodes.KubeForbidden));
        await assert.rejects(asSa.list('apps/v1', 'Deployment', { namespace: otherNamespace }), (error: unknown) => isSluiceError(error, ErrorCodes.KubeForbidden));
      } finally {
        asSa.close();
      }

      const repo = await server.createRepo('app');
      await repo.commitFiles({ 'deploy/web.yaml': deploymentYaml }, 'web');
      await repo.push();
      await admin.apply({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'app', namespace: appNamespace }, spec: { url: repo.url, interval: '1m', ref: { branch: repo.branch } } });
      await admin.apply({
        apiVersion: API_GROUP_VERSION, kind: 'Sync', metadata: { name: 'app', namespace: appNamespace },
        spec: { sourceRef: { kind: 'GitRepository', name: 'app' }, path: './deploy', interval: '1m', prune: true, wait: true, timeout: '60s' },
      });

      const port = await freePort();
      const child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), `--kubeconfig=${kubeconfig}`, `--health-port=${port}`,
        '--receiver-port=0', '--health-address=127.0.0.1', `--namespaces=${appNamespace}`, `--git-cache-dir=${path.join(tmp, 'git')}`,
        '--leader-elect=true', `--lease-namespace=${release}`, '--lease-name=sluice-controller'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      try {
        const startedAt = Date.now();
        await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), { timeoutMs: 30_000, what: `/readyz (output: ${output})` });
        const readyMs = Date.now() - startedAt;
        const sync = await eventually(async () => {
          const found = await admin.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: appNamespace, name: 'app' });
          return found.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? found : undefined;
        }, { timeoutMs: 60_000, what: `Sync Ready (output: ${output.slice(-4000)})` });
        const syncedMs = Date.now() - startedAt;
        assert.ok(sync.status);
        const web = await admin.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: appNamespace, name: 'web' });
        assert.equal(web.metadata.name, 'web');
        assert.doesNotMatch(output, /KUBE_FORBIDDEN|forbidden/i, 'no request of the controller was refused');
        const lease = await admin.rest.request<{ spec?: { holderIdentity?: string } }>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${release}/leases/sluice-controller` });
        assert.ok(lease.spec?.holderIdentity);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(metrics, /^sluice_reconcile_total\{controller="sync",result="success"\} [1-9]/m);

        // A Canary rollout under the same token: the nginx router generates a
        // canary Ingress, the primary gets its own HPA, Services are created,
        // every stage is an Event.
        const apply = (input: string) => kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-f', '-'], { namespace: appNamespace, input });
        await apply(JSON.stringify({
          apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'api' },
          spec: { ingressClassName: 'nginx', rules: [{ host: 'api.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api', port: { number: 80 } } } }] } }] },
        }));
        await apply(JSON.stringify({
          apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'api' },
          spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' }, minReplicas: 1, maxReplicas: 2, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }] },
        }));
        await apply(deploymentOf('api', 'example.com/api:1'));
        await admin.apply<Canary>({
          apiVersion: API_GROUP_VERSION, kind: 'Canary', metadata: { name: 'api', namespace: appNamespace },
          spec: {
            provider: 'nginx', targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' },
            ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'api' },
            autoscalerRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'api' },
            service: { port: 80, targetPort: 8080 }, analysis: { interval: '1s', threshold: 2, stepWeight: 25, maxWeight: 50 },
          },
        });
        const phase = (wanted: string, timeoutMs: number) => eventually(async () => {
          const canary = await admin.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace: appNamespace, name: 'api' });
          return canary.status?.phase === wanted ? canary : undefined;
        }, { timeoutMs, intervalMs: 200, what: `Canary api ${wanted} (output: ${output.slice(-4000)})` });
        const canaryStartedAt = Date.now();
        await phase('Initialized', 60_000);
        await apply(deploymentOf('api', 'example.com/api:2'));
        const done = await phase('Succeeded', 90_000);
        const rolloutMs = Date.now() - canaryStartedAt;
        const steps = (done.status?.history ?? []).filter((h) => /^canary weight/.test(h.message ?? '')).map((h) => h.weight);
        assert.deepEqual(steps, [25, 50]);
        const primary = await admin.get<Canary & { spec: { template: { spec: { containers: { image: string }[] } } } }>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: appNamespace, name: 'api-primary' });
        assert.equal(primary.spec.template.spec.containers[0]?.image, 'example.com/api:2');
        for (const ref of [
          { apiVersion: 'v1', kind: 'Service', name: 'api-primary' }, { apiVersion: 'v1', kind: 'Service', name: 'api-canary' },
          { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'api-canary' }, { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'api-primary' },
        ]) {
          assert.ok(await admin.find({ ...ref, namespace: appNamespace }), `${ref.kind} ${ref.name} created by the controller`);
        }
        const events = await admin.list('events.k8s.io/v1', 'Event', { namespace: appNamespace });
        assert.ok(events.items.some((e) => (e as KubeObject & { regarding?: { kind?: string } }).regarding?.kind === 'Canary'), 'Canary stages recorded as Events');
        assert.doesNotMatch(output, /KUBE_FORBIDDEN|forbidden/i, 'no request of the controller was refused during the rollout');
        process.stdout.write(`# as the chart ServiceAccount: ready after ${readyMs} ms, Sync Ready (Deployment applied and available) after ${syncedMs} ms, Canary Initialized → Succeeded in ${rolloutMs} ms\n`);
        child.kill('SIGTERM');
        assert.equal(await exited, 0, output.slice(-4000));
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
