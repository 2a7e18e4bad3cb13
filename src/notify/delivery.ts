// Sends chat messages without ever making a reconcile wait. Messages queue in
// memory, one FIFO lane per AlertProvider: a lane sends one message at a time
// (a chat reader must see "promotion started" before "promoted"), lanes run
// side by side (a dead Teams webhook does not hold up Slack), and every queue
// is bounded (a dead webhook costs a bounded amount of memory).
//
// Retries: 408, 429, 5xx and network errors are retried with exponential
// backoff and jitter, waiting at least what Retry-After asks, until the retry
// budget (attempts and time) is spent; then the message is dropped and
// reported through onFailed (a NotificationDispatchFailed Event on the Alert).
// Every error that leaves this module has its secrets redacted.

import http from 'node:http';
import https from 'node:https';
import got, { RequestError, TimeoutError } from 'got';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { systemClock, type Clock, type TimerHandle } from '../runtime/queue.ts';
import type { ChatMessage } from './message.ts';
import type { NotifyMetrics } from './metrics.ts';
import { providerFor, type OutgoingRequest } from './providers/index.ts';
import { redactAddress, redactText } from './redact.ts';
import type { Route } from './routing.ts';
import type { ResolvedProvider } from './secrets.ts';

export interface DeliveryItem {
  route: Route;
  message: ChatMessage;
  /** Provider type when queued, for metrics; the lane resolves the provider again at send time. */
  providerType: string;
}

export type TargetResolution =
  | { ok: true; provider: ResolvedProvider }
  | { ok: false; message: string; retryable: boolean };

export interface DeliveryFailure {
  item: DeliveryItem;
  /** Redacted; code NotificationDispatchFailed. */
  error: SluiceError;
  attempts: number;
}

export interface HttpAnswer {
  status: number;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: string;
}

export interface SendOptions {
  timeoutMs: number;
  proxy?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Performs one HTTP request; throws only for network-level failures. */
export type HttpSender = (request: OutgoingRequest, options: SendOptions) => Promise<HttpAnswer>;

export interface DeliveryOptions {
  /** Resolves the route's AlertProvider and Secret; called before every attempt, so fixes apply to retries. */
  resolve: (route: Route) => Promise<TargetResolution>;
  onFailed: (failure: DeliveryFailure) => void;
  /** A message was evicted because its queue was full. */
  onDropped?: ((item: DeliveryItem, reason: string) => void) | undefined;
  /** The service rejected the address (401/403/404/410): cached secrets should be re-read. */
  onAddressRejected?: ((route: Route) => void) | undefined;
  logger: Logger;
  metrics: NotifyMetrics;
  /** Most messages waiting in all lanes. Default 1000. */
  maxQueued?: number | undefined;
  /** Most messages waiting for one provider; the oldest waiting one is evicted. Default 100. */
  maxPerLane?: number | undefined;
  /** Attempts per message, the first included. Default 6. */
  maxAttempts?: number | undefined;
  /** Time from the first attempt after which a message is given up. Default 10 min. */
  retryBudgetMs?: number | undefined;
  backoffBaseMs?: number | undefined;
  backoffCapMs?: number | undefined;
  /** Fraction by which a backoff delay may be shortened at random. Default 0.2. */
  jitter?: number | undefined;
  /** Longest Retry-After honoured; longer requests wait this long. Default 5 min. */
  maxRetryAfterMs?: number | undefined;
  clock?: Clock | undefined;
  send?: HttpSender | undefined;
  random?: (() => number) | undefined;
}

interface Job {
  item: DeliveryItem;
  attempts: number;
  firstAttemptAt: number | undefined;
}

interface Lane {
  key: string;
  jobs: Job[];
  busy: boolean;
  timer: TimerHandle | undefined;
}

interface AttemptOutcome {
  ok: boolean;
  retryable: boolean;
  retryAfterMs?: number | undefined;
  message: string;
  status?: number | undefined;
}

// Keep-alive agents per proxy URL; Node's own proxy support (proxyEnv) does the CONNECT.
const proxyAgents = new Map<string, { http: http.Agent; https: https.Agent }>();

function agentsFor(proxy: string): { http: http.Agent; https: https.Agent } {
  let agents = proxyAgents.get(proxy);
  if (!agents) {
    const proxyEnv = { HTTP_PROXY: proxy, HTTPS_PROXY: proxy };
    agents = { http: new http.Agent({ keepAlive: true, proxyEnv }), https: new https.Agent({ keepAlive: true, proxyEnv }) };
    proxyAgents.set(proxy, agents);
  }
  return agents;
}

/** The default sender: got, without its own retries (this module owns retrying) and without redirects (a redirect could carry the token elsewhere). */
export const sendWithGot: HttpSender = async (request, options) => {
  const response = await got.post(request.url, {
    body: request.body,
    headers: { 'user-agent': 'sluice-notifier', ...request.headers },
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    ...(options.proxy ? { agent: agentsFor(options.proxy) } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status: response.statusCode, headers: response.headers, body: response.body };
};

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class DeliveryQueue {
  readonly #options: DeliveryOptions;
  readonly #clock: Clock;
  readonly #send: HttpSender;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #lanes = new Map<string, Lane>();
  readonly #abort = new AbortController();
  readonly #maxQueued: number;
  readonly #maxPerLane: number;
  readonly #maxAttempts: number;
  readonly #budgetMs: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #jitter: number;
  readonly #maxRetryAfterMs: number;
  #queued = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#send = options.send ?? sendWithGot;
    this.#random = options.random ?? Math.random;
    this.#log = options.logger.child({ component: 'notify-delivery' });
    this.#maxQueued = options.maxQueued ?? 1000;
    this.#maxPerLane = options.maxPerLane ?? 100;
    this.#maxAttempts = options.maxAttempts ?? 6;
    this.#budgetMs = options.retryBudgetMs ?? 600_000;
    this.#baseMs = options.backoffBaseMs ?? 1000;
    this.#capMs = options.backoffCapMs ?? 60_000;
    this.#jitter = options.jitter ?? 0.2;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
  }

  /** Messages waiting or being sent. */
  get size(): number {
    return this.#queued;
  }

  /** Queues a message; false when it was refused (queue full or closed). Never blocks. */
  enqueue(item: DeliveryItem): boolean {
    if (this.#closed) return false;
    if (this.#queued >= this.#maxQueued) {
      this.#drop(item, `the notification queue holds ${this.#maxQueued} messages`);
      return false;
    }
    const key = `${item.route.provider.namespace}/${item.route.provider.name}`;
    let lane = this.#lanes.get(key);
    if (!lane) this.#lanes.set(key, lane = { key, jobs: [], busy: false, timer: undefined });
    if (lane.jobs.length >= this.#maxPerLane) {
      // Evict the oldest message not being sent: readers care most about the latest state.
      const victimIndex = lane.busy || lane.timer !== undefined ? 1 : 0;
      const [victim] = lane.jobs.splice(victimIndex, 1);
      if (victim) {
        this.#queued--;
        this.#drop(victim.item, `${this.#maxPerLane} messages wait for AlertProvider ${key}`);
      }
    }
    lane.jobs.push({ item, attempts: 0, firstAttemptAt: undefined });
    this.#queued++;
    this.#options.metrics.inc('sluice_notify_messages_queued_total', { provider_type: item.providerType });
    this.#options.metrics.set('sluice_notify_queue_depth', this.#queued);
    // setImmediate: the HTTP work starts after the emitting reconcile has moved on.
    setImmediate(() => this.#pump(lane));
    return true;
  }

  /** Resolves once nothing is queued or in flight (for tests and graceful shutdown). */
  async idle(signal?: AbortSignal): Promise<void> {
    if (this.#queued === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      this.#idleWaiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Stops accepting messages, lets queued ones go out for up to `timeoutMs`,
   * then aborts what is left. Returns how many messages were not delivered.
   */
  async close(timeoutMs = 10_000): Promise<number> {
    this.#closed = true;
    const timeout = AbortSignal.timeout(Math.max(0, timeoutMs));
    await this.idle(timeout);
    const left = this.#queued;
    this.#abort.abort();
    for (const lane of this.#lanes.values()) {
      if (lane.timer !== undefined) this.#clock.clearTimeout(lane.timer);
      lane.timer = undefined;
      for (const job of lane.jobs.splice(0)) this.#options.metrics.inc('sluice_notify_deliveries_total', { provider_type: job.item.providerType, outcome: 'dropped' });
    }
    this.#queued = 0;
    this.#options.metrics.set('sluice_notify_queue_depth', 0);
    this.#notifyIdle();
    return left;
  }

  #drop(item: DeliveryItem, reason: string): void {
    this.#options.metrics.inc('sluice_notify_deliveries_total', { provider_type: item.providerType, outcome: 'dropped' });
    this.#log.warn({ route: item.route.key, reason: item.message.reason, why: reason }, 'notification dropped: queue full');
    this.#options.onDropped?.(item, reason);
  }

  #pump(lane: Lane): void {
    if (lane.busy || lane.timer !== undefined || this.#abort.signal.aborted) return;
    const job = lane.jobs[0];
    if (!job) {
      this.#lanes.delete(lane.key);
      return;
    }
    lane.busy = true;
    void this.#attempt(lane, job);
  }

  async #attempt(lane: Lane, job: Job): Promise<void> {
    const now = this.#clock.now();
    job.firstAttemptAt ??= now;
    job.attempts++;
    let outcome: AttemptOutcome;
    let secrets: string[] = [];
    try {
      const resolution = await this.#options.resolve(job.item.route);
      if (resolution.ok) {
        secrets = resolution.provider.secrets;
        outcome = await this.#post(job, resolution.provider);
      } else {
        outcome = { ok: false, retryable: resolution.retryable, message: resolution.message };
      }
    } catch (error) {
      // A bug in a builder or resolver must not kill the lane.
      outcome = { ok: false, retryable: false, message: `internal error: ${error instanceof Error ? error.message : String(error)}` };
    }
    lane.busy = false;
    if (this.#abort.signal.aborted) return;
    if (outcome.ok) {
      this.#finish(lane, job);
      this.#options.metrics.inc('sluice_notify_deliveries_total', { provider_type: job.item.providerType, outcome: 'sent' });
      this.#log.debug({ route: job.item.route.key, reason: job.item.message.reason, attempts: job.attempts }, 'notification sent');
      this.#pump(lane);
      return;
    }
    const message = redactText(outcome.message, secrets);
    const delayMs = outcome.retryable ? this.#retryDelay(job, outcome.retryAfterMs) : undefined;
    if (delayMs === undefined) {
      this.#finish(lane, job);
      this.#fail(job, message, outcome);
      this.#pump(lane);
      return;
    }
    this.#options.metrics.inc('sluice_notify_delivery_retries_total', { provider_type: job.item.providerType });
    this.#log.debug({ route: job.item.route.key, attempt: job.attempts, retryInMs: Math.round(delayMs), err: message }, 'notification attempt failed; retrying');
    lane.timer = this.#clock.setTimeout(() => {
      lane.timer = undefined;
      this.#pump(lane);
    }, delayMs);
  }

  /** Delay before the next attempt, or undefined when the budget is spent. */
  #retryDelay(job: Job, retryAfterMs: number | undefined): number | undefined {
    if (job.attempts >= this.#maxAttempts) return undefined;
    const backoff = Math.min(this.#capMs, this.#baseMs * 2 ** (job.attempts - 1)) * (1 - this.#jitter * this.#random());
    const delay = Math.max(backoff, Math.min(retryAfterMs ?? 0, this.#maxRetryAfterMs));
    const elapsed = this.#clock.now() - (job.firstAttemptAt ?? this.#clock.now());
    return elapsed + delay > this.#budgetMs ? undefined : delay;
  }

  async #post(job: Job, provider: ResolvedProvider): Promise<AttemptOutcome> {
    const chat = providerFor(provider.type);
    const request = chat.build(job.item.message, provider.target);
    const where = redactAddress(provider.target.address);
    let answer: HttpAnswer;
    try {
      answer = await this.#send(request, { timeoutMs: provider.timeoutMs, proxy: provider.proxy, signal: this.#abort.signal });
    } catch (error) {
      return { ok: false, retryable: true, message: this.#describeNetworkError(error, where, provider.timeoutMs) };
    }
    const { status } = answer;
    if (status >= 200 && status < 300) {
      const failure = chat.checkResponse?.(answer.body);
      return failure ? { ok: false, retryable: failure.retryable, message: `${failure.message} (${where})` } : { ok: true, retryable: false, message: '' };
    }
    const excerpt = answer.body.trim().slice(0, 200);
    const detail = `HTTP ${status} from ${where}${excerpt ? `: ${excerpt}` : ''}`;
    if (retryableStatus(status)) {
      return { ok: false, retryable: true, status, message: detail, retryAfterMs: parseRetryAfter(answer.headers['retry-after'], Date.now()) };
    }
    if (status === 401 || status === 403 || status === 404 || status === 410) {
      this.#options.onAddressRejected?.(job.item.route);
      return { ok: false, retryable: false, status, message: `${detail}; the webhook address or token may be wrong or revoked` };
    }
    if (status >= 300 && status < 400) return { ok: false, retryable: false, status, message: `${detail}; redirects are not followed, use the final address` };
    return { ok: false, retryable: false, status, message: detail };
  }

  #describeNetworkError(error: unknown, where: string, timeoutMs: number): string {
    if (error instanceof TimeoutError) return `no answer from ${where} within ${timeoutMs} ms`;
    // got's message may contain the URL; the code and the redacted message are enough.
    if (error instanceof RequestError) return `could not reach ${where}: ${error.code}`;
    return `could not reach ${where}: ${error instanceof Error ? error.message : String(error)}`;
  }

  #finish(lane: Lane, job: Job): void {
    const index = lane.jobs.indexOf(job);
    if (index >= 0) lane.jobs.splice(index, 1);
    this.#queued = Math.max(0, this.#queued - 1);
    this.#options.metrics.set('sluice_notify_queue_depth', this.#queued);
    if (this.#queued === 0) this.#notifyIdle();
  }

  #fail(job: Job, message: string, outcome: AttemptOutcome): void {
    const { item } = job;
    const error = new SluiceError(ErrorCodes.NotificationDispatchFailed,
      `could not send ${item.message.reason} of ${item.message.object.kind} ${item.message.object.namespace}/${item.message.object.name} ` +
      `through AlertProvider ${item.route.provider.namespace}/${item.route.provider.name} after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}: ${message}`,
      { status: outcome.status, retryable: false });
    this.#options.metrics.inc('sluice_notify_deliveries_total', { provider_type: item.providerType, outcome: 'failed' });
    this.#log.warn({ route: item.route.key, code: error.code, err: error.message }, 'notification dropped after delivery failed');
    try {
      this.#options.onFailed({ item, error, attempts: job.attempts });
    } catch (hookError) {
      this.#log.error({ err: hookError instanceof Error ? hookError.message : String(hookError) }, 'onFailed hook threw');
    }
  }

  #notifyIdle(): void {
    for (const waiter of this.#idleWaiters.splice(0)) waiter();
  }
}
