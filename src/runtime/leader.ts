// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// semantics: a replica takes the Lease when it has no holder or when its
// record has not changed for a whole lease duration as observed on this
// replica's own monotonic clock (never by comparing the other replica's wall
// clock timestamps); the leader renews every retry period and gives up
// leadership when it has not renewed for the renew deadline (before the lease
// can expire for the others); on shutdown the leader releases the Lease so a
// standby takes over at once. Writes carry the resourceVersion they were based
// on, so two replicas can never both win the same round (409 Conflict).
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { ErrorCodes, SluiceError, isSluiceError, toSluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import type { Logger } from '../log.ts';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease extends KubeObject<'Lease'> {
  spec?: LeaseSpec;
}

export type LeaderState = 'standby' | 'leading' | 'stopped';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** This replica's identity in holderIdentity; default: $POD_NAME or hostname, plus a random suffix. */
  identity?: string | undefined;
  /** How long a standby waits after the last observed change before taking over. Default 15 s. */
  leaseDurationMs?: number | undefined;
  /** How long the leader keeps trying to renew before it gives up leadership. Default 10 s. */
  renewDeadlineMs?: number | undefined;
  /** Time between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number | undefined;
  logger: Logger;
  /** Called (not awaited) each time this replica becomes the leader. */
  onStartedLeading: () => void | Promise<void>;
  /** Called once when a leader stops leading for any reason other than stop(): renew failed, or another replica took the Lease. */
  onStoppedLeading: (reason: string) => void;
  /** Monotonic milliseconds; tests inject their own. */
  now?: (() => number) | undefined;
}

export const defaultLeaseDurationMs = 15_000;
export const defaultRenewDeadlineMs = 10_000;
export const defaultRetryPeriodMs = 2_000;

/** The holder identity of a replica: pod name (or hostname) plus a random suffix, as client-go's `hostname_uuid`. */
export function defaultIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME || os.hostname()}_${randomBytes(4).toString('hex')}`;
}

/** A Lease's MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Checks the option values; renew deadline must be shorter than the lease so a leader steps down before others may take over. */
export function validateElectionTimings(leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): void {
  if (!(retryPeriodMs > 0)) throw new SluiceError(ErrorCodes.ConfigInvalid, `leader election: retry period must be positive, got ${retryPeriodMs} ms`);
  if (!(renewDeadlineMs > retryPeriodMs)) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `leader election: renew deadline (${renewDeadlineMs} ms) must be longer than the retry period (${retryPeriodMs} ms)`);
  }
  if (!(leaseDurationMs > renewDeadlineMs)) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `leader election: lease duration (${leaseDurationMs} ms) must be longer than the renew deadline (${renewDeadlineMs} ms)`, {
      hint: 'otherwise a standby may take over while the old leader still believes it leads',
    });
  }
  if (leaseDurationMs < 1_000) throw new SluiceError(ErrorCodes.ConfigInvalid, `leader election: lease duration must be at least 1 s, got ${leaseDurationMs} ms`);
}

export class LeaderElector {
  readonly identity: string;
  readonly #options: LeaderElectionOptions;
  readonly #path: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #now: () => number;
  readonly #log: Logger;

  #state: LeaderState = 'standby';
  #loop: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  /** The last Lease this replica read or wrote. */
  #observed: Lease | undefined;
  /** Local monotonic time at which the observed holder/renewTime last changed. */
  #observedAt = 0;
  /** Local time of the last successful acquire or renew. */
  #lastRenewAt = 0;
  /** Local time of the last successful read or write of the Lease, whatever it said. */
  #lastContactAt: number | undefined;
  #lastError: SluiceError | undefined;
  #transitions = 0;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.#leaseDurationMs = options.leaseDurationMs ?? defaultLeaseDurationMs;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? defaultRenewDeadlineMs;
    this.#retryPeriodMs = options.retryPeriodMs ?? defaultRetryPeriodMs;
    validateElectionTimings(this.#leaseDurationMs, this.#renewDeadlineMs, this.#retryPeriodMs);
    this.#now = options.now ?? (() => performance.now());
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(options.namespace)}/leases/${encodeURIComponent(options.name)}`;
    this.#log = options.logger.child({ lease: `${options.namespace}/${options.name}`, identity: this.identity });
  }

  get state(): LeaderState {
    return this.#state;
  }

  get isLeader(): boolean {
    return this.#state === 'leading';
  }

  /** How many times this replica became the leader. */
  get transitions(): number {
    return this.#transitions;
  }

  /** The holder this replica last saw in the Lease ('' when none). */
  get observedHolder(): string {
    return this.#observed?.spec?.holderIdentity ?? '';
  }

  /**
   * For /readyz: a leader is healthy; a standby is healthy while it can read the
   * Lease (it has talked to the API server within one lease duration).
   */
  health(): { ok: boolean; message: string } {
    if (this.#state === 'leading') return { ok: true, message: 'leading' };
    if (this.#state === 'stopped') return { ok: false, message: 'leader election stopped' };
    const fresh = this.#lastContactAt !== undefined && this.#now() - this.#lastContactAt <= this.#leaseDurationMs;
    return {
      ok: fresh,
      message: fresh ? `standing by; leader is ${this.observedHolder || 'nobody'}`
        : `cannot read Lease ${this.#options.namespace}/${this.#options.name}: ${this.#lastError?.message ?? 'no answer yet'}`,
    };
  }

  /** Starts campaigning in the background. */
  start(): void {
    if (this.#loop) return;
    this.#log.info({ leaseDurationMs: this.#leaseDurationMs, renewDeadlineMs: this.#renewDeadlineMs, retryPeriodMs: this.#retryPeriodMs }, 'leader election: campaigning');
    this.#loop = this.#run().catch((error: unknown) => {
      this.#log.error({ err: toSluiceError(error).message }, 'leader election loop failed');
    });
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    const wasLeading = this.#state === 'leading';
    this.#state = 'stopped';
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
    if (wasLeading) await this.#release();
  }

  async #run(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      if (this.#state === 'standby') {
        if (await this.#tryAcquireOrRenew()) {
          this.#state = 'leading';
          this.#transitions++;
          this.#log.info('leader election: became the leader');
          // Not awaited: renewing must go on while the controllers start.
          Promise.resolve().then(() => this.#options.onStartedLeading()).catch((error: unknown) => {
            this.#log.error({ err: toSluiceError(error).message }, 'leader election: onStartedLeading failed');
          });
        }
      } else if (this.#state === 'leading') {
        const renewed = await this.#tryAcquireOrRenew();
        if (this.#abort.signal.aborted) return;
        if (!renewed) {
          const otherHolder = this.observedHolder !== '' && this.observedHolder !== this.identity;
          if (otherHolder || this.#now() - this.#lastRenewAt >= this.#renewDeadlineMs) {
            const reason = otherHolder ? `Lease is now held by ${this.observedHolder}`
              : `could not renew the Lease within ${this.#renewDeadlineMs} ms: ${this.#lastError?.message ?? 'unknown error'}`;
            this.#state = 'standby';
            this.#log.error({ reason }, 'leader election: lost leadership');
            this.#options.onStoppedLeading(reason);
          }
        }
      }
      await this.#sleep(this.#retryPeriodMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** One round, as client-go's tryAcquireOrRenew: true when this replica holds the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const leaseSeconds = Math.max(1, Math.ceil(this.#leaseDurationMs / 1000));
    let current: Lease | undefined;
    try {
      current = await this.#get();
    } catch (error) {
      this.#lastError = toSluiceError(error);
      this.#log.warn({ code: this.#lastError.code, err: this.#lastError.message }, 'leader election: cannot read the Lease');
      return false;
    }
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.#options.name, namespace: this.#options.namespace },
        spec: { holderIdentity: this.identity, leaseDurationSeconds: leaseSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      return this.#write('POST', lease);
    }
    this.#observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const iHold = holder === this.identity;
    if (holder !== '' && !iHold && this.#now() - this.#observedAt < this.#leaseDurationMs) return false;
    const next: Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds,
        renewTime: microTime(now),
        acquireTime: iHold ? spec.acquireTime ?? microTime(now) : microTime(now),
        leaseTransitions: iHold ? spec.leaseTransitions ?? 0 : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    return this.#write('PUT', next);
  }

  async #get(): Promise<Lease | undefined> {
    try {
      const lease = await this.#options.client.rest.request<Lease>({ method: 'GET', path: this.#path, signal: this.#abort.signal, timeoutMs: this.#requestTimeoutMs(), what: 'get leader Lease' });
      this.#lastContactAt = this.#now();
      return lease;
    } catch (error) {
      if (isSluiceError(error, ErrorCodes.KubeNotFound)) {
        this.#lastContactAt = this.#now();
        return undefined;
      }
      throw error;
    }
  }

  async #write(method: 'POST' | 'PUT', lease: Lease): Promise<boolean> {
    const path = method === 'POST' ? this.#path.slice(0, this.#path.lastIndexOf('/')) : this.#path;
    try {
      const written = await this.#options.client.rest.request<Lease>({ method, path, body: lease, signal: this.#abort.signal, timeoutMs: this.#requestTimeoutMs(), what: `${method === 'POST' ? 'create' : 'update'} leader Lease` });
      this.#lastContactAt = this.#now();
      this.#observe(written);
      this.#lastRenewAt = this.#now();
      this.#lastError = undefined;
      return true;
    } catch (error) {
      const mapped = toSluiceError(error);
      this.#lastError = mapped;
      // Somebody else wrote first: an ordinary lost round, not a failure.
      if (mapped.code === ErrorCodes.KubeConflict || mapped.code === ErrorCodes.KubeAlreadyExists) {
        this.#lastContactAt = this.#now();
        this.#log.debug('leader election: another replica wrote the Lease first');
      } else if (!this.#abort.signal.aborted) {
        this.#log.warn({ code: mapped.code, err: mapped.message }, 'leader election: cannot write the Lease');
      }
      return false;
    }
  }

  /** A request must not outlive the renew deadline, or a hung connection would keep a stale leader leading. */
  #requestTimeoutMs(): number {
    return Math.max(500, Math.min(this.#renewDeadlineMs, 10_000) / 2);
  }

  #observe(lease: Lease): void {
    const previous = this.#observed?.spec;
    const spec = lease.spec ?? {};
    if (!previous || previous.holderIdentity !== spec.holderIdentity || previous.renewTime !== spec.renewTime) {
      this.#observedAt = this.#now();
    }
    this.#observed = lease;
  }

  /** Gives the Lease up: no holder and a one-second duration, as client-go's ReleaseOnCancel. */
  async #release(): Promise<void> {
    try {
      const current = await this.#options.client.rest.request<Lease>({ method: 'GET', path: this.#path, timeoutMs: 5_000, what: 'get leader Lease' });
      if (current.spec?.holderIdentity !== this.identity) return;
      const now = microTime(new Date());
      await this.#options.client.rest.request<Lease>({
        method: 'PUT', path: this.#path, timeoutMs: 5_000, what: 'release leader Lease',
        body: { ...current, spec: { ...current.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
      });
      this.#log.info('leader election: released the Lease');
    } catch (error) {
      const mapped = toSluiceError(error);
      this.#log.warn({ code: mapped.code, err: mapped.message }, 'leader election: could not release the Lease; a standby takes over when it expires');
    }
  }
}

/**
 * Whether this replica leads now, and a way to hear when it starts to. The
 * process keeps one; what runs on every replica (informer caches, Receiver
 * webhooks) asks it before a side effect only the leader may have, such as a
 * status write.
 */
export interface Leadership {
  readonly isLeader: boolean;
  /** Calls `listener` each time this replica becomes the leader. Returns a function that removes it. */
  onStartedLeading(listener: () => void): () => void;
}

/** Without leader election a replica always leads. */
export const alwaysLeader: Leadership = { isLeader: true, onStartedLeading: () => () => undefined };

/** The process's Leadership, set by main.ts from the LeaderElector's callbacks. */
export class LeadershipState implements Leadership {
  #leading: boolean;
  readonly #listeners = new Set<() => void>();

  constructor(leading = false) {
    this.#leading = leading;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  onStartedLeading(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Marks a change; listeners hear only of becoming the leader, and may not throw into the caller. */
  set(leading: boolean, log?: Logger): void {
    const became = leading && !this.#leading;
    this.#leading = leading;
    if (!became) return;
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch (error) {
        log?.error({ err: toSluiceError(error).message }, 'leadership listener failed');
      }
    }
  }
}
