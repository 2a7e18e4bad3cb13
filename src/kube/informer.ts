// List+watch cache of one kind, with a watchdog. client-node's watches are
// known to go quiet without an error, so the informer does not trust a quiet
// stream: it restarts a watch that has been silent too long (bookmarks count
// as life), relists periodically, and restarts with backoff on errors.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from './client.ts';
import { mapKubeError } from './errors.ts';
import { objectKey, type KubeObject } from './types.ts';

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  /** Full relist period (diffed against the cache). Default 10 min. */
  relistIntervalMs?: number | undefined;
  /** Restart the watch when nothing, not even a bookmark, arrived for this long. Default 90 s. */
  silenceTimeoutMs?: number | undefined;
  /** Server-side watch timeout; the server ends the stream and we resume. Default 300 s. */
  watchTimeoutSeconds?: number | undefined;
  /** Backoff after errors: initial and maximum delay. */
  backoffInitialMs?: number | undefined;
  backoffMaxMs?: number | undefined;
  logger: Logger;
}

export type InformerEvent<T extends KubeObject> =
  | { type: 'added'; object: T }
  | { type: 'updated'; object: T; old: T }
  | { type: 'deleted'; object: T };

export interface InformerStats {
  relists: number;
  watchStarts: number;
  watchdogRestarts: number;
  errors: number;
  lastEventAt: number | undefined;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly #client: KubeClient;
  readonly #options: InformerOptions;
  readonly #log: Logger;
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<(event: InformerEvent<T>) => void>();
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #resourceVersion: string | undefined;
  #lastRelist = 0;
  readonly stats: InformerStats = { relists: 0, watchStarts: 0, watchdogRestarts: 0, errors: 0, lastEventAt: undefined };

  constructor(client: KubeClient, options: InformerOptions) {
    this.#client = client;
    this.#options = options;
    this.#log = options.logger.child({ informer: options.kind, namespace: options.namespace ?? '*' });
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  on(handler: (event: InformerEvent<T>) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  start(): void {
    this.#running ??= this.#run();
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves after the first successful list. */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new SluiceError(ErrorCodes.KubeTimeout, `cache of ${this.#options.kind} did not sync`));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(objectKey({ namespace, name }));
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    let failures = 0;
    let relist = true;
    const initial = this.#options.backoffInitialMs ?? 500;
    const max = this.#options.backoffMaxMs ?? 30_000;
    while (!this.#stop.signal.aborted) {
      try {
        if (relist || Date.now() - this.#lastRelist >= (this.#options.relistIntervalMs ?? 600_000)) {
          await this.#relist();
          relist = false;
        }
        const outcome = await this.#watchOnce();
        if (outcome === 'gone') relist = true;
        failures = 0;
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        const mapped = mapKubeError(error, `watch ${this.#options.kind}`);
        failures++;
        this.stats.errors++;
        // After an error the resourceVersion may be stale; a relist is the safe restart.
        relist = true;
        const delay = Math.min(max, initial * 2 ** (failures - 1));
        this.#log.warn({ code: mapped.code, err: mapped.message, retryInMs: delay }, 'informer list/watch failed; retrying');
        await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }

  async #relist(): Promise<void> {
    const { apiVersion, kind, namespace, labelSelector } = this.#options;
    const list = await this.#client.list<T>(apiVersion, kind, { namespace, labelSelector, signal: this.#stop.signal });
    this.stats.relists++;
    this.#lastRelist = Date.now();
    this.#resourceVersion = list.metadata.resourceVersion;
    const seen = new Set<string>();
    for (const object of list.items) {
      const key = objectKey(object.metadata);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#cache.set(key, object);
      if (!old) this.#emit({ type: 'added', object });
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) this.#emit({ type: 'updated', object, old });
    }
    for (const [key, object] of this.#cache) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#emit({ type: 'deleted', object });
      }
    }
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  /** One watch stream; resolves when it ends normally, was restarted by the watchdog, or the resourceVersion expired. */
  async #watchOnce(): Promise<'ended' | 'gone'> {
    const { apiVersion, kind, namespace, labelSelector } = this.#options;
    const silence = this.#options.silenceTimeoutMs ?? 90_000;
    const relistAt = this.#lastRelist + (this.#options.relistIntervalMs ?? 600_000);
    const watch = new AbortController();
    const signal = AbortSignal.any([watch.signal, this.#stop.signal]);
    let outcome: 'ended' | 'gone' = 'ended';
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        this.stats.watchdogRestarts++;
        this.#log.warn({ silentForMs: silence }, 'watch silent too long; restarting it');
        watch.abort();
      }, silence);
    };
    const relistTimer = setTimeout(() => watch.abort(), Math.max(0, relistAt - Date.now()));
    arm();
    this.stats.watchStarts++;
    try {
      const path = await this.#client.pathFor({ apiVersion, kind, namespace });
      await this.#client.rest.stream({
        path,
        signal,
        what: `watch ${kind}`,
        query: {
          watch: 1, allowWatchBookmarks: true, resourceVersion: this.#resourceVersion, labelSelector,
          // Jitter spreads the reconnects of many informers.
          timeoutSeconds: Math.round((this.#options.watchTimeoutSeconds ?? 300) * (1 + Math.random() * 0.2)),
        },
        onValue: (value) => {
          arm();
          const event = value as WatchEvent;
          if (event.type === 'ERROR') {
            if (event.object.code === 410) {
              outcome = 'gone';
              watch.abort();
              return;
            }
            throw new SluiceError(ErrorCodes.KubeServerError, `watch ${kind} error: ${event.object.message ?? 'unknown'}`);
          }
          this.#apply(event);
        },
      });
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      clearTimeout(watchdog);
      clearTimeout(relistTimer);
    }
    return outcome;
  }

  #apply(event: WatchEvent): void {
    const object = event.object as T;
    if (object.metadata.resourceVersion) this.#resourceVersion = object.metadata.resourceVersion;
    this.stats.lastEventAt = Date.now();
    if (event.type === 'BOOKMARK') return;
    // Watch events carry apiVersion/kind, but keep them uniform with listed items.
    object.apiVersion = this.#options.apiVersion;
    object.kind = this.#options.kind;
    const key = objectKey(object.metadata);
    const old = this.#cache.get(key);
    if (event.type === 'DELETED') {
      this.#cache.delete(key);
      this.#emit({ type: 'deleted', object });
      return;
    }
    this.#cache.set(key, object);
    this.#emit(old ? { type: 'updated', object, old } : { type: 'added', object });
  }

  #emit(event: InformerEvent<T>): void {
    for (const handler of this.#handlers) {
      try {
        handler(event);
      } catch (error) {
        this.#log.error({ err: error }, 'informer event handler threw');
      }
    }
  }
}
