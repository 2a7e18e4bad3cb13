// Retry pacing for the work queue, modelled on client-go's workqueue rate
// limiters: a per-key exponential backoff (so one broken object backs off on its
// own) combined with one token bucket for the whole queue (so a thousand
// objects failing at once cannot hammer the API server together).

import { ErrorCodes, SluiceError } from '../errors.ts';

/** Decides how long a key waits before it is retried. */
export interface RateLimiter<K = string> {
  /** Records one more failure of `key` and returns the delay in ms before its retry. */
  when(key: K): number;
  /** How many failures of `key` have been recorded since the last `forget`. */
  retries(key: K): number;
  /** Clears the failure history of `key`, after it reconciled successfully. */
  forget(key: K): void;
}

export interface ExponentialBackoffOptions {
  /** Delay after the first failure, in ms. Default 5 (client-go's default). */
  baseMs?: number;
  /** Largest delay, in ms. Default 1,000,000 (1000 s, client-go's default). */
  capMs?: number;
  /**
   * Fraction in [0, 1] by which a delay may be shortened at random, so keys
   * that failed together do not retry in lockstep. Default 0 (no jitter).
   * Jitter only ever shortens, so `capMs` stays a hard upper bound.
   */
  jitter?: number;
  /** Source of randomness in [0, 1); tests inject a fixed one. Default Math.random. */
  random?: () => number;
}

/** Per-key delay of baseMs · 2^failures, capped at capMs. */
export class ExponentialBackoff<K = string> implements RateLimiter<K> {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  readonly #failures = new Map<K, number>();

  constructor(options: ExponentialBackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 5;
    this.#capMs = options.capMs ?? 1_000_000;
    this.#jitter = options.jitter ?? 0;
    this.#random = options.random ?? Math.random;
    if (!(this.#baseMs > 0) || !Number.isFinite(this.#baseMs)) {
      throw invalid(`backoff baseMs must be a positive number of milliseconds, got ${this.#baseMs}`);
    }
    if (!(this.#capMs >= this.#baseMs) || !Number.isFinite(this.#capMs)) {
      throw invalid(`backoff capMs must be a finite number no smaller than baseMs (${this.#baseMs}), got ${this.#capMs}`);
    }
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) {
      throw invalid(`backoff jitter must be a fraction between 0 and 1, got ${this.#jitter}`);
    }
  }

  when(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** failures overflows to Infinity for long failure streaks; min() still yields the cap.
    const delay = Math.min(this.#capMs, this.#baseMs * 2 ** failures);
    if (this.#jitter === 0) return delay;
    return delay * (1 - this.#jitter * this.#random());
  }

  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }
}

export interface TokenBucketOptions {
  /** Tokens added per second. */
  qps: number;
  /** Bucket size: how many retries may go out at once before pacing starts. */
  burst: number;
  /** Milliseconds clock; the work queue passes its own so tests control time. Default Date.now. */
  now?: () => number;
}

/**
 * One bucket shared by all keys, like golang.org/x/time/rate's Reserve():
 * each call takes a token now, borrowing from the future when the bucket is
 * empty, and returns how long the caller must wait for the token it took.
 * Keys are ignored; `forget` and `retries` are no-ops for the same reason.
 */
export class TokenBucket<K = string> implements RateLimiter<K> {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.qps > 0) || !Number.isFinite(options.qps)) {
      throw invalid(`rate limiter qps must be a positive number, got ${options.qps}`);
    }
    if (!(options.burst >= 1) || !Number.isInteger(options.burst)) {
      throw invalid(`rate limiter burst must be a whole number of at least 1, got ${options.burst}`);
    }
    this.#perMs = options.qps / 1000;
    this.#burst = options.burst;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.burst;
    this.#last = this.#now();
  }

  when(_key: K): number {
    const now = this.#now();
    // A clock that steps backwards must not drain or overfill the bucket.
    const elapsed = Math.max(0, now - this.#last);
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#perMs) - 1;
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#perMs;
  }

  retries(_key: K): number {
    return 0;
  }

  forget(_key: K): void {}
}

/** The longest delay of several limiters; every limiter sees every call. */
export class MaxOfRateLimiter<K = string> implements RateLimiter<K> {
  readonly #limiters: readonly RateLimiter<K>[];

  constructor(limiters: readonly RateLimiter<K>[]) {
    if (limiters.length === 0) throw invalid('MaxOfRateLimiter needs at least one limiter');
    this.#limiters = limiters;
  }

  when(key: K): number {
    // No short-circuit: each limiter must record the failure (and the bucket spend its token).
    let delay = 0;
    for (const limiter of this.#limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  retries(key: K): number {
    let retries = 0;
    for (const limiter of this.#limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }

  forget(key: K): void {
    for (const limiter of this.#limiters) limiter.forget(key);
  }
}

export interface ControllerRateLimiterOptions extends ExponentialBackoffOptions {
  /** Overall retries per second across all keys. Default 10 (client-go's default). */
  qps?: number;
  /** Overall burst. Default 100 (client-go's default). */
  burst?: number;
  now?: () => number;
}

/**
 * client-go's DefaultControllerRateLimiter: the larger of a per-key
 * exponential backoff (5 ms doubling to 1000 s) and a 10 qps / 100 burst bucket.
 */
export function controllerRateLimiter<K = string>(options: ControllerRateLimiterOptions = {}): RateLimiter<K> {
  const bucket = new TokenBucket<K>({ qps: options.qps ?? 10, burst: options.burst ?? 100, now: options.now });
  return new MaxOfRateLimiter<K>([new ExponentialBackoff<K>(options), bucket]);
}

function invalid(message: string): SluiceError {
  return new SluiceError(ErrorCodes.ConfigInvalid, message);
}
