// The work queue between informers and reconcilers, with client-go's
// workqueue semantics: a key is queued at most once, one key is never
// reconciled twice at the same time, a key added while it is being reconciled
// runs once more afterwards, failures back off per key, and shutdown lets
// in-flight reconciles finish before it resolves.

import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { controllerRateLimiter, type RateLimiter } from './backoff.ts';

/** Opaque timer handle; only ever passed back to the clock that made it. */
export type TimerHandle = object | number;

/** Time source for every delay in the queue; tests inject a manual one. */
export interface Clock {
  /** Milliseconds on a clock that never steps backwards. */
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  // performance.now() is monotonic; Date.now() jumps when NTP corrects the wall clock.
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What a reconcile may ask for when it succeeds. */
export interface ReconcileResult {
  /** Reconcile this key again after this many ms (periodic resync, polling a rollout step). */
  requeueAfterMs?: number;
}

/**
 * Reconciles one key. Throwing means "retry with backoff". The signal aborts
 * when the queue's shutdown timeout passes or the per-reconcile timeout does;
 * pass it on to API calls so they stop promptly.
 */
export type Reconciler<K extends string = string> = (key: K, signal: AbortSignal) => Promise<ReconcileResult | void>;

/**
 * How a reconcile ended: `error` (it threw; retried with backoff), `requeue`
 * (it succeeded and asked to run again after requeueAfterMs, e.g. polling a
 * rollout step), `success` (it succeeded and waits for the next change).
 */
export type ReconcileOutcome = 'success' | 'error' | 'requeue';

/** One finished reconcile, for a /metrics module to put into histograms. */
export interface ReconcileSample<K extends string = string> {
  key: K;
  outcome: ReconcileOutcome;
  /** How long the reconcile ran. */
  durationMs: number;
  /** How long the key waited in the queue, ready, before a worker took it. */
  waitMs: number;
}

/** Counters since the queue was created, plus the current gauges. */
export interface QueueStats {
  /** Keys ready and waiting for a worker. */
  depth: number;
  /** Keys being reconciled now. */
  inFlight: number;
  /** Keys waiting for an addAfter / backoff deadline. */
  delayed: number;
  /** Adds that put a key into the queue (deduplicated adds are not counted). */
  adds: number;
  /** Rate-limited re-adds, i.e. retries after failures. */
  retries: number;
  reconciles: number;
  failures: number;
  /** Sum of all reconcile durations, for an average or a Prometheus _sum. */
  reconcileMsTotal: number;
  /** How long the oldest in-flight reconcile has been running; 0 when idle. A stuck reconcile shows here. */
  longestRunningMs: number;
}

export interface WorkQueueOptions<K extends string = string> {
  /** Names the queue in logs and errors, e.g. "canary". */
  name?: string;
  /** Most reconciles running at once, across different keys. Default 4. */
  concurrency?: number;
  /** Retry pacing. Default: client-go's controller rate limiter on this queue's clock. */
  rateLimiter?: RateLimiter<K>;
  clock?: Clock;
  logger?: Logger;
  /** Abort a reconcile's signal after this long (it still holds its key until it settles). Default: no limit. */
  reconcileTimeoutMs?: number;
  /** Called after every reconcile; must not throw (errors are logged and ignored). */
  onReconcile?: (sample: ReconcileSample<K>) => void;
}

export interface ShutdownOptions {
  /** How long in-flight reconciles may run before their signal is aborted. Default 15,000 ms. */
  timeoutMs?: number;
}

export interface ShutdownReport {
  /** True when the timeout passed and in-flight reconciles had to be aborted. */
  timedOut: boolean;
  /** Keys that were queued or waiting for a deadline and were dropped unprocessed. */
  dropped: number;
}

const defaultConcurrency = 4;
const defaultShutdownTimeoutMs = 15_000;
// setTimeout treats anything above 2^31-1 ms (~24.8 days) as 1 ms; longer waits are chained.
const maxTimerMs = 2_147_483_647;

interface Running {
  controller: AbortController;
  startedAt: number;
}

interface Delayed {
  deadline: number;
  handle: TimerHandle;
}

export class WorkQueue<K extends string = string> {
  readonly name: string;
  readonly #concurrency: number;
  readonly #rateLimiter: RateLimiter<K>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #reconcileTimeoutMs: number | undefined;
  readonly #observers: ((sample: ReconcileSample<K>) => void)[] = [];

  // Invariant: a key is in #ready exactly when it is in #dirty and not in #running.
  readonly #ready = new KeyFifo<K>();
  /** Keys that need a reconcile: queued, or marked for a rerun while running. */
  readonly #dirty = new Set<K>();
  readonly #readyAt = new Map<K, number>();
  readonly #running = new Map<K, Running>();
  readonly #delayed = new Map<K, Delayed>();

  #reconcile: Reconciler<K> | undefined;
  #dispatchScheduled = false;
  #paused = false;
  #closed = false;
  #shutdown: Promise<ShutdownReport> | undefined;
  #onDrained: (() => void) | undefined;
  readonly #counters = { adds: 0, retries: 0, reconciles: 0, failures: 0, reconcileMsTotal: 0 };

  constructor(options: WorkQueueOptions<K> = {}) {
    this.name = options.name ?? 'default';
    this.#concurrency = options.concurrency ?? defaultConcurrency;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new SluiceError(ErrorCodes.ConfigInvalid, `work queue ${this.name}: concurrency must be a whole number of at least 1, got ${this.#concurrency}`);
    }
    this.#reconcileTimeoutMs = options.reconcileTimeoutMs;
    if (this.#reconcileTimeoutMs !== undefined && !(this.#reconcileTimeoutMs > 0)) {
      throw new SluiceError(ErrorCodes.ConfigInvalid, `work queue ${this.name}: reconcileTimeoutMs must be positive, got ${this.#reconcileTimeoutMs}`);
    }
    this.#clock = options.clock ?? systemClock;
    const clock = this.#clock;
    this.#rateLimiter = options.rateLimiter ?? controllerRateLimiter<K>({ now: () => clock.now() });
    this.#logger = (options.logger ?? createLogger({ level: 'silent' })).child({ queue: this.name });
    if (options.onReconcile) this.#observers.push(options.onReconcile);
  }

  /**
   * Adds a hook called after every reconcile, as the onReconcile option (for
   * a /metrics module that meets the queue after it was built). Returns a
   * function that removes it.
   */
  observe(observer: (sample: ReconcileSample<K>) => void): () => void {
    this.#observers.push(observer);
    return () => {
      const index = this.#observers.indexOf(observer);
      if (index >= 0) this.#observers.splice(index, 1);
    };
  }

  /**
   * Holds dispatch: keys are still queued (deduplicated) but no reconcile
   * starts until resume(). A standby replica keeps its caches warm this way
   * and reconciles at once when it becomes the leader. Reconciles already
   * running are not affected.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Starts dispatching again after pause(); queued keys run at once. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#scheduleDispatch();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Queues `key` for a reconcile. Deduplicated; a no-op after shutdown. */
  add(key: K): void {
    if (this.#closed) return;
    // Already queued, or already marked to run again after its current reconcile.
    if (this.#dirty.has(key)) return;
    this.#counters.adds++;
    this.#dirty.add(key);
    // Never concurrently: #finish queues it once the running reconcile settles.
    if (this.#running.has(key)) return;
    this.#enqueue(key);
  }

  /**
   * Queues `key` after `delayMs`. When the key already waits for a deadline,
   * the earlier deadline wins. A delay of 0 or less adds at once.
   */
  addAfter(key: K, delayMs: number): void {
    if (this.#closed) return;
    if (Number.isNaN(delayMs) || delayMs === Infinity) {
      throw new SluiceError(ErrorCodes.Internal, `work queue ${this.name}: addAfter(${key}) needs a finite delay in milliseconds, got ${delayMs}`);
    }
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const deadline = this.#clock.now() + delayMs;
    const existing = this.#delayed.get(key);
    if (existing) {
      if (existing.deadline <= deadline) return;
      this.#clock.clearTimeout(existing.handle);
    }
    this.#delayed.set(key, { deadline, handle: this.#arm(key, deadline) });
  }

  /** Queues `key` after its backoff delay, counting one more failure. */
  addRateLimited(key: K): void {
    this.#retry(key, 0);
  }

  /** Resets the backoff of `key`. Does not cancel a pending addAfter. */
  forget(key: K): void {
    this.#rateLimiter.forget(key);
  }

  /** Failures of `key` since its last success. */
  retries(key: K): number {
    return this.#rateLimiter.retries(key);
  }

  depth(): number {
    return this.#ready.size;
  }

  inFlight(): number {
    return this.#running.size;
  }

  isShuttingDown(): boolean {
    return this.#closed;
  }

  stats(): QueueStats {
    const now = this.#clock.now();
    let longestRunningMs = 0;
    for (const running of this.#running.values()) longestRunningMs = Math.max(longestRunningMs, now - running.startedAt);
    return {
      depth: this.#ready.size,
      inFlight: this.#running.size,
      delayed: this.#delayed.size,
      ...this.#counters,
      longestRunningMs,
    };
  }

  /**
   * Starts handing keys to `reconcile`, at most `concurrency` at a time.
   * Keys added before start are processed once it is called. Call once.
   */
  start(reconcile: Reconciler<K>): void {
    if (this.#closed) {
      throw new SluiceError(ErrorCodes.ShuttingDown, `work queue ${this.name} is shut down and cannot start again`, {
        hint: 'create a new WorkQueue instead of restarting one',
      });
    }
    if (this.#reconcile) {
      throw new SluiceError(ErrorCodes.Internal, `work queue ${this.name} is already started; call start() once`);
    }
    this.#reconcile = reconcile;
    this.#scheduleDispatch();
  }

  /**
   * Stops taking work: queued and delayed keys are dropped, later adds are
   * no-ops. Resolves once every in-flight reconcile has settled; their signal
   * is aborted if they are still running after `timeoutMs`. Idempotent.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    this.#shutdown ??= this.#drain(options.timeoutMs ?? defaultShutdownTimeoutMs);
    return this.#shutdown;
  }

  async #drain(timeoutMs: number): Promise<ShutdownReport> {
    this.#closed = true;
    const pending = new Set<K>([...this.#ready.values(), ...this.#delayed.keys()]);
    for (const delayed of this.#delayed.values()) this.#clock.clearTimeout(delayed.handle);
    this.#delayed.clear();
    this.#ready.clear();
    this.#dirty.clear();
    this.#readyAt.clear();
    const report: ShutdownReport = { timedOut: false, dropped: pending.size };
    if (this.#running.size === 0) return report;

    this.#logger.info({ inFlight: this.#running.size, timeoutMs }, 'work queue shutting down; waiting for in-flight reconciles');
    const drained = new Promise<void>((resolve) => {
      this.#onDrained = resolve;
    });
    let timer: TimerHandle | undefined;
    if (Number.isFinite(timeoutMs)) {
      timer = this.#clock.setTimeout(() => {
        report.timedOut = true;
        const keys = [...this.#running.keys()];
        this.#logger.warn({ keys, timeoutMs }, 'shutdown timeout passed; aborting in-flight reconciles');
        for (const [key, running] of this.#running) {
          running.controller.abort(new SluiceError(ErrorCodes.ShuttingDown, `work queue ${this.name} is shutting down; reconcile of ${key} aborted after ${timeoutMs} ms`));
        }
      }, Math.max(0, timeoutMs));
    }
    await drained;
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    return report;
  }

  #enqueue(key: K): void {
    this.#ready.push(key);
    this.#readyAt.set(key, this.#clock.now());
    this.#scheduleDispatch();
  }

  #retry(key: K, minDelayMs: number): number {
    if (this.#closed) return 0;
    this.#counters.retries++;
    const delayMs = Math.max(this.#rateLimiter.when(key), minDelayMs);
    this.addAfter(key, delayMs);
    return delayMs;
  }

  #arm(key: K, deadline: number): TimerHandle {
    const wait = deadline - this.#clock.now();
    if (wait > maxTimerMs) {
      return this.#clock.setTimeout(() => {
        const entry = this.#delayed.get(key);
        if (entry?.deadline === deadline) entry.handle = this.#arm(key, deadline);
      }, maxTimerMs);
    }
    return this.#clock.setTimeout(() => {
      if (this.#delayed.get(key)?.deadline !== deadline) return;
      this.#delayed.delete(key);
      this.add(key);
    }, Math.max(0, wait));
  }

  // Dispatch runs in a microtask so add() never calls into a reconciler
  // synchronously (an informer handler calling add() must not re-enter it).
  #scheduleDispatch(): void {
    if (this.#dispatchScheduled || !this.#reconcile || this.#paused) return;
    this.#dispatchScheduled = true;
    queueMicrotask(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    const reconcile = this.#reconcile;
    if (!reconcile || this.#closed || this.#paused) return;
    while (this.#running.size < this.#concurrency) {
      const key = this.#ready.shift();
      if (key === undefined) return;
      this.#dirty.delete(key);
      const running: Running = { controller: new AbortController(), startedAt: this.#clock.now() };
      this.#running.set(key, running);
      const waitMs = running.startedAt - (this.#readyAt.get(key) ?? running.startedAt);
      this.#readyAt.delete(key);
      void this.#run(key, reconcile, running, waitMs);
    }
  }

  async #run(key: K, reconcile: Reconciler<K>, running: Running, waitMs: number): Promise<void> {
    let timer: TimerHandle | undefined;
    const timeoutMs = this.#reconcileTimeoutMs;
    if (timeoutMs !== undefined) {
      timer = this.#clock.setTimeout(() => {
        running.controller.abort(new SluiceError(ErrorCodes.ReconcileTimeout, `reconcile of ${key} in work queue ${this.name} ran longer than ${timeoutMs} ms`, {
          hint: 'the reconcile will be retried with backoff; check what it was waiting for',
          retryable: true,
        }));
      }, timeoutMs);
    }
    let result: ReconcileResult | void = undefined;
    let failed = false;
    let error: unknown;
    try {
      result = await reconcile(key, running.controller.signal);
    } catch (thrown) {
      failed = true;
      error = thrown;
    }
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    this.#finish(key, running, waitMs, failed ? { error } : { result });
  }

  #finish(key: K, running: Running, waitMs: number, outcome: { error: unknown } | { result: ReconcileResult | void }): void {
    const durationMs = this.#clock.now() - running.startedAt;
    this.#running.delete(key);
    this.#counters.reconciles++;
    this.#counters.reconcileMsTotal += durationMs;
    const failed = 'error' in outcome;
    if (failed) this.#counters.failures++;

    if (this.#closed) {
      if (failed) this.#logger.warn({ err: outcome.error, key }, 'reconcile failed during shutdown; not retrying');
    } else {
      if (failed) {
        // Honour a server's Retry-After (e.g. 429 from the API server) when it exceeds our backoff.
        const retryAfterMs = isSluiceError(outcome.error) ? (outcome.error.retryAfterSeconds ?? 0) * 1000 : 0;
        const delayMs = this.#retry(key, retryAfterMs);
        this.#logger.error({ err: outcome.error, key, retries: this.retries(key), retryInMs: delayMs }, 'reconcile failed; retrying with backoff');
      } else {
        this.forget(key);
        this.#requeue(key, outcome.result);
      }
      // The key was added again while it ran: run it once more, now that it is free.
      if (this.#dirty.has(key)) this.#enqueue(key);
    }

    if (this.#observers.length > 0) {
      const requeued = !failed && outcome.result?.requeueAfterMs !== undefined;
      const sample: ReconcileSample<K> = { key, outcome: failed ? 'error' : requeued ? 'requeue' : 'success', durationMs, waitMs };
      for (const observer of [...this.#observers]) {
        try {
          observer(sample);
        } catch (hookError) {
          this.#logger.error({ err: hookError, key }, 'onReconcile hook threw; ignoring');
        }
      }
    }

    if (this.#closed) {
      if (this.#running.size === 0) this.#onDrained?.();
    } else {
      this.#scheduleDispatch();
    }
  }

  #requeue(key: K, result: ReconcileResult | void): void {
    const requeueAfterMs = result ? result.requeueAfterMs : undefined;
    if (requeueAfterMs === undefined) return;
    try {
      this.addAfter(key, requeueAfterMs);
    } catch (error) {
      // A bad requeueAfterMs is a reconciler bug; retry rather than forget the key.
      this.#logger.error({ err: error, key }, 'reconcile returned an invalid requeueAfterMs; retrying with backoff');
      this.#retry(key, 0);
    }
  }
}

/** FIFO of keys with O(1) shift; the work queue keeps each key in it at most once. */
class KeyFifo<K> {
  #items: K[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  push(key: K): void {
    this.#items.push(key);
  }

  shift(): K | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const key = this.#items[this.#head++];
    // Compact once the consumed prefix dominates, keeping memory bounded.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return key;
  }

  values(): K[] {
    return this.#items.slice(this.#head);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
