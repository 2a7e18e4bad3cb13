// Leader election against the real API server: in-process electors on one
// Lease, then real controller processes (kill -9, SIGTERM, a stolen Lease).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { pino } from 'pino';
import { KubeClient } from '../src/kube/client.ts';
import { connect } from '../src/kube/config.ts';
import { RestClient } from '../src/kube/rest.ts';
import { LeaderElector, type Lease } from '../src/runtime/leader.ts';
import { createTestNamespace, eventually, kubectlOk, repoRoot, testCluster, testKubeClient } from './env/cluster.ts';
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

  async function startReplica(name: string): Promise<Replica> {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), `--kubeconfig=${testCluster().kubeconfig}`,
      `--health-port=${port}`, '--receiver-port=0', '--health-address=127.0.0.1', `--namespaces=${namespace}`,
      '--leader-elect=true', `--lease-namespace=${namespace}`, '--lease-name=sluice', `--lease-duration=${leaseDuration}ms`,
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
  const holderName = async () => (await leaseHolder(client, namespace, 'sluice')).split('_')[0] ?? '';
  const leads = (replica: Replica) => /"msg":"controllers started"/.test(replica.output());
  async function reconciles(replica: Replica): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
    let total = 0;
    for (const match of text.matchAll(/^sluice_reconcile_total\{controller="gitrepository",result="\w+"\} (\d+)$/gm)) total += Number(match[1]);
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
});
