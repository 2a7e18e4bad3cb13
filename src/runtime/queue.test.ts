import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SluiceError, isSluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { controllerRateLimiter } from './backoff.ts';
import { WorkQueue, type Clock, type ReconcileSample, type TimerHandle } from './queue.ts';

/** Lets every pending microtask and promise continuation run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A clock that only moves when the test advances it; timers fire in deadline order. */
class ManualClock implements Clock {
  #now = 0;
  #nextId = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = ++this.#nextId;
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers one by one and settling after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; callback: () => void }] | undefined;
      // Map order is creation order, so ties go to the timer set first.
      for (const entry of this.#timers) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = next[1].at;
      next[1].callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Resolves after `ms` of manual time; for reconcilers that take a while. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
}

/** Counts reconciles per key and the most that ever ran at once, per key and overall. */
class ConcurrencyProbe {
  readonly active = new Map<string, number>();
  readonly maxPerKey = new Map<string, number>();
  readonly runs: string[] = [];
  total = 0;
  maxTotal = 0;

  enter(key: string): void {
    this.runs.push(key);
    const now = (this.active.get(key) ?? 0) + 1;
    this.active.set(key, now);
    this.maxPerKey.set(key, Math.max(this.maxPerKey.get(key) ?? 0, now));
    this.total++;
    this.maxTotal = Math.max(this.maxTotal, this.total);
  }

  leave(key: string): void {
    this.active.set(key, (this.active.get(key) ?? 0) - 1);
    this.total--;
  }

  count(key: string): number {
    return this.runs.filter((run) => run === key).length;
  }
}

/** A logger whose JSON lines the test can read. */
function capturedLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** A rate limiter with round numbers and a bucket too large to matter. */
function testLimiter(clock: Clock, baseMs = 100, capMs = 400) {
  return controllerRateLimiter<string>({ baseMs, capMs, qps: 1e6, burst: 1e6, now: () => clock.now() });
}

describe('WorkQueue: dedup and per-key exclusion', () => {
  it('processes a key queued several times once', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    const probe = new ConcurrencyProbe();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    assert.equal(queue.depth(), 2);
    queue.start(async (key) => {
      probe.enter(key);
      await settle();
      probe.leave(key);
    });
    await settle();
    await settle();
    assert.deepEqual(probe.runs, ['a', 'b']);
    assert.equal(queue.stats().adds, 2);
  });

  it('reruns a key added during its reconcile once, after the first run, never at the same time', async () => {
    const queue = new WorkQueue({ concurrency: 4, clock: new ManualClock() });
    const probe = new ConcurrencyProbe();
    const events: string[] = [];
    const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
    let run = 0;
    queue.start(async (key) => {
      const gate = gates[run++];
      probe.enter(key);
      events.push(`start ${run}`);
      await gate?.promise;
      events.push(`end ${run}`);
      probe.leave(key);
    });
    queue.add('a');
    await settle();
    assert.equal(queue.inFlight(), 1);

    // Re-added three times while running: marked dirty, not handed to a second worker.
    queue.add('a');
    queue.add('a');
    queue.add('a');
    await settle();
    assert.equal(queue.inFlight(), 1);
    assert.equal(queue.depth(), 0);
    assert.deepEqual(events, ['start 1']);

    gates[0]?.resolve();
    await settle();
    await settle();
    assert.deepEqual(events, ['start 1', 'end 1', 'start 2']);
    gates[1]?.resolve();
    await settle();
    await settle();
    assert.deepEqual(events, ['start 1', 'end 1', 'start 2', 'end 2']);
    assert.equal(probe.count('a'), 2);
    assert.equal(probe.maxPerKey.get('a'), 1);
  });

  it('under random adds, never runs a key twice at once and always runs it after its last add', async () => {
    // Real timers and random interleavings: a wide net for ordering bugs.
    const queue = new WorkQueue({ concurrency: 4 });
    const probe = new ConcurrencyProbe();
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    let seq = 0;
    const lastAdd = new Map<string, number>();
    const lastStart = new Map<string, number>();
    const add = (key: string) => {
      lastAdd.set(key, ++seq);
      queue.add(key);
    };
    const pick = () => keys[Math.floor(Math.random() * keys.length)] ?? 'a';
    queue.start(async (key) => {
      lastStart.set(key, ++seq);
      probe.enter(key);
      for (let i = Math.floor(Math.random() * 4); i > 0; i--) {
        if (Math.random() < 0.5) add(pick());
        await settle();
      }
      probe.leave(key);
    });
    for (let round = 0; round < 200; round++) {
      add(pick());
      if (round % 3 === 0) await settle();
    }
    for (let spins = 0; queue.inFlight() > 0 || queue.depth() > 0; spins++) {
      assert.ok(spins < 10_000, 'the queue never drained');
      await settle();
    }

    for (const key of keys) {
      assert.ok((probe.maxPerKey.get(key) ?? 0) <= 1, `key ${key} ran ${probe.maxPerKey.get(key)} times at once`);
      if (lastAdd.has(key)) assert.ok((lastStart.get(key) ?? 0) > (lastAdd.get(key) ?? 0), `key ${key} was added after its last reconcile started`);
    }
    assert.ok(probe.maxTotal <= 4);
    await queue.shutdown();
  });
});

describe('WorkQueue: concurrency', () => {
  it('runs at most `concurrency` different keys at once and eventually all of them', async () => {
    const queue = new WorkQueue({ concurrency: 3, clock: new ManualClock() });
    const probe = new ConcurrencyProbe();
    const gates = new Map<string, PromiseWithResolvers<void>>();
    queue.start(async (key) => {
      const gate = Promise.withResolvers<void>();
      gates.set(key, gate);
      probe.enter(key);
      await gate.promise;
      probe.leave(key);
    });
    const keys = Array.from({ length: 10 }, (_, i) => `ns/app-${i}`);
    for (const key of keys) queue.add(key);
    await settle();
    assert.equal(queue.inFlight(), 3);
    assert.equal(queue.depth(), 7);

    // Finishing one frees exactly one slot, taken by the next key in FIFO order.
    gates.get('ns/app-1')?.resolve();
    await settle();
    await settle();
    assert.equal(queue.inFlight(), 3);
    assert.deepEqual(probe.runs, ['ns/app-0', 'ns/app-1', 'ns/app-2', 'ns/app-3']);

    for (let spins = 0; probe.runs.length < 10 || queue.inFlight() > 0; spins++) {
      assert.ok(spins < 1000, 'not every key was reconciled');
      for (const gate of gates.values()) gate.resolve();
      await settle();
    }
    assert.equal(probe.maxTotal, 3);
    assert.deepEqual([...probe.runs].sort(), [...keys].sort());
  });

  it('does not call the reconciler synchronously from add()', () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    let called = false;
    queue.start(() => {
      called = true;
      return Promise.resolve();
    });
    queue.add('a');
    assert.equal(called, false);
  });

  it('rejects a concurrency below 1', () => {
    assert.throws(() => new WorkQueue({ concurrency: 0 }), (e: unknown) => isSluiceError(e, ErrorCodes.ConfigInvalid));
  });
});

describe('WorkQueue: retries and requeues', () => {
  it('backs off exponentially on errors up to the cap, logs them, and resets after a success', async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturedLogger();
    const queue = new WorkQueue({ name: 'canary', clock, logger, rateLimiter: testLimiter(clock, 100, 400) });
    const startedAt: number[] = [];
    let failuresLeft = 5;
    queue.start(() => {
      startedAt.push(clock.now());
      if (failuresLeft-- > 0) return Promise.reject(new Error('prometheus unreachable'));
      return Promise.resolve();
    });
    queue.add('default/podinfo');
    await clock.advance(10_000);
    // Delays 100, 200, 400, 400 (capped), 400, then success.
    assert.deepEqual(startedAt, [0, 100, 300, 700, 1100, 1500]);
    assert.equal(queue.retries('default/podinfo'), 0, 'success forgets the failure history');
    assert.equal(queue.stats().retries, 5);
    assert.equal(queue.stats().failures, 5);

    const failure = lines.find((line) => line.msg === 'reconcile failed; retrying with backoff');
    assert.ok(failure, 'a failed reconcile is logged');
    assert.equal(failure.key, 'default/podinfo');
    assert.equal(failure.queue, 'canary');
    assert.equal(failure.retryInMs, 100);
    assert.match(JSON.stringify(failure.err), /prometheus unreachable/);

    // After the reset, the next failure waits baseMs again, not the cap.
    failuresLeft = 1;
    startedAt.length = 0;
    queue.add('default/podinfo');
    await clock.advance(10_000);
    assert.deepEqual(startedAt, [10_000, 10_100]);
  });

  it('counts a reconciler that throws synchronously as a failure', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, rateLimiter: testLimiter(clock) });
    let runs = 0;
    queue.start(() => {
      runs++;
      if (runs === 1) throw new Error('sync bug');
      return Promise.resolve();
    });
    queue.add('a');
    await clock.advance(1000);
    assert.equal(runs, 2);
    assert.equal(queue.stats().failures, 1);
  });

  it('waits at least a Retry-After carried by a SluiceError', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, rateLimiter: testLimiter(clock) });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      if (startedAt.length > 1) return Promise.resolve();
      return Promise.reject(new SluiceError(ErrorCodes.KubeTooManyRequests, 'throttled', { retryAfterSeconds: 5 }));
    });
    queue.add('a');
    await clock.advance(10_000);
    assert.deepEqual(startedAt, [0, 5000]);
  });

  it('requeues after requeueAfterMs on success', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      return Promise.resolve(startedAt.length < 3 ? { requeueAfterMs: 500 } : undefined);
    });
    queue.add('a');
    await clock.advance(499);
    assert.deepEqual(startedAt, [0]);
    await clock.advance(10_000);
    assert.deepEqual(startedAt, [0, 500, 1000]);
  });

  it('retries with backoff when a reconciler returns an invalid requeueAfterMs', async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturedLogger();
    const queue = new WorkQueue({ clock, logger, rateLimiter: testLimiter(clock) });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      return Promise.resolve(startedAt.length === 1 ? { requeueAfterMs: Number.NaN } : undefined);
    });
    queue.add('a');
    await clock.advance(1000);
    assert.deepEqual(startedAt, [0, 100]);
    assert.ok(lines.some((line) => line.msg === 'reconcile returned an invalid requeueAfterMs; retrying with backoff'));
  });

  it('aborts the signal of a reconcile that exceeds reconcileTimeoutMs, then retries it', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, reconcileTimeoutMs: 1000, rateLimiter: testLimiter(clock) });
    const reasons: unknown[] = [];
    const startedAt: number[] = [];
    queue.start((_key, signal) => {
      startedAt.push(clock.now());
      if (startedAt.length > 1) return Promise.resolve();
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason);
          reject(signal.reason as Error);
        });
      });
    });
    queue.add('a');
    await clock.advance(999);
    assert.equal(reasons.length, 0);
    await clock.advance(1);
    assert.equal(reasons.length, 1);
    assert.ok(isSluiceError(reasons[0], ErrorCodes.ReconcileTimeout));
    await clock.advance(1000);
    assert.deepEqual(startedAt, [0, 1100]);
  });
});

describe('WorkQueue: addAfter', () => {
  it('keeps the earlier deadline when the later one comes second', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      return Promise.resolve();
    });
    queue.addAfter('a', 100);
    queue.addAfter('a', 300);
    assert.equal(queue.stats().delayed, 1);
    await clock.advance(1000);
    assert.deepEqual(startedAt, [100]);
  });

  it('replaces a later deadline with an earlier one, and fires only once', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      return Promise.resolve();
    });
    queue.addAfter('a', 300);
    queue.addAfter('a', 100);
    await clock.advance(1000);
    assert.deepEqual(startedAt, [100]);
    assert.equal(clock.pendingTimers, 0, 'the replaced timer was cancelled');
  });

  it('adds at once for a zero delay and keeps deadlines per key', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const runs: string[] = [];
    queue.start((key) => {
      runs.push(`${key}@${clock.now()}`);
      return Promise.resolve();
    });
    queue.addAfter('b', 200);
    queue.addAfter('c', 50);
    queue.addAfter('a', 0);
    await clock.advance(1000);
    assert.deepEqual(runs, ['a@0', 'c@50', 'b@200']);
  });

  it('leaves a pending deadline in place when the key is added directly (client-go semantics)', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    const startedAt: number[] = [];
    queue.start(() => {
      startedAt.push(clock.now());
      return Promise.resolve();
    });
    queue.addAfter('a', 500);
    queue.add('a');
    await clock.advance(1000);
    assert.deepEqual(startedAt, [0, 500]);
  });

  it('rejects a delay that is not a number', () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    assert.throws(() => queue.addAfter('a', Number.NaN), (e: unknown) => isSluiceError(e, ErrorCodes.Internal));
  });
});

describe('WorkQueue: observability', () => {
  it('reports reconcile durations, queue wait, and gauges', async () => {
    const clock = new ManualClock();
    const samples: ReconcileSample[] = [];
    const queue = new WorkQueue({ clock, concurrency: 1, onReconcile: (sample) => samples.push(sample) });
    queue.start(async (key) => {
      await clock.sleep(250);
      if (key === 'b') throw new Error('boom');
    });
    queue.add('a');
    queue.add('b');
    await clock.advance(100);
    const during = queue.stats();
    assert.equal(during.inFlight, 1);
    assert.equal(during.depth, 1);
    assert.equal(during.longestRunningMs, 100);
    await clock.advance(400);
    assert.deepEqual(samples, [
      { key: 'a', outcome: 'success', durationMs: 250, waitMs: 0 },
      { key: 'b', outcome: 'error', durationMs: 250, waitMs: 250 },
    ]);
    const after = queue.stats();
    assert.equal(after.reconciles, 2);
    assert.equal(after.failures, 1);
    assert.equal(after.reconcileMsTotal, 500);
    assert.equal(after.delayed, 1, 'b waits for its retry');
    await queue.shutdown();
  });

  it('keeps working when the onReconcile hook throws', async () => {
    const clock = new ManualClock();
    const runs: string[] = [];
    const queue = new WorkQueue({
      clock,
      concurrency: 1,
      logger: capturedLogger().logger,
      onReconcile: () => {
        throw new Error('metrics bug');
      },
    });
    queue.start((key) => {
      runs.push(key);
      return Promise.resolve();
    });
    queue.add('a');
    queue.add('b');
    await clock.advance(10);
    assert.deepEqual(runs, ['a', 'b']);
  });
});

describe('WorkQueue: pause (a standby replica)', () => {
  it('queues keys while paused, runs none, and runs each once on resume', async () => {
    const clock = new ManualClock();
    const runs: string[] = [];
    const queue = new WorkQueue({ clock, concurrency: 2 });
    queue.pause();
    queue.start((key) => {
      runs.push(key);
      return Promise.resolve();
    });
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.addAfter('c', 100);
    await clock.advance(200);
    assert.deepEqual(runs, [], 'nothing runs while paused');
    assert.equal(queue.paused, true);
    assert.equal(queue.stats().depth, 3, 'a, b and the delayed c wait, deduplicated');
    queue.resume();
    await clock.advance(10);
    assert.deepEqual(runs.sort(), ['a', 'b', 'c']);
    assert.equal(queue.paused, false);
    await queue.shutdown();
  });

  it('shuts down cleanly while paused, dropping what waited', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.pause();
    queue.start(() => Promise.resolve());
    queue.add('a');
    assert.deepEqual(await queue.shutdown(), { timedOut: false, dropped: 1 });
  });
});

describe('WorkQueue: observers', () => {
  it('observe() adds a hook after construction; requeue results are told apart; unsubscribe stops it', async () => {
    const clock = new ManualClock();
    const samples: string[] = [];
    const queue = new WorkQueue({ clock, concurrency: 1 });
    const stop = queue.observe((sample) => samples.push(`${sample.key}:${sample.outcome}`));
    queue.start((key) => {
      if (key === 'err') return Promise.reject(new Error('boom'));
      return Promise.resolve(key === 'poll' ? { requeueAfterMs: 1_000 } : undefined);
    });
    queue.add('ok');
    queue.add('err');
    queue.add('poll');
    // Before err's first retry (5 ms backoff) and poll's requeue.
    await clock.advance(1);
    assert.deepEqual(samples, ['ok:success', 'err:error', 'poll:requeue']);
    stop();
    queue.add('ok');
    await clock.advance(1);
    assert.equal(samples.length, 3);
    await queue.shutdown();
  });
});

describe('WorkQueue: shutdown', () => {
  it('waits for in-flight work, drops queued and delayed keys, and refuses new work (real clock)', async () => {
    const queue = new WorkQueue({ concurrency: 1 });
    const gate = Promise.withResolvers<void>();
    const runs: string[] = [];
    let abortedDuringRun = false;
    queue.start(async (key, signal) => {
      runs.push(key);
      await gate.promise;
      abortedDuringRun = signal.aborted;
    });
    queue.add('a');
    queue.add('b'); // queued behind a (concurrency 1)
    queue.addAfter('c', 20);
    await settle();
    assert.equal(queue.inFlight(), 1);

    let resolved = false;
    const done = queue.shutdown({ timeoutMs: 5000 }).then((report) => {
      resolved = true;
      return report;
    });
    queue.add('d');
    queue.add('a'); // would normally mark a for a rerun
    queue.addAfter('e', 1);
    queue.addRateLimited('f');
    assert.equal(queue.depth(), 0);
    assert.equal(queue.isShuttingDown(), true);
    await sleep(30);
    assert.equal(resolved, false, 'shutdown resolves only after the in-flight reconcile');

    gate.resolve();
    const report = await done;
    assert.deepEqual(report, { timedOut: false, dropped: 2 });
    assert.equal(abortedDuringRun, false);
    assert.equal(queue.inFlight(), 0);
    await sleep(30);
    assert.deepEqual(runs, ['a'], 'nothing runs after shutdown');
  });

  it('aborts in-flight signals only once the timeout has passed, then resolves', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock, rateLimiter: testLimiter(clock) });
    const signals: AbortSignal[] = [];
    queue.start((_key, signal) => {
      signals.push(signal);
      // A reconcile that only stops when told to.
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    });
    queue.add('a');
    queue.add('b');
    await settle();
    let report: unknown;
    void queue.shutdown({ timeoutMs: 1000 }).then((result) => (report = result));
    await clock.advance(999);
    assert.equal(signals.length, 2);
    assert.ok(signals.every((signal) => !signal.aborted), 'not aborted before the timeout');
    assert.equal(report, undefined);
    await clock.advance(1);
    assert.ok(signals.every((signal) => signal.aborted));
    assert.ok(isSluiceError(signals[0]?.reason, ErrorCodes.ShuttingDown));
    await settle();
    assert.deepEqual(report, { timedOut: true, dropped: 0 });
    assert.equal(clock.pendingTimers, 0, 'failures during shutdown schedule no retries');
  });

  it('cancels delayed timers and resolves at once when idle; is idempotent', async () => {
    const clock = new ManualClock();
    const queue = new WorkQueue({ clock });
    queue.start(() => Promise.resolve());
    queue.addAfter('a', 100);
    queue.addAfter('b', 200);
    assert.equal(clock.pendingTimers, 2);
    const first = queue.shutdown();
    assert.equal(queue.shutdown(), first);
    assert.deepEqual(await first, { timedOut: false, dropped: 2 });
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses to start after shutdown or twice', async () => {
    const queue = new WorkQueue({ clock: new ManualClock() });
    queue.start(() => Promise.resolve());
    assert.throws(() => queue.start(() => Promise.resolve()), (e: unknown) => isSluiceError(e, ErrorCodes.Internal));
    await queue.shutdown();
    const stopped = new WorkQueue({ clock: new ManualClock() });
    await stopped.shutdown();
    assert.throws(() => stopped.start(() => Promise.resolve()), (e: unknown) => isSluiceError(e, ErrorCodes.ShuttingDown));
  });
});

describe('WorkQueue: real clock', () => {
  it('retries with real backoff timers and honours requeueAfterMs', async () => {
    const queue = new WorkQueue({ rateLimiter: controllerRateLimiter({ baseMs: 20, capMs: 80 }) });
    const startedAt: number[] = [];
    const begin = performance.now();
    const finished = Promise.withResolvers<void>();
    queue.start(() => {
      startedAt.push(performance.now() - begin);
      if (startedAt.length <= 2) return Promise.reject(new Error('transient'));
      if (startedAt.length === 3) return Promise.resolve({ requeueAfterMs: 60 });
      finished.resolve();
      return Promise.resolve();
    });
    queue.add('a');
    await finished.promise;
    assert.equal(startedAt.length, 4);
    // Node arms timers from the event loop's cached time, so a real timer may
    // fire a few ms "early" by performance.now(); the bounds allow for that.
    const gaps = startedAt.slice(1).map((at, i) => at - (startedAt[i] ?? 0));
    assert.ok((gaps[0] ?? 0) >= 10, `first retry after ~20 ms, got ${gaps[0]}`);
    assert.ok((gaps[1] ?? 0) >= 30, `second retry after ~40 ms, got ${gaps[1]}`);
    assert.ok((gaps[2] ?? 0) >= 45, `requeue after ~60 ms, got ${gaps[2]}`);
    await queue.shutdown();
  });
});
