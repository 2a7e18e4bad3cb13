// The controller's /metrics: prom-client series for reconciles, work queues,
// leader election and the process, plus the plain-data snapshots that other
// modules keep (the notifier's counters, canary analysis), rendered in the
// Prometheus text format. Modules that observe something themselves (the
// canary state machine, Git fetches, applies) call the process-wide
// `canaryMetrics` and `gitopsMetrics` below; their series carry Flagger's names
// with a sluice_ prefix so Flagger dashboards and alert rules port over by
// renaming flagger_ to sluice_.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { WorkQueue, type QueueStats, type ReconcileSample } from './queue.ts';

/** A sample of a plain-data snapshot (src/notify/metrics.ts). */
export interface SnapshotSample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: Readonly<Record<string, string>>;
  value: number;
}

/** A family of a plain-data snapshot (src/canary/analysis/metrics.ts). */
export interface SnapshotFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels: Readonly<Record<string, string>>; value: number }[];
}

export type SnapshotSource = () => readonly SnapshotFamily[];

const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Groups flat samples (notifier style) into families. */
export function familiesOf(samples: readonly SnapshotSample[]): SnapshotFamily[] {
  const families = new Map<string, SnapshotFamily>();
  for (const sample of samples) {
    let family = families.get(sample.name);
    if (!family) families.set(sample.name, family = { name: sample.name, help: sample.help, type: sample.type, samples: [] });
    family.samples.push({ labels: sample.labels, value: sample.value });
  }
  return [...families.values()];
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** Renders families in the Prometheus text exposition format (version 0.0.4). */
export function renderFamilies(families: readonly SnapshotFamily[]): string {
  let text = '';
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(',');
      text += `${family.name}${labels ? `{${labels}}` : ''} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}

/** Flagger's canary phases as numbers, as flagger_canary_status: 0 running, 1 succeeded, 2 failed. */
export const CanaryStatusValue = { running: 0, succeeded: 1, failed: 2 } as const;
export type CanaryStatus = keyof typeof CanaryStatusValue;

/**
 * Flagger-compatible canary series. The canary controller calls these as it
 * moves a Canary; forget() drops a deleted Canary's series.
 */
export class CanaryMetrics {
  readonly registry = new Registry();
  readonly #status = new Gauge({ name: 'sluice_canary_status', help: 'Last canary analysis result: 0 running, 1 succeeded, 2 failed (as flagger_canary_status).', labelNames: ['name', 'namespace'], registers: [this.registry] });
  readonly #weight = new Gauge({ name: 'sluice_canary_weight', help: 'Percentage of traffic routed to the workload (as flagger_canary_weight; canary and primary series).', labelNames: ['workload', 'namespace'], registers: [this.registry] });
  readonly #analysis = new Gauge({ name: 'sluice_canary_metric_analysis', help: 'Last value of each canary analysis metric (as flagger_canary_metric_analysis).', labelNames: ['metric', 'name', 'namespace'], registers: [this.registry] });
  readonly #duration = new Histogram({ name: 'sluice_canary_duration_seconds', help: 'Seconds each canary analysis took (as flagger_canary_duration_seconds).', labelNames: ['name', 'namespace'], buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200], registers: [this.registry] });
  readonly #total = new Gauge({ name: 'sluice_canary_total', help: 'Number of Canaries per namespace (as flagger_canary_total).', labelNames: ['namespace'], registers: [this.registry] });
  readonly #successes = new Counter({ name: 'sluice_canary_successes_total', help: 'Canary analyses that ended in promotion (as flagger_canary_successes_total).', labelNames: ['name', 'namespace', 'deployment_strategy', 'analysis_status'], registers: [this.registry] });
  readonly #failures = new Counter({ name: 'sluice_canary_failures_total', help: 'Canary analyses that ended in rollback (as flagger_canary_failures_total).', labelNames: ['name', 'namespace', 'deployment_strategy', 'analysis_status'], registers: [this.registry] });

  setStatus(namespace: string, name: string, status: CanaryStatus): void {
    this.#status.set({ namespace, name }, CanaryStatusValue[status]);
  }

  /** Canary weight; the primary gets 100 - weight, as Flagger reports both workloads. */
  setWeight(namespace: string, name: string, weight: number, primaryName = `${name}-primary`): void {
    this.#weight.set({ namespace, workload: name }, weight);
    this.#weight.set({ namespace, workload: primaryName }, 100 - weight);
  }

  readonly #analysisNames = new Map<string, Set<string>>();

  setMetricAnalysis(namespace: string, name: string, metric: string, value: number): void {
    this.#analysis.set({ namespace, name, metric }, value);
    const key = `${namespace}/${name}`;
    let names = this.#analysisNames.get(key);
    if (!names) this.#analysisNames.set(key, names = new Set());
    names.add(metric);
  }

  observeDuration(namespace: string, name: string, seconds: number): void {
    this.#duration.observe({ namespace, name }, seconds);
  }

  setTotal(namespace: string, count: number): void {
    this.#total.set({ namespace }, count);
  }

  /** A finished analysis: promoted (success) or rolled back (failure). */
  recordResult(namespace: string, name: string, outcome: 'success' | 'failure', options: { strategy?: string; analysisStatus?: string } = {}): void {
    const labels = { namespace, name, deployment_strategy: options.strategy ?? 'canary', analysis_status: options.analysisStatus ?? (outcome === 'success' ? 'completed' : 'failed') };
    (outcome === 'success' ? this.#successes : this.#failures).inc(labels);
  }

  forget(namespace: string, name: string, primaryName = `${name}-primary`): void {
    this.#status.remove({ namespace, name });
    this.#weight.remove({ namespace, workload: name });
    this.#weight.remove({ namespace, workload: primaryName });
    for (const metric of this.#analysisNames.get(`${namespace}/${name}`) ?? []) this.#analysis.remove({ namespace, name, metric });
    this.#analysisNames.delete(`${namespace}/${name}`);
  }
}

/** Git fetch durations and apply change sets, called by the GitOps controllers. */
export interface GitCacheFigures {
  entries: number;
  totalBytes: number;
  maxBytes: number;
  evictions: number;
}

export class GitopsMetrics {
  readonly registry = new Registry();
  readonly #fetch = new Histogram({ name: 'sluice_git_fetch_duration_seconds', help: 'Seconds a GitRepository fetch took, by outcome (success, error).', labelNames: ['namespace', 'name', 'outcome'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly #changes = new Counter({ name: 'sluice_sync_changes_total', help: 'Objects a Sync applied, by action (created, configured, unchanged, pruned).', labelNames: ['namespace', 'name', 'action'], registers: [this.registry] });

  observeFetch(namespace: string, name: string, seconds: number, outcome: 'success' | 'error' = 'success'): void {
    this.#fetch.observe({ namespace, name, outcome }, seconds);
  }

  #cacheStats: (() => Promise<GitCacheFigures>) | undefined;
  #evictionsSeen = 0;

  constructor() {
    const read = async (): Promise<GitCacheFigures | undefined> => {
      const figures = await this.#cacheStats?.();
      if (figures && figures.evictions > this.#evictionsSeen) {
        evictions.inc(figures.evictions - this.#evictionsSeen);
        this.#evictionsSeen = figures.evictions;
      }
      return figures;
    };
    // The cache counts its evictions; the counter catches up with it at scrape time.
    const evictions = new Counter({
      name: 'sluice_git_cache_evictions_total', help: 'Git cache entries evicted to stay under --git-cache-max-bytes.', registers: [this.registry],
      async collect() { await read(); },
    });
    const gauge = (name: string, help: string, pick: (figures: GitCacheFigures) => number) => new Gauge({
      name, help, registers: [this.registry],
      async collect() {
        const figures = await read();
        if (figures) this.set(pick(figures));
      },
    });
    gauge('sluice_git_cache_bytes', 'Bytes on disk of the Git object cache (--git-cache-dir).', (f) => f.totalBytes);
    gauge('sluice_git_cache_entries', 'Repositories in the Git object cache.', (f) => f.entries);
    gauge('sluice_git_cache_max_bytes', 'The bound --git-cache-max-bytes (0: unbounded).', (f) => f.maxBytes);
  }

  /** The Git cache whose figures the sluice_git_cache_* series report (read at scrape time). */
  watchGitCache(stats: () => Promise<GitCacheFigures>): void {
    this.#cacheStats = stats;
  }

  recordChangeSet(namespace: string, name: string, counts: Partial<Record<'created' | 'configured' | 'unchanged' | 'pruned', number>>): void {
    for (const [action, count] of Object.entries(counts)) {
      if (count) this.#changes.inc({ namespace, name, action }, count);
    }
  }
}

/** Process-wide instances: modules import these and record as things happen. */
export const canaryMetrics = new CanaryMetrics();
export const gitopsMetrics = new GitopsMetrics();

interface WatchedQueue {
  stats: () => QueueStats;
  seen: { reconciles: number; failures: number; retries: number; reconcileMsTotal: number };
}

export interface ControllerMetricsOptions {
  /** process_* and nodejs_* series from prom-client; default true. */
  processMetrics?: boolean;
  /** Registries whose series are served too; default the process-wide canary and GitOps ones. */
  extraRegistries?: readonly Registry[];
}

/**
 * The work queue of a running controller, when it has one: the controllers in
 * src/controllers.ts keep their framework Controller in `controller`.
 */
export function queueOf(running: object): WorkQueue | undefined {
  const inner: unknown = (running as { controller?: { queue?: unknown } }).controller?.queue;
  return inner instanceof WorkQueue ? inner : undefined;
}

/** Everything the controller process serves on /metrics. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly #queues = new Map<string, WatchedQueue>();
  readonly #snapshots: SnapshotSource[] = [];
  readonly #extra: readonly Registry[];
  #isLeader: () => boolean = () => true;

  readonly #reconcileDuration: Histogram<'controller' | 'result'>;

  constructor(options: ControllerMetricsOptions = {}) {
    this.#extra = options.extraRegistries ?? [canaryMetrics.registry, gitopsMetrics.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const queues = this.#queues;
    // Counters follow the queues' own monotonic counters, read at scrape time.
    const deltas = (pick: (stats: QueueStats, seen: WatchedQueue['seen']) => [string, number][]) => function collect(this: Counter<'controller' | 'result'>): void {
      for (const [controller, queue] of queues) {
        for (const [result, delta] of pick(queue.stats(), queue.seen)) {
          this.inc(result === '' ? { controller } : { controller, result }, delta);
        }
      }
    };
    new Counter({
      name: 'sluice_reconcile_total', help: 'Reconciles finished, by controller and result (success, error).', labelNames: ['controller', 'result'], registers: [this.registry],
      collect: deltas((stats, seen) => {
        const success = stats.reconciles - stats.failures - (seen.reconciles - seen.failures);
        const error = stats.failures - seen.failures;
        seen.reconciles = stats.reconciles;
        seen.failures = stats.failures;
        return [['success', success], ['error', error]];
      }),
    });
    new Counter({
      name: 'sluice_reconcile_duration_seconds_total', help: 'Seconds spent reconciling, by controller; divide by sluice_reconcile_total for the mean.', labelNames: ['controller'], registers: [this.registry],
      collect: deltas((stats, seen) => {
        const delta = (stats.reconcileMsTotal - seen.reconcileMsTotal) / 1000;
        seen.reconcileMsTotal = stats.reconcileMsTotal;
        return [['', delta]];
      }),
    });
    new Counter({
      name: 'sluice_workqueue_retries_total', help: 'Keys re-queued with backoff after a failed reconcile, by controller.', labelNames: ['controller'], registers: [this.registry],
      collect: deltas((stats, seen) => {
        const delta = stats.retries - seen.retries;
        seen.retries = stats.retries;
        return [['', delta]];
      }),
    });
    const gauge = (name: string, help: string, read: (stats: QueueStats) => number) => new Gauge({
      name, help, labelNames: ['controller'], registers: [this.registry],
      collect(this: Gauge<'controller'>) {
        for (const [controller, queue] of queues) this.set({ controller }, read(queue.stats()));
      },
    });
    gauge('sluice_workqueue_depth', 'Keys ready and waiting for a worker, by controller.', (s) => s.depth);
    gauge('sluice_workqueue_in_flight', 'Keys being reconciled now, by controller.', (s) => s.inFlight);
    gauge('sluice_workqueue_delayed', 'Keys waiting for a requeue or backoff deadline, by controller.', (s) => s.delayed);
    gauge('sluice_workqueue_longest_running_seconds', 'How long the oldest in-flight reconcile has run, by controller; a stuck reconcile shows here.', (s) => s.longestRunningMs / 1000);
    this.#reconcileDuration = new Histogram({
      name: 'sluice_reconcile_duration_seconds', help: 'Seconds each reconcile took, by controller and result (success, error, requeue: succeeded and asked to run again after a delay).',
      labelNames: ['controller', 'result'], buckets: durationBuckets, registers: [this.registry],
    });
    const isLeader = () => this.#isLeader();
    new Gauge({
      name: 'sluice_leader', help: '1 while this replica is the leader (always 1 without leader election), else 0.', registers: [this.registry],
      collect(this: Gauge) {
        this.set(isLeader() ? 1 : 0);
      },
    });
  }

  /**
   * Reports a controller's work queue (depth, in-flight, reconcile counts and
   * time) and, when the queue takes observers (a WorkQueue does), feeds
   * sluice_reconcile_duration_seconds from every reconcile it finishes.
   */
  watchQueue(controller: string, queue: { stats(): QueueStats; observe?(observer: (sample: ReconcileSample) => void): () => void }): void {
    // Reconciles before the queue was watched are counted on the first scrape.
    this.#queues.set(controller, { stats: () => queue.stats(), seen: { reconciles: 0, failures: 0, retries: 0, reconcileMsTotal: 0 } });
    queue.observe?.(this.reconcileObserver(controller));
  }

  /** A WorkQueue onReconcile hook that fills sluice_reconcile_duration_seconds for one controller. */
  reconcileObserver(controller: string): (sample: ReconcileSample) => void {
    return (sample) => this.#reconcileDuration.observe({ controller, result: sample.outcome }, sample.durationMs / 1000);
  }

  /** Serves a plain-data snapshot (the notifier's, canary analysis') with the other series. */
  addSnapshot(source: SnapshotSource): void {
    this.#snapshots.push(source);
  }

  watchLeader(isLeader: () => boolean): void {
    this.#isLeader = isLeader;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The whole exposition text. */
  async render(): Promise<string> {
    const merged = this.#extra.length > 0 ? Registry.merge([this.registry, ...this.#extra]) : this.registry;
    const text = await merged.metrics();
    return text + renderFamilies(this.#snapshots.flatMap((source) => source()));
  }
}
