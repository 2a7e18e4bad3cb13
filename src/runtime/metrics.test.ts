import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnalysisMetrics } from '../canary/analysis/metrics.ts';
import { NotifyMetrics } from '../notify/metrics.ts';
import { CanaryMetrics, ControllerMetrics, GitopsMetrics, familiesOf, queueOf, renderFamilies } from './metrics.ts';
import { WorkQueue } from './queue.ts';

/** Name and labels of `name{a="b",...}`, labels in any order. */
function parseSeries(series: string): { name: string; labels: Map<string, string> } {
  const brace = series.indexOf('{');
  const name = brace < 0 ? series : series.slice(0, brace);
  const labels = new Map([...series.slice(brace < 0 ? series.length : brace).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return { name, labels };
}

/** The value of one series in exposition text, or undefined; label order does not matter. */
function valueOf(text: string, series: string): number | undefined {
  const wanted = parseSeries(series);
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const space = line.lastIndexOf(' ');
    const got = parseSeries(line.slice(0, space));
    if (got.name === wanted.name && got.labels.size === wanted.labels.size && [...wanted.labels].every(([k, v]) => got.labels.get(k) === v)) {
      return Number(line.slice(space + 1));
    }
  }
  return undefined;
}

test('reconcile counts, time and queue gauges follow a real work queue between scrapes', async (t) => {
  const metrics = new ControllerMetrics({ processMetrics: false, extraRegistries: [] });
  const queue = new WorkQueue({ name: 'sync', concurrency: 1 });
  t.after(() => queue.shutdown({ timeoutMs: 100 }));
  metrics.watchQueue('sync', queue);
  const done: string[] = [];
  queue.start(async (key) => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    done.push(key);
    // Fails once; its retry succeeds.
    if (key === 'ns/bad' && done.filter((k) => k === key).length === 1) throw new Error('boom');
  });
  let text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_reconcile_total{controller="sync",result="success"}'), 0);
  assert.equal(valueOf(text, 'sluice_workqueue_depth{controller="sync"}'), 0);
  assert.equal(valueOf(text, 'sluice_leader'), 1);

  queue.add('ns/a');
  queue.add('ns/b');
  queue.add('ns/bad');
  while (done.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 20));
  text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_reconcile_total{controller="sync",result="success"}'), 3);
  assert.equal(valueOf(text, 'sluice_reconcile_total{controller="sync",result="error"}'), 1);
  assert.ok((valueOf(text, 'sluice_reconcile_duration_seconds_total{controller="sync"}') ?? 0) >= 0.015);
  assert.equal(valueOf(text, 'sluice_workqueue_retries_total{controller="sync"}'), 1);
  assert.equal(valueOf(text, 'sluice_workqueue_in_flight{controller="sync"}'), 0);
  // A second scrape without new reconciles reports the same counts, not double.
  text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_reconcile_total{controller="sync",result="success"}'), 3);
  await queue.shutdown({ timeoutMs: 100 });
});

test('a watched WorkQueue feeds the duration histogram by controller and result: success, error, requeue', async (t) => {
  const metrics = new ControllerMetrics({ processMetrics: false, extraRegistries: [] });
  const queue = new WorkQueue({ name: 'canary', concurrency: 1 });
  t.after(() => queue.shutdown({ timeoutMs: 100 }));
  metrics.watchQueue('canary', queue);
  let runs = 0;
  let failed = false;
  queue.start(async (key) => {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Fails once; its retry succeeds.
    if (key === 'ns/bad' && !failed) {
      failed = true;
      throw new Error('boom');
    }
    // A rollout step: succeeds and asks to run again later (far away, so it does not).
    if (key === 'ns/step') return { requeueAfterMs: 60_000 };
    return undefined;
  });
  queue.add('ns/done');
  queue.add('ns/bad');
  queue.add('ns/step');
  while (runs < 4) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const text = await metrics.render();
  for (const [result, count] of [['success', 2], ['error', 1], ['requeue', 1]] as const) {
    assert.equal(valueOf(text, `sluice_reconcile_duration_seconds_count{controller="canary",result="${result}"}`), count, result);
    assert.ok((valueOf(text, `sluice_reconcile_duration_seconds_sum{controller="canary",result="${result}"}`) ?? 0) >= 0.004 * count, result);
    assert.equal(valueOf(text, `sluice_reconcile_duration_seconds_bucket{le="+Inf",controller="canary",result="${result}"}`), count, result);
  }
  assert.equal(runs, 4);
});

test('the onReconcile observer fills the duration histogram; leader gauge follows the elector', async () => {
  const metrics = new ControllerMetrics({ processMetrics: false, extraRegistries: [] });
  const observe = metrics.reconcileObserver('canary');
  observe({ key: 'ns/a', outcome: 'success', durationMs: 30, waitMs: 1 });
  observe({ key: 'ns/a', outcome: 'error', durationMs: 3_000, waitMs: 1 });
  let leading = false;
  metrics.watchLeader(() => leading);
  let text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_reconcile_duration_seconds_bucket{le="0.05",controller="canary",result="success"}'), 1);
  assert.equal(valueOf(text, 'sluice_reconcile_duration_seconds_count{controller="canary",result="error"}'), 1);
  assert.equal(valueOf(text, 'sluice_leader'), 0);
  leading = true;
  text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_leader'), 1);
  assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
});

test('notifier and analysis snapshots are served with their types, labels escaped', async () => {
  const notify = new NotifyMetrics();
  notify.inc('sluice_notify_events_total', { severity: 'info' }, 3);
  notify.set('sluice_notify_queue_depth', 2);
  const analysis = new AnalysisMetrics();
  analysis.recordCheck({ namespace: 'apps', name: 'web' }, { metric: 'error "rate"\n', result: 'Pass', reason: 'WithinRange', value: 0.5 });
  analysis.recordCheck({ namespace: 'apps', name: 'web' }, { metric: 'latency', result: 'NoData', reason: 'NoSamples' });
  const metrics = new ControllerMetrics({ processMetrics: false, extraRegistries: [] });
  metrics.addSnapshot(() => familiesOf(notify.snapshot()));
  metrics.addSnapshot(() => analysis.snapshot());
  const text = await metrics.render();
  assert.match(text, /^# TYPE sluice_notify_events_total counter$/m);
  assert.equal(valueOf(text, 'sluice_notify_events_total{severity="info"}'), 3);
  assert.equal(valueOf(text, 'sluice_notify_queue_depth'), 2);
  assert.match(text, /^# TYPE sluice_canary_metric_value gauge$/m);
  assert.match(text, /^sluice_canary_metric_value\{namespace="apps",name="web",metric="error \\"rate\\"\\n"\} 0\.5$/m);
  assert.match(text, /^sluice_canary_metric_value\{namespace="apps",name="web",metric="latency"\} NaN$/m);
  assert.equal(renderFamilies([]), '');
});

test('Flagger-compatible canary series and GitOps series', async () => {
  const canary = new CanaryMetrics();
  const gitops = new GitopsMetrics();
  const metrics = new ControllerMetrics({ processMetrics: false, extraRegistries: [canary.registry, gitops.registry] });
  canary.setWeight('apps', 'web', 30);
  canary.setStatus('apps', 'web', 'running');
  canary.setMetricAnalysis('apps', 'web', 'request-success-rate', 99.5);
  canary.setTotal('apps', 1);
  canary.observeDuration('apps', 'web', 95);
  canary.recordResult('apps', 'web', 'success');
  canary.recordResult('apps', 'web', 'failure');
  gitops.observeFetch('apps', 'repo', 0.2);
  gitops.recordChangeSet('apps', 'app', { created: 2, unchanged: 5, pruned: 0 });
  let text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_canary_weight{workload="web",namespace="apps"}'), 30);
  assert.equal(valueOf(text, 'sluice_canary_weight{workload="web-primary",namespace="apps"}'), 70);
  assert.equal(valueOf(text, 'sluice_canary_status{name="web",namespace="apps"}'), 0);
  assert.equal(valueOf(text, 'sluice_canary_metric_analysis{metric="request-success-rate",name="web",namespace="apps"}'), 99.5);
  assert.equal(valueOf(text, 'sluice_canary_total{namespace="apps"}'), 1);
  assert.equal(valueOf(text, 'sluice_canary_duration_seconds_count{name="web",namespace="apps"}'), 1);
  assert.equal(valueOf(text, 'sluice_canary_successes_total{name="web",namespace="apps",deployment_strategy="canary",analysis_status="completed"}'), 1);
  assert.equal(valueOf(text, 'sluice_canary_failures_total{name="web",namespace="apps",deployment_strategy="canary",analysis_status="failed"}'), 1);
  assert.equal(valueOf(text, 'sluice_git_fetch_duration_seconds_count{namespace="apps",name="repo",outcome="success"}'), 1);
  assert.equal(valueOf(text, 'sluice_sync_changes_total{namespace="apps",name="app",action="created"}'), 2);
  assert.equal(valueOf(text, 'sluice_sync_changes_total{namespace="apps",name="app",action="pruned"}'), undefined);
  canary.setStatus('apps', 'web', 'succeeded');
  canary.forget('apps', 'web');
  text = await metrics.render();
  assert.equal(valueOf(text, 'sluice_canary_weight{workload="web",namespace="apps"}'), undefined);
  assert.equal(valueOf(text, 'sluice_canary_metric_analysis{metric="request-success-rate",name="web",namespace="apps"}'), undefined);
});

test('process metrics are on by default; queueOf finds a framework controller queue', async () => {
  const metrics = new ControllerMetrics({ extraRegistries: [] });
  assert.match(await metrics.render(), /^process_cpu_user_seconds_total /m);
  const queue = new WorkQueue({ name: 'x' });
  assert.equal(queueOf({ controller: { queue } }), queue);
  assert.equal(queueOf({ name: 'other' }), undefined);
});

test('the Git cache series are read at scrape time; evictions only go up', async () => {
  const metrics = new GitopsMetrics();
  let figures = { entries: 2, totalBytes: 4096, maxBytes: 8192, evictions: 3 };
  metrics.watchGitCache(() => Promise.resolve(figures));
  let text = await metrics.registry.metrics();
  assert.match(text, /^sluice_git_cache_bytes 4096$/m);
  assert.match(text, /^sluice_git_cache_entries 2$/m);
  assert.match(text, /^sluice_git_cache_max_bytes 8192$/m);
  assert.match(text, /^sluice_git_cache_evictions_total 3$/m);
  figures = { entries: 1, totalBytes: 1024, maxBytes: 8192, evictions: 5 };
  text = await metrics.registry.metrics();
  assert.match(text, /^sluice_git_cache_bytes 1024$/m);
  assert.match(text, /^sluice_git_cache_evictions_total 5$/m);
});
