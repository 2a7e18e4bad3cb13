// The notifier the controller runs: a Notifier whose chat targets are the
// cluster's Alert and AlertProvider objects (read from informers, never with
// per-event GETs) plus each Canary's own analysis.alerts.
//
//   emit(event) ─┬─ Kubernetes Event on the object (serialised, bounded backlog)
//                └─ routes (AlertIndex) → spam rules (NotificationThrottle)
//                     → message (renderMessage) → DeliveryQueue (per provider lane)
//
// emit() does only in-memory work and returns; everything that waits on the
// network happens later, off the caller's path.

import { API_GROUP_VERSION, type Alert, type AlertProvider } from '../api/types.ts';
import { ErrorCodes, isSluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { EventRecorder, type EventSpec } from '../kube/events.ts';
import { kubeEventOf } from './recorder-notifier.ts';
import { Informer, type InformerEvent } from '../kube/informer.ts';
import type { Logger } from '../log.ts';
import { WorkQueue, type ReconcileResult } from '../runtime/queue.ts';
import { DeliveryQueue, type DeliveryFailure, type DeliveryItem, type DeliveryOptions, type TargetResolution } from './delivery.ts';
import { EventReasons, type Notifier, type SluiceEvent } from './event.ts';
import { renderMessage } from './message.ts';
import { NotifyMetrics } from './metrics.ts';
import { redactText } from './redact.ts';
import { AlertIndex, type Route, type RouteOwner } from './routing.ts';
import { resolveProvider, SecretCache, type SecretCacheOptions } from './secrets.ts';
import { alertReadiness, providerReadiness, readyStatusPatch, type ReadyState } from './status.ts';
import { NotificationThrottle, type ThrottleOptions, type WeightUpdates } from './throttle.ts';

export type DeliveryTuning = Omit<DeliveryOptions, 'resolve' | 'onFailed' | 'onDropped' | 'onAddressRejected' | 'logger' | 'metrics'>;

export interface ClusterNotifierOptions {
  client: KubeClient;
  logger: Logger;
  /** Shared with the rest of the controller so Event series dedup sees every event. Default: a new recorder. */
  recorder?: EventRecorder | undefined;
  /** Watch Alerts and AlertProviders of one namespace; all namespaces when absent. */
  namespace?: string | undefined;
  /** Informers the controller already runs; the notifier starts and stops only the ones it creates. */
  alertInformer?: Informer<Alert> | undefined;
  providerInformer?: Informer<AlertProvider> | undefined;
  /** "coalesce" (default): one message per rollout stage; "every": one per weight step. Alerts may override by annotation. */
  weightUpdates?: WeightUpdates | undefined;
  /** Whether Alerts may listen to other namespaces. Default true. */
  allowCrossNamespace?: boolean | undefined;
  throttle?: ThrottleOptions | undefined;
  delivery?: DeliveryTuning | undefined;
  secrets?: SecretCacheOptions | undefined;
  /** Write Ready conditions of Alerts and AlertProviders. Default true. */
  writeStatus?: boolean | undefined;
  /**
   * A standby replica: keep the caches and note which statuses need writing,
   * but write none until startStatusWrites() (called on taking the Lease), so
   * only the leader writes Alert and AlertProvider status. Default false.
   */
  holdStatusWrites?: boolean | undefined;
  /** How often a not-ready AlertProvider is checked again (its Secret may appear). Default 30 s. */
  statusRecheckMs?: number | undefined;
  /** How often a ready AlertProvider is checked again (its Secret may go). Default 5 min. */
  statusResyncMs?: number | undefined;
  /** Events held until the caches sync, and Kubernetes Events waiting to be written. Default 1000 each. */
  maxPendingEvents?: number | undefined;
}

export interface NotifierStats {
  /** Chat messages waiting or in flight. */
  queued: number;
  /** Kubernetes Events waiting to be written. */
  pendingKubeEvents: number;
  /** Events emitted before the caches synced, waiting to be routed. */
  pendingBeforeSync: number;
  /** Secret GETs so far. */
  secretReads: number;
}

function ownerRef(owner: RouteOwner): EventSpec['regarding'] {
  return { apiVersion: owner.apiVersion, kind: owner.kind, namespace: owner.namespace, name: owner.name, uid: owner.uid };
}

export class ClusterNotifier implements Notifier {
  readonly metrics = new NotifyMetrics();
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #recorder: EventRecorder;
  readonly #alerts: Informer<Alert>;
  readonly #providers: Informer<AlertProvider>;
  readonly #ownedInformers: { start(): void; stop(): Promise<void> }[] = [];
  readonly #index: AlertIndex;
  readonly #throttle: NotificationThrottle;
  readonly #secrets: SecretCache;
  readonly #delivery: DeliveryQueue;
  readonly #statusQueue: WorkQueue;
  readonly #writeStatus: boolean;
  #holdStatusWrites: boolean;
  #statusStarted = false;
  readonly #recheckMs: number;
  readonly #resyncMs: number;
  readonly #maxPending: number;
  readonly #providerStates = new Map<string, ReadyState>();
  readonly #beforeSync: SluiceEvent[] = [];
  readonly #unsubscribe: (() => void)[] = [];
  #kubeChain: Promise<void> = Promise.resolve();
  #pendingKubeEvents = 0;
  #synced: Promise<void> | undefined;
  #isSynced = false;
  #started = false;
  #closed = false;

  constructor(options: ClusterNotifierOptions) {
    this.#client = options.client;
    this.#log = options.logger.child({ component: 'notifier' });
    this.#recorder = options.recorder ?? new EventRecorder(options.client, { logger: options.logger });
    this.#alerts = options.alertInformer ?? this.#own(new Informer<Alert>(options.client, {
      apiVersion: API_GROUP_VERSION, kind: 'Alert', namespace: options.namespace, logger: options.logger,
    }));
    this.#providers = options.providerInformer ?? this.#own(new Informer<AlertProvider>(options.client, {
      apiVersion: API_GROUP_VERSION, kind: 'AlertProvider', namespace: options.namespace, logger: options.logger,
    }));
    this.#index = new AlertIndex({ weightUpdates: options.weightUpdates ?? 'coalesce', allowCrossNamespace: options.allowCrossNamespace });
    this.#throttle = new NotificationThrottle(options.throttle);
    this.#secrets = new SecretCache(options.client, options.secrets);
    this.#writeStatus = options.writeStatus ?? true;
    this.#holdStatusWrites = options.holdStatusWrites ?? false;
    this.#recheckMs = options.statusRecheckMs ?? 30_000;
    this.#resyncMs = options.statusResyncMs ?? 300_000;
    this.#maxPending = options.maxPendingEvents ?? 1000;
    this.#delivery = new DeliveryQueue({
      ...options.delivery,
      resolve: (route) => this.#resolve(route),
      onFailed: (failure) => this.#reportFailure(failure),
      onDropped: (item, reason) => this.#reportDrop(item, reason),
      onAddressRejected: (route) => this.#invalidateSecretOf(route.provider.namespace, route.provider.name),
      logger: options.logger,
      metrics: this.metrics,
    });
    this.#statusQueue = new WorkQueue({ name: 'notify-status', concurrency: 2, logger: options.logger });
    this.#unsubscribe.push(this.#alerts.on((event) => this.#onAlert(event)));
    this.#unsubscribe.push(this.#providers.on((event) => this.#onProvider(event)));
  }

  /** Starts the informers it owns and the status writer; routing begins once the caches have synced. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    for (const informer of this.#ownedInformers) informer.start();
    if (!this.#holdStatusWrites) this.#startStatusQueue();
    this.#synced ??= this.#syncThenFlush();
    this.#synced.catch(() => undefined);
  }

  /**
   * Starts writing Alert and AlertProvider status after holdStatusWrites: the
   * keys noted while standing by are written at once. Idempotent.
   */
  startStatusWrites(): void {
    this.#holdStatusWrites = false;
    if (this.#started) this.#startStatusQueue();
  }

  /** Whether this notifier writes status now (false while held on a standby). */
  get writesStatus(): boolean {
    return this.#statusStarted;
  }

  #startStatusQueue(): void {
    if (!this.#writeStatus || this.#statusStarted || this.#closed) return;
    this.#statusStarted = true;
    this.#statusQueue.start((key) => this.#reconcileStatus(key));
  }

  /** Resolves when Alerts and AlertProviders are cached and events are being routed. */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    this.start();
    await Promise.all([this.#alerts.waitForSync(signal), this.#providers.waitForSync(signal)]);
    await this.#synced;
  }

  emit(event: SluiceEvent): void {
    // After stop() the client may be closed; reconcilers are stopped before the notifier.
    if (this.#closed) return;
    try {
      const stamped: SluiceEvent = event.timestamp ? event : { ...event, timestamp: new Date() };
      this.metrics.inc('sluice_notify_events_total', { severity: stamped.severity });
      this.#recordKubeEvent(kubeEventOf(stamped));
      if (!this.#isSynced) {
        if (this.#beforeSync.length >= this.#maxPending) this.#beforeSync.shift();
        this.#beforeSync.push(stamped);
        return;
      }
      this.#route(stamped);
    } catch (error) {
      // emit must never throw into a reconcile.
      this.#log.error({ err: error instanceof Error ? error.message : String(error), reason: event.reason }, 'notifier could not handle an event');
    }
  }

  stats(): NotifierStats {
    return {
      queued: this.#delivery.size,
      pendingKubeEvents: this.#pendingKubeEvents,
      pendingBeforeSync: this.#beforeSync.length,
      secretReads: this.#secrets.reads,
    };
  }

  /** Resolves once every queued chat message and Kubernetes Event has been handled (tests, shutdown). */
  async settled(signal?: AbortSignal): Promise<void> {
    await this.#delivery.idle(signal);
    await this.#kubeChain;
  }

  /** Stops routing, gives queued messages up to `timeoutMs` to go out, then stops. Returns messages not delivered. */
  async stop(timeoutMs = 10_000): Promise<number> {
    this.#closed = true;
    const undelivered = await this.#delivery.close(timeoutMs);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#statusQueue.shutdown({ timeoutMs });
    await Promise.all(this.#ownedInformers.map((informer) => informer.stop()));
    await this.#kubeChain;
    return undelivered;
  }

  #own<T extends { start(): void; stop(): Promise<void> }>(informer: T): T {
    this.#ownedInformers.push(informer);
    return informer;
  }

  async #syncThenFlush(): Promise<void> {
    await Promise.all([this.#alerts.waitForSync(), this.#providers.waitForSync()]);
    // Shared informers may have synced before we subscribed: index what they hold.
    for (const alert of this.#alerts.list()) this.#index.upsert(alert);
    if (this.#writeStatus) {
      for (const provider of this.#providers.list()) this.#statusQueue.add(this.#key('AlertProvider', provider));
      for (const alert of this.#alerts.list()) this.#statusQueue.add(this.#key('Alert', alert));
    }
    this.#isSynced = true;
    for (const event of this.#beforeSync.splice(0)) this.#route(event);
  }

  #route(event: SluiceEvent): void {
    for (const route of this.#index.routesFor(event)) {
      const verdict = this.#throttle.decide(route, event);
      if (!verdict.send) {
        this.metrics.inc('sluice_notify_messages_suppressed_total', { why: verdict.why });
        continue;
      }
      const message = renderMessage(event, verdict.annotations, { summary: route.summary, eventMetadata: route.eventMetadata });
      const provider = this.#providers.get(route.provider.namespace, route.provider.name);
      this.#delivery.enqueue({ route, message, providerType: provider?.spec.type ?? 'unknown' });
    }
  }

  #recordKubeEvent(spec: EventSpec): void {
    if (this.#pendingKubeEvents >= this.#maxPending) {
      this.metrics.inc('sluice_notify_kube_events_failed_total');
      return;
    }
    this.#pendingKubeEvents++;
    // One at a time, in order: keeps the recorder's series dedup exact and the API load bounded.
    this.#kubeChain = this.#kubeChain.then(async () => {
      const recorded = await this.#recorder.record(spec);
      if (!recorded) this.metrics.inc('sluice_notify_kube_events_failed_total');
    }).catch(() => {
      this.metrics.inc('sluice_notify_kube_events_failed_total');
    }).finally(() => {
      this.#pendingKubeEvents--;
    });
  }

  async #resolve(route: Route): Promise<TargetResolution> {
    const provider = this.#providers.get(route.provider.namespace, route.provider.name);
    if (!provider) return { ok: false, retryable: false, message: `AlertProvider ${route.provider.namespace}/${route.provider.name} not found` };
    return resolveProvider(provider, this.#secrets);
  }

  #reportFailure(failure: DeliveryFailure): void {
    this.#recordKubeEvent({
      regarding: ownerRef(failure.item.route.owner),
      type: 'Warning',
      reason: EventReasons.NotificationDispatchFailed,
      action: 'Notify',
      // Already redacted by the delivery queue; redact again in case a future path is not.
      note: redactText(failure.error.message),
    });
  }

  #reportDrop(item: DeliveryItem, reason: string): void {
    this.#recordKubeEvent({
      regarding: ownerRef(item.route.owner),
      type: 'Warning',
      reason: EventReasons.NotificationDispatchFailed,
      action: 'Notify',
      // A stable note, so repeated drops become one Event series.
      note: `notification queue full (${reason}); older messages are being dropped`,
    });
  }

  #invalidateSecretOf(namespace: string, name: string): void {
    const secretName = this.#providers.get(namespace, name)?.spec.secretRef?.name;
    if (secretName) this.#secrets.invalidate(namespace, secretName);
  }

  #key(kind: 'Alert' | 'AlertProvider', object: Alert | AlertProvider): string {
    return `${kind}/${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
  }

  #onAlert(event: InformerEvent<Alert>): void {
    if (event.type === 'deleted') {
      this.#index.remove(event.object);
      return;
    }
    this.#index.upsert(event.object);
    if (this.#needsStatus(event)) this.#statusQueue.add(this.#key('Alert', event.object));
  }

  #onProvider(event: InformerEvent<AlertProvider>): void {
    const { object } = event;
    const namespace = object.metadata.namespace ?? 'default';
    const specChanged = event.type !== 'updated' || object.metadata.generation !== event.old.metadata.generation;
    // A changed provider may point at another Secret, or the same one was fixed: read it again.
    if (specChanged && object.spec.secretRef) this.#secrets.invalidate(namespace, object.spec.secretRef.name);
    if (specChanged && event.type === 'updated' && event.old.spec.secretRef) this.#secrets.invalidate(namespace, event.old.spec.secretRef.name);
    const key = this.#key('AlertProvider', object);
    if (event.type === 'deleted') this.#providerStates.delete(key);
    else if (this.#needsStatus(event)) this.#statusQueue.add(key);
    if (event.type !== 'updated' || this.#needsStatus(event)) {
      for (const compiled of this.#index.usingProvider(namespace, object.metadata.name)) this.#statusQueue.add(this.#key('Alert', compiled.alert));
    }
  }

  /** Spec changes and new objects need a status; our own status patches do not. */
  #needsStatus(event: InformerEvent<Alert> | InformerEvent<AlertProvider>): boolean {
    if (event.type !== 'updated') return true;
    const ready = event.object.status?.conditions?.find((c) => c.type === 'Ready');
    return event.object.metadata.generation !== event.old.metadata.generation || !ready || ready.observedGeneration !== event.object.metadata.generation;
  }

  async #reconcileStatus(key: string, signal?: AbortSignal): Promise<ReconcileResult | void> {
    const [kind, namespace = '', name = ''] = key.split('/');
    if (kind === 'AlertProvider') {
      const provider = this.#providers.get(namespace, name);
      if (!provider) return;
      const state = providerReadiness(await resolveProvider(provider, this.#secrets));
      const previous = this.#providerStates.get(key);
      this.#providerStates.set(key, state);
      await this.#patchReady(provider, state, signal);
      if (previous && (previous.status !== state.status || previous.message !== state.message)) {
        for (const compiled of this.#index.usingProvider(namespace, name)) this.#statusQueue.add(this.#key('Alert', compiled.alert));
      }
      return { requeueAfterMs: state.status === 'True' ? this.#resyncMs : this.#recheckMs };
    }
    const compiled = this.#index.get(namespace, name);
    if (!compiled) return;
    const { provider: ref } = compiled.route;
    const provider = this.#providers.get(ref.namespace, ref.name);
    const providerKey = `AlertProvider/${ref.namespace}/${ref.name}`;
    let providerState = this.#providerStates.get(providerKey);
    if (provider && !providerState) {
      providerState = providerReadiness(await resolveProvider(provider, this.#secrets));
      this.#providerStates.set(providerKey, providerState);
    }
    await this.#patchReady(compiled.alert, alertReadiness(compiled, provider, providerState), signal);
  }

  async #patchReady(object: Alert | AlertProvider, state: ReadyState, signal?: AbortSignal): Promise<void> {
    const patch = readyStatusPatch(object, state, new Date());
    if (!patch) return;
    const ref = { apiVersion: API_GROUP_VERSION, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name };
    try {
      await this.#client.patchStatus(ref, patch, signal);
    } catch (error) {
      if (isSluiceError(error, ErrorCodes.KubeNotFound)) return;
      throw error;
    }
  }
}
