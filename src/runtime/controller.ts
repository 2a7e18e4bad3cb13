// One controller = informers for one kind + a work queue + a reconcile
// function. Data flows one way: informer event → queue → reconcile(object read
// from the cache) → writes through the kube layer. Reconcilers never poll the
// API server for their own object.
import type { Logger } from 'pino';
import { setCondition } from '../api/conditions.ts';
import { assertValid } from '../api/schema.ts';
import { API_GROUP_VERSION, isSluiceKind, type CommonStatus } from '../api/types.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { objectKey, type KubeObject } from '../kube/types.ts';
import { reconcileLogger } from '../log.ts';
import type { Leadership } from './leader.ts';
import { WorkQueue, type ReconcileResult } from './queue.ts';

export interface ReconcileContext {
  log: Logger;
  signal: AbortSignal;
}

export interface ControllerOptions<T extends KubeObject> {
  client: KubeClient;
  apiVersion: string;
  kind: string;
  /** Namespaces to watch; empty means all. */
  namespaces: readonly string[];
  concurrency?: number | undefined;
  logger: Logger;
  /** Reconciles one existing object. Throw to retry with backoff. */
  reconcile: (object: T, context: ReconcileContext) => Promise<ReconcileResult | void>;
  /** Called once an object is gone from the cache (deleted). */
  onDeleted?: ((key: string, context: ReconcileContext) => Promise<void>) | undefined;
  /**
   * For a controller that reconciles on every replica (Receivers): the
   * framework's own status write (an invalid spec) happens on the leader only.
   * Default: always the leader.
   */
  leadership?: Leadership | undefined;
  /** Informer tuning, for tests. */
  informer?: { silenceTimeoutMs?: number; relistIntervalMs?: number } | undefined;
}

/** Annotation that asks for a reconcile now, as Flux's reconcile.fluxcd.io/requestedAt. */
export const REQUESTED_AT_ANNOTATION = 'sluice.dev/requestedAt';

/**
 * Whether an update is worth a reconcile: spec (generation), labels,
 * annotations or deletion changed. Status-only updates, which our own status
 * patches cause, are not.
 */
export function isMeaningfulUpdate(old: KubeObject, next: KubeObject): boolean {
  const a = old.metadata;
  const b = next.metadata;
  return a.generation !== b.generation
    || a.deletionTimestamp !== b.deletionTimestamp
    || JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {})
    || JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {})
    // Objects without a generation (no status subresource) change only this way.
    || (a.generation === undefined && a.resourceVersion !== b.resourceVersion);
}

export class Controller<T extends KubeObject> {
  readonly kind: string;
  readonly queue: WorkQueue;
  readonly #options: ControllerOptions<T>;
  readonly #informers: Informer<T>[];
  readonly #log: Logger;

  constructor(options: ControllerOptions<T>) {
    this.#options = options;
    this.kind = options.kind;
    this.#log = options.logger.child({ controller: options.kind });
    this.queue = new WorkQueue({ name: options.kind, concurrency: options.concurrency ?? 4, logger: this.#log });
    const namespaces = options.namespaces.length > 0 ? options.namespaces : [undefined];
    this.#informers = namespaces.map((namespace) => new Informer<T>(options.client, {
      apiVersion: options.apiVersion, kind: options.kind, namespace, logger: this.#log, ...options.informer,
    }));
    for (const informer of this.#informers) {
      informer.on((event) => {
        if (event.type === 'updated' && !isMeaningfulUpdate(event.old, event.object)) return;
        this.queue.add(objectKey(event.object.metadata));
      });
    }
  }

  /** The cached object, never an API call. */
  get(namespace: string | undefined, name: string): T | undefined {
    for (const informer of this.#informers) {
      const found = informer.get(namespace, name);
      if (found) return found;
    }
    return undefined;
  }

  list(namespace?: string): T[] {
    return this.#informers.flatMap((informer) => informer.list(namespace));
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Re-queues this controller's objects when a related object changes. */
  watchRelated<O extends KubeObject>(informer: Informer<O>, keysFor: (object: O) => string[]): void {
    informer.on((event) => {
      for (const key of keysFor(event.object)) this.queue.add(key);
    });
  }

  get hasSynced(): boolean {
    return this.#informers.every((informer) => informer.hasSynced);
  }

  start(): void {
    for (const informer of this.#informers) informer.start();
    this.queue.start((key, signal) => this.#reconcileKey(key, signal));
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.waitForSync(signal)));
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    await this.queue.shutdown({ timeoutMs });
    await Promise.all(this.#informers.map((informer) => informer.stop()));
  }

  async #reconcileKey(key: string, signal: AbortSignal): Promise<ReconcileResult | void> {
    const slash = key.indexOf('/');
    const namespace = slash < 0 ? undefined : key.slice(0, slash);
    const name = slash < 0 ? key : key.slice(slash + 1);
    const log = reconcileLogger(this.#log, { kind: this.kind, namespace, name });
    const object = this.get(namespace, name);
    if (!object) {
      await this.#options.onDeleted?.(key, { log, signal });
      return;
    }
    // An object being deleted is reconciled even with a bad spec: its clean-up works from
    // status (a Sync's inventory), and refusing it would hold its finalizer for ever.
    if (isSluiceKind(object.kind) && object.apiVersion === API_GROUP_VERSION && !object.metadata.deletionTimestamp) {
      try {
        assertValid(object);
      } catch (error) {
        // Retrying cannot fix a bad spec; report it and wait for the next edit.
        await this.#reportInvalid(object, toSluiceError(error), log);
        return;
      }
    }
    const started = Date.now();
    try {
      const result = await this.#options.reconcile(object, { log, signal });
      log.debug({ durationMs: Date.now() - started }, 'reconciled');
      return result;
    } catch (error) {
      const mapped = toSluiceError(error);
      log.warn({ code: mapped.code, err: mapped.message, durationMs: Date.now() - started }, 'reconcile failed; retrying with backoff');
      throw mapped;
    }
  }

  async #reportInvalid(object: T, error: SluiceError, log: Logger): Promise<void> {
    log.error({ code: error.code, err: error.message }, 'invalid spec');
    // A standby reports nothing; the leader writes the condition when it reconciles.
    if (this.#options.leadership && !this.#options.leadership.isLeader) return;
    const status = (object.status ?? {}) as CommonStatus;
    const generation = object.metadata.generation;
    let conditions = setCondition(status.conditions, { type: 'Ready', status: 'False', reason: 'SpecInvalid', message: error.describe(), observedGeneration: generation });
    conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason: 'SpecInvalid', message: error.describe(), observedGeneration: generation });
    try {
      await this.#options.client.patchStatus(
        { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
        { conditions, observedGeneration: generation },
      );
    } catch (patchError) {
      throw new SluiceError(ErrorCodes.Internal, `could not report invalid spec of ${this.kind} ${objectKey(object.metadata)}`, { cause: patchError, retryable: true });
    }
  }
}
