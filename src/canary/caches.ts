// Informer caches of the objects Canaries depend on (Deployments, ConfigMaps,
// Secrets, HPAs, Ingresses, MetricTemplates), created on first use per kind
// and shared by every Canary. Reconcilers read from here, never GET per tick;
// a change to a cached object re-queues the Canaries that depend on it.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import { Informer, type InformerEvent } from '../kube/informer.ts';
import type { KubeObject } from '../kube/types.ts';

export type RelatedHandler = (kind: string, event: InformerEvent<KubeObject>) => void;

export interface CacheOptions {
  /** Namespaces to watch; empty means all. */
  namespaces: readonly string[];
  logger: Logger;
  onEvent: RelatedHandler;
  signal?: AbortSignal | undefined;
}

export class ObjectCaches {
  readonly #client: KubeClient;
  readonly #options: CacheOptions;
  readonly #informers = new Map<string, { informers: Informer[]; synced: Promise<void> }>();

  constructor(client: KubeClient, options: CacheOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Starts (once) and waits for the caches of one kind. */
  async ensure(apiVersion: string, kind: string, signal?: AbortSignal): Promise<void> {
    const key = `${apiVersion}/${kind}`;
    let entry = this.#informers.get(key);
    if (!entry) {
      const namespaces = this.#options.namespaces.length > 0 ? this.#options.namespaces : [undefined];
      const informers = namespaces.map((namespace) => new Informer(this.#client, { apiVersion, kind, namespace, logger: this.#options.logger }));
      for (const informer of informers) {
        informer.on((event) => this.#options.onEvent(kind, event));
        informer.start();
      }
      entry = { informers, synced: Promise.all(informers.map((i) => i.waitForSync())).then(() => undefined) };
      this.#informers.set(key, entry);
    }
    if (signal) {
      await Promise.race([entry.synced, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }))]);
    } else {
      await entry.synced;
    }
  }

  /** The cached object; undefined when missing or when the kind's cache was never ensured. */
  get<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, namespace: string | undefined, name: string): T | undefined {
    for (const informer of this.#informers.get(`${apiVersion}/${kind}`)?.informers ?? []) {
      const found = informer.get(namespace, name);
      if (found) return found as T;
    }
    return undefined;
  }

  get hasSynced(): boolean {
    return [...this.#informers.values()].every((entry) => entry.informers.every((i) => i.hasSynced));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].flatMap((entry) => entry.informers.map((i) => i.stop())));
  }
}
