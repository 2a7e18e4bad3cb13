// Leader election against the real API server: in-process electors on one
// Lease, then real controller processes (kill -9, SIGTERM, a stolen Lease),
// and a Canary rollout that two processes finish once across a kill -9 of the
// leader, while the standby keeps warm caches and serves Receiver webhooks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { pino } from 'pino';
import { API_GROUP_VERSION, type Alert, type Canary, type GitRepository, type Receiver } from '../src/api/types.ts';
import { KubeClient } from '../src/kube/client.ts';
import { connect } from '../src/kube/config.ts';
import { RestClient } from '../src/kube/rest.ts';
import { ClusterNotifier } from '../src/notify/notifier.ts';
import { REQUESTED_AT_ANNOTATION } from '../src/runtime/controller.ts';
import { LeaderElector, type Lease } from '../src/runtime/leader.ts';
import { createTestNamespace, eventually, kubectlOk, repoRoot, testCluster, testKubeClient } from './env/cluster.ts';
import { deploymentYaml } from './env/manifests.ts';
import { freePort } from './env/ports.ts';
import { startTcpProxy } from './env/tcp-proxy.ts';

const logger = pino({ level: 'silent' });

async function leaseHolder(client: KubeClient, namespace: string, name: string): Promise<string> {
  const lease = await client.rest.request<Lease>({ method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}` });
  return lease.spec?.holderIdentity ?? '';
}

describe('LeaderElector in process', () => {
  let client: KubeClient;
  let namespace: string;
  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('leader-unit');
  });
  after(() => client.close());

  test('exactly one of two leads; release on stop hands over at once', async () => {
    const started: string[] = [];
    const stopped: string[] = [];
    const make = (identity: string) => new LeaderElector({
      client, namespace, name: 'pair', identity, logger, leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 300,
      onStartedLeading: () => { started.push(identity); },
      onStoppedLeading: () => { stopped.push(identity); },
    });
    const a = make('a');
    const b = make('b');
    a.start();
    b.start();
    try {
      const leader = await eventually(() => (a.isLeader ? a : b.isLeader ? b : undefined), { timeoutMs: 10_000, what: 'a leader' });
      const standby = leader === a ? b : a;
      // Several renew rounds: leadership must stay put and never be shared.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(leader.isLeader && !standby.isLeader, true);
      assert.deepEqual(started, [leader.identity]);
      assert.equal(await leaseHolder(client, namespace, 'pair'), leader.identity);
      assert.equal(standby.health().ok, true, standby.health().message);
      assert.match(standby.health().message, new RegExp(`leader is ${leader.identity}`));

      const stoppedAt = Date.now();
      await leader.stop();
      await eventually(() => (standby.isLeader ? true : undefined), { timeoutMs: 10_000, what: 'standby takes over' });
      const takeoverMs = Date.now() - stoppedAt;
      // A released Lease is taken in about one retry period, far below the 6 s lease duration.
      assert.ok(takeoverMs < 2_000, `takeover after release took ${takeoverMs} ms`);
      assert.equal(await leaseHolder(client, namespace, 'pair'), standby.identity);
      assert.deepEqual(stopped, [], 'stop() is not a lost leadership');
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test('a leader whose Lease is taken by someone else steps down at its next renew', async () => {
    const lost: string[] = [];
    const elector = new LeaderElector({
      client, namespace, name: 'stolen', identity: 'victim', logger, leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 300,
      onStartedLeading: () => undefined,
      onStoppedLeading: (reason) => { lost.push(reason); },
    });
    elector.start();
    try {
      await eventually(() => (elector.isLeader ? true : undefined), { timeoutMs: 10_000, what: 'leading' });
      await kubectlOk(['patch', 'lease', 'stolen', '--type=merge', '-p', '{"spec":{"holderIdentity":"intruder"}}'], { namespace });
      await eventually(() => (lost.length > 0 ? true : undefined), { timeoutMs: 5_000, what: 'step down' });
      assert.equal(elector.isLeader, false);
      assert.match(lost[0] ?? '', /held by intruder/);
      // It does not take the Lease back before a whole lease duration without renewals.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(await leaseHolder(client, namespace, 'stolen'), 'intruder');
    } finally {
      await elector.stop();
    }
  });

  test('a leader cut off from the API server steps down after the renew deadline, before anyone else can lead', async () => {
    const direct = connect({ kubeconfig: testCluster().kubeconfig });
    const target = new URL(direct.server);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const cutOff = new KubeClient(new RestClient({ ...direct, server: `https://127.0.0.1:${proxy.port}` }));
    const timings = { leaseDurationMs: 4_000, renewDeadlineMs: 2_500, retryPeriodMs: 250 };
    let lostAt = 0;
    let takenAt = 0;
    const a = new LeaderElector({
      client: cutOff, namespace, name: 'partition', identity: 'a', logger, ...timings,
      onStartedLeading: () => undefined, onStoppedLeading: () => { lostAt = Date.now(); },
    });
    const b = new LeaderElector({
      client, namespace, name: 'partition', identity: 'b', logger, ...timings,
      onStartedLeading: () => { takenAt = Date.now(); }, onStoppedLeading: () => undefined,
    });
    try {
      a.start();
      await eventually(() => (a.isLeader ? true : undefined), { timeoutMs: 10_000, what: 'a leads' });
      b.start();
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(b.isLeader, false);
      const silencedAt = Date.now();
      proxy.silence();
      await eventually(() => (takenAt > 0 ? true : undefined), { timeoutMs: 15_000, what: 'b takes over' });
      assert.ok(lostAt > 0, 'a stepped down');
      // The old leader stopped before the new one started: never two leaders at once.
      assert.ok(lostAt < takenAt, `a stepped down at +${lostAt - silencedAt} ms, b led at +${takenAt - silencedAt} ms`);
      assert.ok(lostAt - silencedAt <= timings.renewDeadlineMs + timings.retryPeriodMs + 1_500, `a stepped down only after ${lostAt - silencedAt} ms`);
      // A standby that cannot read the Lease for a lease duration is not ready.
      await eventually(() => (a.health().ok ? undefined : true), { timeoutMs: 2_000, what: 'cut-off standby unready' });
      assert.match(a.health().message, /cannot read Lease/);
      process.stdout.write(`# partitioned leader stepped down after ${lostAt - silencedAt} ms; new leader after ${takenAt - silencedAt} ms (renew deadline ${timings.renewDeadlineMs} ms, lease ${timings.leaseDurationMs} ms)\n`);
    } finally {
      await b.stop();
      proxy.restore();
      await a.stop();
      cutOff.close();
      await proxy.close();
    }
  });

  test('a standby notifier keeps its caches but writes no Alert status until it leads', async () => {
    await client.apply({ apiVersion: API_GROUP_VERSION, kind: 'Alert', metadata: { name: 'ops', namespace }, spec: { providerRef: { name: 'missing' }, eventSources: [{ kind: 'Canary', name: '*' }] } });
    const notifier = new ClusterNotifier({ client, namespace, logger, holdStatusWrites: true, statusRecheckMs: 300 });
    const readyOf = async () => (await client.get<Alert>({ apiVersion: API_GROUP_VERSION, kind: 'Alert', namespace, name: 'ops' })).status?.conditions?.find((c) => c.type === 'Ready');
    try {
      await notifier.waitForSync(AbortSignal.timeout(20_000));
      assert.equal(notifier.writesStatus, false);
      // Long enough for a writing notifier to have written it several times over.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(await readyOf(), undefined, 'a standby wrote Alert status');
      notifier.startStatusWrites();
      assert.equal(notifier.writesStatus, true);
      const condition = await eventually(async () => await readyOf(), { timeoutMs: 10_000, what: 'Alert Ready written once leading' });
      assert.equal(condition.status, 'False');
      assert.equal(condition.reason, 'ProviderNotFound');
    } finally {
      await notifier.stop(1_000);
    }
  });

  test('bad timings are refused', () => {
    assert.throws(() => new LeaderElector({
      client, namespace, name: 'x', logger, leaseDurationMs: 5_000, renewDeadlineMs: 5_000, retryPeriodMs: 1_000,
      onStartedLeading: () => undefined, onStoppedLeading: () => undefined,
    }), /lease duration \(5000 ms\) must be longer than the renew deadline/);
  });
});

interface Replica {
  name: string;
  child: ChildProcessWithoutNullStreams;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

describe('controller processes with --leader-elect', () => {
  let client: KubeClient;
  let namespace: string;
  const replicas: Replica[] = [];
  const leaseDuration = 4_000;
  const retryPeriod = 500;

  before(async () => {
    client = testKubeClient();
    namespace = await createTestNamespace('leader');
    // Something to reconcile: its fetch fails (nothing listens), which is a reconcile all the same.
    await kubectlOk(['apply', '-f', '-'], {
      namespace, input: JSON.stringify({ apiVersion: 'sluice.dev/v1alpha1', kind: 'GitRepository', metadata: { name: 'app' }, spec: { url: 'http://127.0.0.1:1/app.git', interval: '1m' } }),
    });
  });
  after(() => {
    for (const replica of replicas) replica.child.kill('SIGKILL');
    client.close();
  });

  async function startReplica(name: string, options: { namespace?: string; leaseName?: string; receiverPort?: number } = {}): Promise<Replica> {
    const port = await freePort();
    const watched = options.namespace ?? namespace;
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), `--kubeconfig=${testCluster().kubeconfig}`,
      `--health-port=${port}`, `--receiver-port=${options.receiverPort ?? 0}`, '--health-address=127.0.0.1', `--namespaces=${watched}`,
      '--leader-elect=true', `--lease-namespace=${watched}`, `--lease-name=${options.leaseName ?? 'sluice'}`, `--lease-duration=${leaseDuration}ms`,
      '--renew-deadline=3s', `--retry-period=${retryPeriod}ms`], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: name } });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const replica: Replica = { name, child, port, output: () => output, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
    replicas.push(replica);
    return replica;
  }

  const ready = (replica: Replica) => eventually(async () => ((await fetch(`http://127.0.0.1:${replica.port}/readyz`)).status === 200 ? true : undefined),
    { timeoutMs: 30_000, what: `${replica.name} /readyz (output: ${replica.output()})` });
  const holderName = async (lease = { namespace, name: 'sluice' }) => (await leaseHolder(client, lease.namespace, lease.name)).split('_')[0] ?? '';
  const leads = (replica: Replica) => /"msg":"controllers started"/.test(replica.output());
  async function reconciles(replica: Replica, controller = 'gitrepository'): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
    let total = 0;
    for (const match of text.matchAll(new RegExp(`^sluice_reconcile_total\\{controller="${controller}",result="\\w+"\\} (\\d+)$`, 'gm'))) total += Number(match[1]);
    return total;
  }

  test('exactly one of two replicas reconciles; kill -9 hands over within the lease duration; SIGTERM at once', async () => {
    const a = await startReplica('replica-a');
    const b = await startReplica('replica-b');
    await ready(a);
    await ready(b);
    const first = await eventually(async () => {
      const holder = await holderName();
      return holder === 'replica-a' ? a : holder === 'replica-b' ? b : undefined;
    }, { timeoutMs: 15_000, what: 'a Lease holder' });
    const second = first === a ? b : a;
    await eventually(async () => ((await reconciles(first)) > 0 ? true : undefined), { timeoutMs: 20_000, what: `reconciles on the leader (output: ${first.output()})` });
    // Give the standby every chance to (wrongly) reconcile as well.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(leads(first), true);
    assert.equal(leads(second), false, second.output());
    assert.equal(await reconciles(second), 0);
    assert.match(await (await fetch(`http://127.0.0.1:${first.port}/metrics`)).text(), /^sluice_leader 1$/m);
    assert.match(await (await fetch(`http://127.0.0.1:${second.port}/metrics`)).text(), /^sluice_leader 0$/m);

    // kill -9: no release, so the standby waits out the lease duration (as observed by itself).
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await first.exited;
    await eventually(async () => ((await holderName()) === second.name && leads(second) ? true : undefined), { timeoutMs: 20_000, what: 'takeover after kill -9' });
    const killTakeoverMs = Date.now() - killedAt;
    assert.ok(killTakeoverMs <= leaseDuration + 2 * retryPeriod + 1_500, `takeover after kill -9 took ${killTakeoverMs} ms`);
    assert.ok(killTakeoverMs >= leaseDuration - retryPeriod, `takeover after kill -9 took only ${killTakeoverMs} ms: the Lease was not respected`);
    await eventually(async () => ((await reconciles(second)) > 0 ? true : undefined), { timeoutMs: 20_000, what: 'reconciles on the new leader' });
    await ready(second);

    // SIGTERM: the leader releases the Lease, a fresh standby takes it at once.
    const c = await startReplica('replica-c');
    await ready(c);
    assert.equal(leads(c), false);
    const termAt = Date.now();
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /released the Lease/);
    await eventually(async () => ((await holderName()) === 'replica-c' && leads(c) ? true : undefined), { timeoutMs: 20_000, intervalMs: 50, what: 'takeover after SIGTERM' });
    const termTakeoverMs = Date.now() - termAt;
    assert.ok(termTakeoverMs < leaseDuration, `takeover after SIGTERM took ${termTakeoverMs} ms`);
    process.stdout.write(`# takeover after kill -9: ${killTakeoverMs} ms; after SIGTERM (incl. graceful stop): ${termTakeoverMs} ms; lease ${leaseDuration} ms, retry ${retryPeriod} ms\n`);

    // A leader whose Lease is taken away stops and exits 1 (a restart campaigns afresh).
    await kubectlOk(['patch', 'lease', 'sluice', '--type=merge', '-p', '{"spec":{"holderIdentity":"intruder"}}'], { namespace });
    assert.equal(await c.exited, 1, c.output());
    assert.match(c.output(), /lost leadership/);
  });
  test('a Canary rollout survives a kill -9 of the leader: the warm standby takes over within the lease and finishes it once; standbys serve webhooks', async () => {
    const ns = await createTestNamespace('leader-canary');
    const lease = { namespace: ns, name: 'sluice-canary' };
    const iterations = 4;
    const canaryRef = { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace: ns, name: 'app' };
    const getCanary = () => client.get<Canary>(canaryRef);
    // The target, applied as Git would (another field manager).
    await kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-f', '-'], { namespace: ns, input: deploymentYaml('app', 'example.com/app:1') });
    await client.apply<Canary>({
      apiVersion: API_GROUP_VERSION, kind: 'Canary', metadata: { name: 'app', namespace: ns },
      spec: { provider: 'kubernetes', targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' }, service: { port: 80, targetPort: 8080 }, analysis: { interval: '1s', threshold: 2, iterations } },
    });
    // A Receiver whose webhook requests a reconcile of a GitRepository.
    await client.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hook-token', namespace: ns }, stringData: { token: 'standby-test-token' } });
    await client.apply<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', metadata: { name: 'src', namespace: ns }, spec: { url: 'http://127.0.0.1:1/src.git', interval: '10m' } });
    await client.apply<Receiver>({ apiVersion: API_GROUP_VERSION, kind: 'Receiver', metadata: { name: 'push', namespace: ns }, spec: { type: 'generic', secretRef: { name: 'hook-token' }, resources: [{ kind: 'GitRepository', name: 'src' }] } });

    const receiverPorts = new Map<string, number>();
    for (const name of ['canary-a', 'canary-b']) receiverPorts.set(name, await freePort());
    const a = await startReplica('canary-a', { namespace: ns, leaseName: lease.name, receiverPort: receiverPorts.get('canary-a') });
    const b = await startReplica('canary-b', { namespace: ns, leaseName: lease.name, receiverPort: receiverPorts.get('canary-b') });
    // /readyz of a standby means its caches have synced and it stands by.
    await ready(a);
    await ready(b);
    const leader = await eventually(async () => {
      const holder = await holderName(lease);
      const found = holder === 'canary-a' ? a : holder === 'canary-b' ? b : undefined;
      return found && leads(found) ? found : undefined;
    }, { timeoutMs: 15_000, what: 'a Lease holder' });
    const standby = leader === a ? b : a;
    await eventually(async () => ((await getCanary()).status?.phase === 'Initialized' ? true : undefined), { timeoutMs: 60_000, intervalMs: 200, what: `Canary Initialized (leader output: ${leader.output().slice(-3000)})` });
    assert.match(standby.output(), /caches started; standing by for the Lease/);
    assert.equal(leads(standby), false);

    // The standby answers webhooks (the Service sends them to every ready pod).
    const webhookPath = await eventually(async () => (await client.get<Receiver>({ apiVersion: API_GROUP_VERSION, kind: 'Receiver', namespace: ns, name: 'push' })).status?.webhookPath,
      { timeoutMs: 20_000, what: 'Receiver status.webhookPath (written by the leader)' });
    const hook = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${receiverPorts.get(standby.name)}${webhookPath}`, { method: 'POST', body: '{}' });
      return res.status === 200 ? res.text() : undefined;
    }, { timeoutMs: 20_000, what: 'the standby serves the webhook' });
    assert.match(hook, /reconcile requested for 1 object/);
    const requested = (await client.get<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace: ns, name: 'src' })).metadata.annotations?.[REQUESTED_AT_ANNOTATION];
    assert.ok(requested, 'the standby annotated the GitRepository');
    // ... and reconciled nothing that is the leader's: no Canary, no GitRepository.
    assert.equal(await reconciles(standby, 'canary'), 0);
    assert.equal(await reconciles(standby, 'gitrepository'), 0);
    assert.ok(await reconciles(leader, 'canary') > 0);

    // A new version; kill the leader once the rollout is under way.
    await kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=git', '-f', '-'], { namespace: ns, input: deploymentYaml('app', 'example.com/app:2') });
    const midway = await eventually(async () => {
      const canary = await getCanary();
      return canary.status?.phase === 'Progressing' && (canary.status.iterations ?? 0) >= 1 ? canary : undefined;
    }, { timeoutMs: 60_000, intervalMs: 50, what: 'rollout under way' });
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited;
    const killedAtIteration = midway.status?.iterations ?? 0;
    assert.ok(killedAtIteration < iterations, `killed at iteration ${killedAtIteration}`);

    await eventually(async () => ((await holderName(lease)) === standby.name && leads(standby) ? true : undefined), { timeoutMs: 20_000, intervalMs: 50, what: 'takeover after kill -9' });
    const takeoverMs = Date.now() - killedAt;
    assert.ok(takeoverMs <= leaseDuration + 2 * retryPeriod + 1_500, `takeover after kill -9 took ${takeoverMs} ms`);
    assert.ok(takeoverMs >= leaseDuration - retryPeriod, `takeover after kill -9 took only ${takeoverMs} ms: the Lease was not respected`);
    // Warm caches: the first Canary reconcile follows the takeover at once.
    await eventually(async () => ((await reconciles(standby, 'canary')) > 0 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: 'a Canary reconcile on the new leader' });
    const firstReconcileMs = Date.now() - killedAt;

    const done = await eventually(async () => {
      const canary = await getCanary();
      return canary.status?.phase === 'Succeeded' ? canary : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200, what: `Canary Succeeded (new leader output: ${standby.output().slice(-3000)})` });
    const finishedMs = Date.now() - killedAt;
    // Once: it stays Succeeded, and every step is in the history exactly once.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const after = await getCanary();
    assert.equal(after.status?.phase, 'Succeeded');
    const history = after.status?.history ?? [];
    assert.equal(history.length, done.status?.history?.length, 'nothing was recorded after Succeeded');
    const steps = history.map((h) => h.message ?? '').filter((m) => /^iteration \d+ of \d+ passed$/.test(m));
    // The last iteration is recorded as the promotion ("analysis passed"), not as a passed iteration.
    assert.deepEqual(steps, Array.from({ length: iterations - 1 }, (_, i) => `iteration ${i + 1} of ${iterations} passed`), 'each iteration once, in order');
    assert.equal(history.filter((h) => h.phase === 'Promoting' && h.message === 'analysis passed').length, 1, 'one promotion');
    assert.equal(history.filter((h, i) => h.phase === 'Promoting' && history[i - 1]?.phase !== 'Promoting').length, 1, 'Promoting entered once');
    assert.equal(history.filter((h) => h.phase === 'Succeeded').length, 1);
    assert.equal(after.status?.iterations, iterations);
    const primary = await client.get<{ spec: { template: { spec: { containers: { image: string }[] } } } } & Canary>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-primary' });
    assert.equal(primary.spec.template.spec.containers[0]?.image, 'example.com/app:2');
    process.stdout.write(`# canary across kill -9 at iteration ${killedAtIteration}/${iterations}: takeover ${takeoverMs} ms, first Canary reconcile on the new leader ${firstReconcileMs} ms, Succeeded ${finishedMs} ms after the kill (lease ${leaseDuration} ms, interval 1 s)\n`);
  });
});
