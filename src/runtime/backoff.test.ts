import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isSluiceError } from '../errors.ts';
import { ExponentialBackoff, MaxOfRateLimiter, TokenBucket, controllerRateLimiter, type RateLimiter } from './backoff.ts';

describe('ExponentialBackoff', () => {
  it('doubles per failure from baseMs and stops at capMs', () => {
    const backoff = new ExponentialBackoff({ baseMs: 10, capMs: 100 });
    const delays = Array.from({ length: 7 }, () => backoff.when('a'));
    assert.deepEqual(delays, [10, 20, 40, 80, 100, 100, 100]);
    assert.equal(backoff.retries('a'), 7);
  });

  it('keeps a separate history per key', () => {
    const backoff = new ExponentialBackoff({ baseMs: 10, capMs: 1000 });
    backoff.when('a');
    backoff.when('a');
    assert.equal(backoff.when('b'), 10);
    assert.equal(backoff.when('a'), 40);
  });

  it('starts again from baseMs after forget', () => {
    const backoff = new ExponentialBackoff({ baseMs: 10, capMs: 1000 });
    backoff.when('a');
    backoff.when('a');
    backoff.forget('a');
    assert.equal(backoff.retries('a'), 0);
    assert.equal(backoff.when('a'), 10);
  });

  it('stays at the cap after so many failures that 2^n overflows', () => {
    const backoff = new ExponentialBackoff({ baseMs: 5, capMs: 1_000_000 });
    let last = 0;
    for (let i = 0; i < 1100; i++) last = backoff.when('a');
    assert.equal(last, 1_000_000);
  });

  it('shortens delays by at most the jitter fraction, using the injected randomness', () => {
    const draws = [0, 0.5, 0.999];
    const backoff = new ExponentialBackoff({ baseMs: 100, capMs: 100, jitter: 0.2, random: () => draws.shift() ?? 0 });
    assert.equal(backoff.when('a'), 100); // random 0: no shortening
    assert.equal(backoff.when('a'), 90); // 100 · (1 − 0.2 · 0.5)
    const shortest = backoff.when('a');
    assert.ok(shortest > 80 && shortest < 81, `expected just above 80, got ${shortest}`);
  });

  it('uses client-go defaults: 5 ms doubling to 1000 s', () => {
    const backoff = new ExponentialBackoff();
    assert.equal(backoff.when('a'), 5);
    assert.equal(backoff.when('a'), 10);
    for (let i = 0; i < 40; i++) backoff.when('a');
    assert.equal(backoff.when('a'), 1_000_000);
  });

  it('rejects nonsensical settings with ConfigInvalid', () => {
    const invalid = (error: unknown) => isSluiceError(error, ErrorCodes.ConfigInvalid);
    assert.throws(() => new ExponentialBackoff({ baseMs: 0 }), invalid);
    assert.throws(() => new ExponentialBackoff({ baseMs: 100, capMs: 50 }), invalid);
    assert.throws(() => new ExponentialBackoff({ jitter: 1.5 }), invalid);
    assert.throws(() => new ExponentialBackoff({ baseMs: Number.NaN }), invalid);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through at once, then paces at qps', () => {
    const now = 0;
    const bucket = new TokenBucket({ qps: 10, burst: 3, now: () => now });
    const delays = Array.from({ length: 6 }, () => bucket.when('any'));
    // Tokens borrowed from the future: the 4th waits one interval (100 ms), the 5th two, ...
    assert.deepEqual(delays, [0, 0, 0, 100, 200, 300]);
  });

  it('refills with elapsed time but never above burst', () => {
    let now = 0;
    const bucket = new TokenBucket({ qps: 10, burst: 2, now: () => now });
    bucket.when('x');
    bucket.when('x');
    assert.equal(bucket.when('x'), 100); // empty: wait for the next token
    now = 100; // that borrowed token is now paid back, bucket at 0
    assert.equal(bucket.when('x'), 100);
    now = 10_000; // long idle: refilled, but only to burst
    assert.equal(bucket.when('x'), 0);
    assert.equal(bucket.when('x'), 0);
    assert.equal(bucket.when('x'), 100);
  });

  it('is shared by all keys and has no per-key history', () => {
    const bucket = new TokenBucket({ qps: 1, burst: 1, now: () => 0 });
    assert.equal(bucket.when('a'), 0);
    assert.equal(bucket.when('b'), 1000);
    assert.equal(bucket.retries('a'), 0);
  });

  it('ignores a clock that steps backwards', () => {
    let now = 1000;
    const bucket = new TokenBucket({ qps: 10, burst: 1, now: () => now });
    assert.equal(bucket.when('x'), 0);
    now = 0;
    assert.equal(bucket.when('x'), 100);
  });

  it('rejects a zero rate or burst', () => {
    assert.throws(() => new TokenBucket({ qps: 0, burst: 1 }), (e: unknown) => isSluiceError(e, ErrorCodes.ConfigInvalid));
    assert.throws(() => new TokenBucket({ qps: 1, burst: 0 }), (e: unknown) => isSluiceError(e, ErrorCodes.ConfigInvalid));
  });
});

describe('MaxOfRateLimiter and controllerRateLimiter', () => {
  it('returns the larger of the per-key backoff and the bucket', () => {
    const limiter = new MaxOfRateLimiter([
      new ExponentialBackoff({ baseMs: 10, capMs: 1000 }),
      new TokenBucket({ qps: 1, burst: 2, now: () => 0 }),
    ]);
    assert.equal(limiter.when('a'), 10); // backoff 10, bucket 0
    assert.equal(limiter.when('b'), 10); // backoff 10 (new key), bucket 0 (last burst token)
    assert.equal(limiter.when('c'), 1000); // backoff 10, bucket empty: 1000
    assert.equal(limiter.retries('a'), 1);
  });

  it('passes every call to every limiter, and forget to all of them', () => {
    const calls: string[] = [];
    const recorder = (name: string, delay: number): RateLimiter => ({
      when: (key) => {
        calls.push(`${name}.when(${key})`);
        return delay;
      },
      retries: () => 0,
      forget: (key) => calls.push(`${name}.forget(${key})`),
    });
    const limiter = new MaxOfRateLimiter([recorder('first', 50), recorder('second', 5)]);
    assert.equal(limiter.when('k'), 50);
    limiter.forget('k');
    assert.deepEqual(calls, ['first.when(k)', 'second.when(k)', 'first.forget(k)', 'second.forget(k)']);
  });

  it('controllerRateLimiter backs off per key and resets on forget', () => {
    const limiter = controllerRateLimiter({ baseMs: 10, capMs: 40, qps: 1000, burst: 1000, now: () => 0 });
    assert.deepEqual([1, 2, 3, 4].map(() => limiter.when('a')), [10, 20, 40, 40]);
    assert.equal(limiter.retries('a'), 4);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.when('a'), 10);
  });

  it('controllerRateLimiter caps the overall retry rate across keys', () => {
    const limiter = controllerRateLimiter({ baseMs: 1, capMs: 1, qps: 10, burst: 100, now: () => 0 });
    for (let i = 0; i < 100; i++) assert.equal(limiter.when(`key-${i}`), 1);
    // The 101st distinct key gets no per-key backoff, but the bucket is empty.
    assert.equal(limiter.when('key-100'), 100);
  });
});
