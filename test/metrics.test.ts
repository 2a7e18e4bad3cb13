// /metrics of a real controller process: the series are there, and their
// values move when reconciles happen.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createTestNamespace, eventually, kubectlOk, repoRoot, testCluster } from './env/cluster.ts';
import { freePort } from './env/ports.ts';

/** Sum of a series over the label sets that include `labels`. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}

describe('/metrics of the controller process', () => {
  let namespace: string;
  let child: ChildProcess;
  let port: number;
  let output = '';
  before(async () => {
    namespace = await createTestNamespace('metrics');
    port = await freePort();
    child = spawn(process.execPath, [path.join(repoRoot, 'src/main.ts'), `--kubeconfig=${testCluster().kubeconfig}`, `--health-port=${port}`,
      '--receiver-port=0', '--health-address=127.0.0.1', `--namespaces=${namespace}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), { timeoutMs: 30_000, what: `/readyz (${output})` });
  });
  after(() => child.kill('SIGKILL'));

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  test('series for every controller, the leader, the process and the canary families; reconcile counts move', async () => {
    let text = await scrape();
    for (const controller of ['gitrepository', 'receiver', 'sync', 'canary']) {
      assert.match(text, new RegExp(`^sluice_workqueue_depth\\{controller="${controller}"\\} \\d+$`, 'm'), controller);
    }
    assert.equal(sum(text, 'sluice_leader'), 1);
    assert.ok(sum(text, 'process_resident_memory_bytes') > 0);
    for (const family of ['sluice_canary_status', 'sluice_canary_weight', 'sluice_canary_metric_analysis', 'sluice_canary_duration_seconds', 'sluice_canary_successes_total', 'sluice_canary_failures_total', 'sluice_reconcile_duration_seconds']) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
    }
    const before = sum(text, 'sluice_reconcile_total', { controller: 'gitrepository' });

    // A repository nobody serves: the reconcile reports FetchFailed in status (and retries later).
    await kubectlOk(['apply', '-f', '-'], {
      namespace, input: JSON.stringify({ apiVersion: 'sluice.dev/v1alpha1', kind: 'GitRepository', metadata: { name: 'gone' }, spec: { url: 'http://127.0.0.1:1/gone.git', interval: '1m' } }),
    });
    text = await eventually(async () => {
      const next = await scrape();
      return sum(next, 'sluice_reconcile_total', { controller: 'gitrepository' }) > before ? next : undefined;
    }, { timeoutMs: 20_000, what: 'a reconcile counted' });
    assert.ok(sum(text, 'sluice_reconcile_duration_seconds_total', { controller: 'gitrepository' }) > 0);
    // The histogram is fed by the work queue: every counted reconcile is an observation, with its result.
    const observed = sum(text, 'sluice_reconcile_duration_seconds_count', { controller: 'gitrepository' });
    assert.ok(observed > 0, 'sluice_reconcile_duration_seconds has observations');
    assert.ok(sum(text, 'sluice_reconcile_duration_seconds_sum', { controller: 'gitrepository' }) > 0);
    assert.equal(sum(text, 'sluice_reconcile_duration_seconds_bucket', { controller: 'gitrepository', le: '+Inf' }), observed);
    assert.equal(observed, sum(text, 'sluice_reconcile_total', { controller: 'gitrepository' }), 'one observation per counted reconcile');
    assert.match(text, /^sluice_reconcile_duration_seconds_count\{controller="gitrepository",result="(success|error|requeue)"\} [1-9]/m);
    // The failure became an Event through the notifier, which counts it.
    text = await eventually(async () => {
      const next = await scrape();
      return sum(next, 'sluice_notify_events_total') >= 1 ? next : undefined;
    }, { timeoutMs: 20_000, what: 'a notifier event counted' });

    const count = sum(text, 'sluice_reconcile_total', { controller: 'gitrepository' });
    await kubectlOk(['annotate', '--overwrite', 'gitrepository', 'gone', `sluice.dev/requestedAt=${Date.now()}`], { namespace });
    await eventually(async () => (sum(await scrape(), 'sluice_reconcile_total', { controller: 'gitrepository' }) > count ? true : undefined),
      { timeoutMs: 20_000, what: 'the requested reconcile counted' });
  });
});
