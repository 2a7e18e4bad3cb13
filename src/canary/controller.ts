// The Canary controller: for each Canary, observe the target and primary from
// informer caches, gather what the state machine needs this tick (gates,
// webhooks, metric analysis), run one pure step, carry out its actions
// (server-side apply of workloads, Services and router objects; scaling),
// write the status, and announce the stages. Time-paced steps are scheduled
// with requeueAfter from status.lastStepTime, so a restart neither repeats
// nor skips a step.
import type { Logger } from 'pino';
import { findCondition, removeCondition, setCondition } from '../api/conditions.ts';
import {
  API_GROUP_VERSION,
  Kinds,
  type Canary,
  type CanaryProvider,
  type CanaryStatus,
  type ManualRequestStatus,
  type MetricCheckStatus,
  type MetricTemplate,
  type RollbackWriteBack,
} from '../api/types.ts';
import type { ControllerDeps, RunningController } from '../controllers.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../errors.ts';
import type { InformerEvent } from '../kube/informer.ts';
import { objectKey, type KubeObject, type ObjectRef } from '../kube/types.ts';
import { Controller, type ReconcileContext } from '../runtime/controller.ts';
import type { ReconcileResult } from '../runtime/queue.ts';
import { analysisEvents, checkMetricProviders, runAnalysis, toMetricStatuses, type AnalysisConfig, type AnalysisContext, type AnalysisResult, type Secret } from './analysis/index.ts';
import { ObjectCaches } from './caches.ts';
import { routerFor } from './routers/factory.ts';
import { routerLimitations, type Router } from './routers/router.ts';
import { PREVIOUS_PRIMARY_ANNOTATION, previousPrimaryOf, restorability, restoredPrimary } from './previous-primary.ts';
import { forgetCanary, recordCanaryStatus } from './metrics.ts';
import { canaryMetrics } from '../runtime/metrics.ts';
import { EventReasons, eventFor } from '../notify/event.ts';
import { writeBackRollback } from '../gitops/writeback/writeback.ts';
import { stageEmitter, type StageEmitter } from './stages.ts';
import {
  analysisRoutes,
  intervalMs,
  isActive,
  PRIMARY_ROUTES,
  requiredInputs,
  step,
  strategyOf,
  type CheckResult,
  type DecidedRequests,
  type Observed,
  type Routes,
  type StepInputs,
} from './state.ts';
import { evaluateGate, notifyWebhooks, rollbackRequested, webhookCheck, type WebhookContext } from './webhooks.ts';
import {
  buildConfigCopy,
  buildPrimary,
  buildPrimaryHpa,
  buildService,
  configChecksum,
  imagesOf,
  isDeploymentReady,
  primaryName,
  REVISION_ANNOTATION,
  revisionOf,
  trackedConfigs,
  type ConfigObject,
  type Deployment,
  type HorizontalPodAutoscaler,
} from './workloads.ts';

/** Annotations that ask for manual actions; the value is a request id, acknowledged in status.requests. */
export const ManualAnnotations = {
  promote: 'sluice.dev/promote',
  abort: 'sluice.dev/abort',
  retry: 'sluice.dev/retry',
  /** Holds an active rollout where it is until a later sluice.dev/resume (status.paused). */
  pause: 'sluice.dev/pause',
  resume: 'sluice.dev/resume',
} as const;

/** How often a write-back that failed for a passing reason (network, a busy branch) is tried again. */
const WRITE_BACK_RETRY_MS = 5 * 60_000;

/** How long an applied object is trusted to be unchanged before it is applied again. */
const APPLY_RESYNC_MS = 10 * 60_000;

/** Holds a Canary with revertOnDeletion until the target serves again. */
export const REVERT_FINALIZER = 'sluice.dev/revert-on-deletion';

export const CanaryConditions = {
  /** True while the target still declares a revision that was rolled back (Git and cluster disagree). */
  FailedRevisionDeclared: 'FailedRevisionDeclared',
  /** True while the Canary sets fields its router ignores or carries only in part (the message lists them). */
  RouterLimitations: 'RouterLimitations',
  /** True while a sluice.dev/pause request holds the rollout (status.paused says who and since when). */
  Paused: 'Paused',
} as const;

export interface CanaryControllerOptions {
  /** Router of Canaries without spec.provider; overrides config.canaryProvider (--canary-provider). */
  defaultProvider?: CanaryProvider | undefined;
  /** Prometheus for built-in metrics; overrides config.metricsServer (--metrics-server). */
  metricsServer?: string | undefined;
  /** Replaces the stage emitter (tests). */
  onStages?: StageEmitter | undefined;
  /** Called after each time-paced step with how late it ran (benchmarks, metrics). */
  onStep?: ((step: { key: string; lagMs: number }) => void) | undefined;
}

type ManualKind = keyof typeof ManualAnnotations;

interface Written {
  uid: string | undefined;
  resourceVersion: string;
  status: CanaryStatus;
}

function numericVersion(resourceVersion: string | undefined): number {
  const n = Number(resourceVersion);
  return Number.isFinite(n) ? n : -1;
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Routes the router objects should have for a status. */
export function routesFor(canary: Canary, status: CanaryStatus): Routes {
  switch (status.phase) {
    case 'Progressing':
    case 'WaitingPromotion':
      return analysisRoutes(canary.spec, status);
    case 'Promoting':
    case 'Finalising':
      return { canaryWeight: status.canaryWeight ?? 0, match: false, mirror: false };
    default:
      return PRIMARY_ROUTES;
  }
}

/** Status patch that also removes top-level fields the new status dropped (merge patch needs null). */
function statusPatch(previous: CanaryStatus, next: CanaryStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(previous)) if (!(key in next)) patch[key] = null;
  return patch;
}

export class CanaryController implements RunningController {
  readonly name = 'canary';
  readonly controller: Controller<Canary>;
  readonly caches: ObjectCaches;
  readonly #deps: ControllerDeps;
  readonly #defaultProvider: CanaryProvider;
  readonly #analysisConfig: AnalysisConfig;
  readonly #stages: StageEmitter;
  readonly #written = new Map<string, Written>();
  /** Target workload of each Canary, to drop its weight series when the Canary goes. */
  readonly #metricTargets = new Map<string, string>();
  /** What this controller last applied per object, so unchanged objects are not sent again every tick. */
  readonly #applied = new Map<string, { body: string; at: number }>();
  readonly #lastAnalysis = new Map<string, AnalysisResult>();
  /** The previous-primary annotation of the promotion under way per Canary, so a re-sent promotion keeps it (a stale cache would not). */
  readonly #previousPrimary = new Map<string, { revision: string; value: string | undefined }>();
  readonly #log: Logger;
  readonly #onStep: CanaryControllerOptions['onStep'];

  constructor(deps: ControllerDeps, options: CanaryControllerOptions = {}) {
    this.#deps = deps;
    this.#log = deps.logger.child({ controller: 'canary' });
    this.#defaultProvider = options.defaultProvider ?? deps.config.canaryProvider;
    this.#analysisConfig = { metricsServer: options.metricsServer ?? deps.config.metricsServer, defaultRouter: this.#defaultProvider };
    this.#onStep = options.onStep;
    this.#stages = options.onStages ?? stageEmitter({ notifier: deps.notifier, events: deps.events, logger: this.#log });
    this.controller = new Controller<Canary>({
      client: deps.client,
      apiVersion: API_GROUP_VERSION,
      kind: Kinds.Canary,
      namespaces: deps.config.namespaces,
      concurrency: deps.config.concurrency,
      logger: deps.logger,
      reconcile: (canary, context) => this.reconcile(canary, context),
      onDeleted: (key) => {
        this.#forget(key);
        return Promise.resolve();
      },
    });
    this.caches = new ObjectCaches(deps.client, { namespaces: deps.config.namespaces, logger: this.#log, onEvent: (kind, event) => this.#onRelated(kind, event) });
  }

  hasSynced(): boolean {
    return this.controller.hasSynced && this.caches.hasSynced;
  }

  async start(): Promise<void> {
    // Targets and primaries are needed by every Canary; start their cache before the first reconcile.
    await this.caches.ensure('apps/v1', 'Deployment');
    this.controller.start();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    await this.caches.stop();
  }

  /** Re-queues the Canaries a changed Deployment, config, Ingress or HPA belongs to. */
  #onRelated(kind: string, event: InformerEvent<KubeObject>): void {
    const { namespace, name } = event.object.metadata;
    for (const canary of this.controller.list(namespace)) {
      const spec = canary.spec;
      const related = kind === 'Deployment'
        ? spec.targetRef.name === name || primaryName(spec.targetRef.name) === name
        : kind === 'Ingress'
          ? spec.ingressRef?.name === name
          : kind === 'HorizontalPodAutoscaler'
            ? spec.autoscalerRef?.name === name
            : kind === 'ConfigMap' || kind === 'Secret'
              ? this.#status(canary).trackedConfigs?.[`${kind}/${name}`] !== undefined
              : kind === 'MetricTemplate';
      if (related) this.controller.enqueue(objectKey(canary.metadata));
    }
  }

  #forget(key: string): void {
    const slash = key.indexOf('/');
    forgetCanary(key.slice(0, slash), key.slice(slash + 1), this.#metricTargets.get(key));
    this.#metricTargets.delete(key);
    this.#written.delete(key);
    this.#lastAnalysis.delete(key);
    this.#previousPrimary.delete(key);
    for (const applied of this.#applied.keys()) if (applied.startsWith(`${key}|`)) this.#applied.delete(applied);
  }

  /** The newest status: the cache's, or the one this controller wrote if the cache has not caught up. */
  #status(canary: Canary): CanaryStatus {
    const written = this.#written.get(objectKey(canary.metadata));
    if (written && written.uid === canary.metadata.uid && numericVersion(written.resourceVersion) > numericVersion(canary.metadata.resourceVersion)) {
      return structuredClone(written.status);
    }
    return structuredClone(canary.status ?? {});
  }

  async #writeStatus(canary: Canary, previous: CanaryStatus, next: CanaryStatus, signal: AbortSignal): Promise<void> {
    if (JSON.stringify(previous) === JSON.stringify(next)) return;
    const ref: ObjectRef = { apiVersion: canary.apiVersion, kind: canary.kind, namespace: canary.metadata.namespace, name: canary.metadata.name };
    const updated = await this.#deps.client.patchStatus<Canary>(ref, statusPatch(previous, next), signal);
    this.#written.set(objectKey(canary.metadata), { uid: canary.metadata.uid, resourceVersion: updated.metadata.resourceVersion ?? '', status: updated.status ?? next });
    recordCanaryStatus(canary, previous, next);
    this.#metricTargets.set(objectKey(canary.metadata), canary.spec.targetRef.name);
    const namespace = canary.metadata.namespace ?? 'default';
    canaryMetrics.setTotal(namespace, this.controller.list(namespace).length);
  }

  /** Server-side apply, skipped when this controller already applied the same object. */
  async #apply(canary: Canary, object: KubeObject, signal: AbortSignal): Promise<void> {
    const key = `${objectKey(canary.metadata)}|${object.apiVersion}/${object.kind}/${object.metadata.name}`;
    const body = JSON.stringify(object);
    const last = this.#applied.get(key);
    // Re-sent now and then anyway, which undoes hand edits of generated objects.
    if (last?.body === body && Date.now() - last.at < APPLY_RESYNC_MS) return;
    try {
      await this.#deps.client.apply(object, { force: true, signal });
      this.#applied.set(key, { body, at: Date.now() });
    } catch (error) {
      this.#applied.delete(key);
      throw error;
    }
  }

  async #scale(canary: Canary, name: string, replicas: number, signal: AbortSignal): Promise<void> {
    await this.#deps.client.patchMerge({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: canary.metadata.namespace, name }, { spec: { replicas } }, signal);
  }

  async reconcile(canary: Canary, { log, signal }: ReconcileContext): Promise<ReconcileResult | void> {
    const hasFinalizer = canary.metadata.finalizers?.includes(REVERT_FINALIZER) === true;
    if (canary.metadata.deletionTimestamp) {
      return hasFinalizer ? this.#revert(canary, log, signal) : undefined;
    }
    if (canary.spec.revertOnDeletion === true && !hasFinalizer) {
      await this.#setFinalizer(canary, true, signal);
    } else if (canary.spec.revertOnDeletion !== true && hasFinalizer) {
      await this.#setFinalizer(canary, false, signal);
    }
    const namespace = canary.metadata.namespace;
    const previous = this.#status(canary);
    let status = structuredClone(previous);
    const generation = canary.metadata.generation;

    let router: Router;
    try {
      router = routerFor(canary, this.#defaultProvider);
      if (router.provider === 'kubernetes' && strategyOf(canary.spec.analysis) !== 'bluegreen') {
        throw new SluiceError(ErrorCodes.SpecInvalid, 'provider kubernetes supports Blue/Green only (analysis.iterations without match)', {
          hint: 'use iterations, or a traffic-shifting provider (nginx, gatewayapi, istio, linkerd) for stepWeight and match',
        });
      }
      if (strategyOf(canary.spec.analysis) === 'ab' && !router.fields['analysis.match']) {
        throw new SluiceError(ErrorCodes.SpecInvalid, `provider ${router.provider} cannot route by header or cookie, so an A/B test (analysis.match) would send the canary no traffic`, {
          hint: 'use provider istio, gatewayapi or nginx for A/B testing, or stepWeight for a weighted canary',
        });
      }
    } catch (error) {
      return this.#stalled(canary, previous, toSluiceError(error), signal);
    }

    await this.caches.ensure('apps/v1', 'Deployment', signal);
    const target = this.caches.get<Deployment>('apps/v1', 'Deployment', namespace, canary.spec.targetRef.name);
    if (!target) {
      status.conditions = setCondition(status.conditions, { type: 'Ready', status: 'False', reason: 'TargetNotFound', message: `Deployment ${namespace ?? ''}/${canary.spec.targetRef.name} does not exist`, observedGeneration: generation });
      await this.#writeStatus(canary, previous, status, signal);
      return;
    }
    await Promise.all([this.caches.ensure('v1', 'ConfigMap', signal), this.caches.ensure('v1', 'Secret', signal)]);
    for (const source of router.sources(canary)) await this.caches.ensure(source.apiVersion, source.kind, signal);

    let configs;
    try {
      configs = trackedConfigs(target.spec.template, (kind, name) => this.caches.get<ConfigObject>('v1', kind, namespace, name));
    } catch (error) {
      return this.#stalled(canary, previous, toSluiceError(error), signal, 30_000);
    }
    const configLookup = (kind: 'ConfigMap' | 'Secret', name: string): ConfigObject | undefined => this.caches.get<ConfigObject>('v1', kind, namespace, name);
    const checksums: Record<string, string> = {};
    for (const { ref, object } of configs) if (object) checksums[`${ref.kind}/${ref.name}`] = configChecksum(object);
    const revision = revisionOf(target.spec.template, checksums);
    const primary = this.caches.get<Deployment>('apps/v1', 'Deployment', namespace, primaryName(target.metadata.name));
    const observed: Observed = {
      now: new Date(),
      revision,
      images: imagesOf(target.spec.template),
      canaryReady: (target.spec.replicas ?? 1) > 0 && isDeploymentReady(target, canary.spec.analysis.canaryReadyThreshold ?? 100),
      primaryReady: isDeploymentReady(primary, canary.spec.analysis.primaryReadyThreshold ?? 100),
      primaryRevision: primary?.metadata.annotations?.[REVISION_ANNOTATION],
      ...(status.phase === 'Promoting' || status.phase === 'Finalising'
        ? { previousPrimary: restorability(primary, { lastPromoted: status.lastPromotedSpec, lookup: configLookup }) }
        : {}),
    };
    status.trackedConfigs = checksums;

    const hpa = canary.spec.autoscalerRef ? await this.#hpa(canary, signal) : undefined;
    const copyConfigs = async (): Promise<Set<string>> => {
      const copied = new Set<string>();
      for (const { ref, object } of configs) {
        if (!object) continue;
        await this.#apply(canary, buildConfigCopy(canary, object), signal);
        copied.add(`${ref.kind}/${ref.name}`);
      }
      return copied;
    };
    const applyPrimary = async (replicas: number, previous?: string): Promise<void> => {
      const copied = await copyConfigs();
      const object = buildPrimary(canary, target, { revision, replicas, copiedConfigs: copied });
      if (previous !== undefined) object.metadata.annotations = { ...object.metadata.annotations, [PREVIOUS_PRIMARY_ANNOTATION]: previous };
      await this.#apply(canary, object, signal);
      if (hpa) await this.#apply(canary, buildPrimaryHpa(canary, hpa, primaryName(target.metadata.name)), signal);
    };
    /** Promotion: the new spec, with the primary's spec before it kept for an abort (read before the config copies change). */
    const promotePrimary = async (): Promise<void> => {
      const key = objectKey(canary.metadata);
      let kept = this.#previousPrimary.get(key);
      if (kept?.revision !== revision) {
        kept = { revision, value: previousPrimaryOf(primary, { revision, lastPromoted: status.lastPromotedSpec, canaryUid: canary.metadata.uid, lookup: configLookup }) };
        this.#previousPrimary.set(key, kept);
      }
      await applyPrimary(promotionReplicas(), kept.value);
    };

    // Promotion copies the template, strategy, minReadySeconds and, without an HPA, the canary's replicas.
    const promotionReplicas = (): number => (hpa ? primary?.spec.replicas ?? 1 : (target.spec.replicas ?? 0) > 0 ? target.spec.replicas ?? 1 : primary?.spec.replicas ?? 1);

    if (status.phase === undefined || status.phase === 'Initializing') {
      // The target's own replica count, before it is scaled to zero, sizes the primary.
      const replicas = (target.spec.replicas ?? 1) > 0 ? target.spec.replicas ?? 1 : primary?.spec.replicas ?? 1;
      await applyPrimary(replicas);
      await this.#apply(canary, buildService(canary, target, 'primary'), signal);
      await this.#apply(canary, buildService(canary, target, 'canary'), signal);
    }

    // Metric providers are checked when the Canary is new or its spec changed, not every tick.
    if ((canary.spec.analysis.metrics ?? []).length > 0 && (status.phase === undefined || status.phase === 'Initializing' || status.observedGeneration !== generation)) {
      const availability = await checkMetricProviders(canary, await this.#analysisContext(canary, log, signal));
      status.conditions = setCondition(status.conditions, availability.condition);
    }

    // A promotion whose primary update was lost (crash between apply and status write) is re-sent.
    if (status.phase === 'Promoting' && observed.revision === status.lastAppliedSpec && observed.primaryRevision !== status.lastAppliedSpec) {
      await promotePrimary();
    }

    const pending = this.#pendingRequests(canary, status);
    const inputs: StepInputs = { manual: pending };
    const needs = requiredInputs(canary.spec, status, observed, { retry: pending.retry !== undefined, pause: pending.pause, resume: pending.resume });
    const hookContext: WebhookContext = {
      phase: status.phase ?? 'Initializing',
      checksum: revision,
      canaryWeight: status.canaryWeight ?? 0,
      canaryImages: observed.images,
      primaryImages: primary ? imagesOf(primary.spec.template) : [],
      signal,
    };
    if (needs.gate) inputs.gate = await evaluateGate(canary, needs.gate, hookContext);
    if (needs.rollbackHooks) inputs.rollbackRequested = await rollbackRequested(canary, hookContext);
    if (needs.preRollout) inputs.preRollout = await webhookCheck(canary, 'pre-rollout', hookContext);
    if (needs.analysis) inputs.analysis = await this.#analyse(canary, status, hookContext, log, signal);

    const result = step(canary.spec, status, observed, inputs);
    if (this.#onStep && previous.lastStepTime && result.status.lastStepTime && result.status.lastStepTime !== previous.lastStepTime) {
      const scheduled = Date.parse(previous.lastStepTime) + intervalMs(canary.spec.analysis);
      this.#onStep({ key: objectKey(canary.metadata), lagMs: Date.parse(result.status.lastStepTime) - scheduled });
    }
    status = result.status;
    this.#acknowledge(canary, status, pending, { before: previous.phase, after: status.phase, now: observed.now, decided: result.requests });
    if (status.paused && status.paused.id === pending.pause && status.requests?.pause?.by) status.paused.by = status.requests.pause.by;

    for (const action of result.actions) {
      if (action.type === 'scaleCanary') {
        if (action.to === 'zero') {
          await this.#scale(canary, target.metadata.name, 0, signal);
        } else if ((target.spec.replicas ?? 0) === 0) {
          await this.#scale(canary, target.metadata.name, primary?.spec.replicas ?? 1, signal);
        }
      } else if (action.type === 'promotePrimary') {
        await promotePrimary();
      } else if (action.type === 'restorePrimary') {
        const restored = restoredPrimary(canary, target, primary);
        if (restored) await this.#apply(canary, restored, signal);
        else log.warn('the primary\'s previous spec is gone; it keeps the promoted one');
        this.#previousPrimary.delete(objectKey(canary.metadata));
      } else if (action.type === 'webhooks') {
        const calls = await notifyWebhooks(canary, action.hook, { ...hookContext, phase: status.phase ?? 'Succeeded' });
        for (const call of calls.filter((c) => !c.ok)) log.warn({ webhook: call.webhook }, call.message);
      }
    }
    // Idle phases keep the canary at zero even when Git re-applies a replica count.
    if (!isActive(status.phase) && status.phase !== 'Initializing' && (target.spec.replicas ?? 0) > 0 && !result.actions.some((a) => a.type === 'scaleCanary')) {
      await this.#scale(canary, target.metadata.name, 0, signal);
    }
    if (status.phase !== 'Initializing') await this.#applyRoutes({ ...canary, status }, target, router, routesFor(canary, status), signal);

    status.conditions = this.#conditions(canary, status, observed.revision);
    status.conditions = this.#routerLimitations(canary, router, status.conditions, previous.conditions);
    status.observedGeneration = generation;
    await this.#writeStatus(canary, previous, status, signal);
    if (result.stages.length > 0) {
      for (const stage of result.stages) {
        const kind = stage.kind === 'ManualPromote' ? 'promote' : stage.kind === 'ManualAbort' ? 'abort' : stage.kind === 'ManualRetry' ? 'retry' : undefined;
        const actor = kind ? status.requests?.[kind]?.by : undefined;
        if (actor) stage.details = { ...stage.details, actor };
      }
      await this.#stages.emit(canary, result.stages, { ...hookContext, phase: status.phase ?? 'Initializing', canaryWeight: status.canaryWeight ?? 0 });
    }
    this.#announcePauses(canary, status, pending, revision);
    const writeBackRetryMs = await this.#writeBackRollback(canary, status, primary, observed.revision, log, signal);
    const requeueAfterMs = [result.requeueAfterMs, writeBackRetryMs].filter((ms) => ms !== undefined).reduce<number | undefined>((a, b) => (a === undefined ? b : Math.min(a, b)), undefined);
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs: Math.max(50, requeueAfterMs) };
  }

  /**
   * spec.writeBackRollback: once a rollback is done and Git still declares the
   * failed version, commit the primary's images to the branch the target was
   * synced from. Runs after the rollback's status is written, so a failed push
   * never holds the rollback back; the result goes to failedRevision.writeBack
   * (so it happens once) and to an Event. Returns when to try again, if at all.
   */
  async #writeBackRollback(canary: Canary, written: CanaryStatus, primary: Deployment | undefined, revision: string, log: Logger, signal: AbortSignal): Promise<number | undefined> {
    const failed = written.failedRevision;
    if (canary.spec.writeBackRollback !== true || written.phase !== 'Failed' || !failed || failed.revision !== revision || !primary) return undefined;
    const previousAttempt = failed.writeBack;
    if (previousAttempt) {
      if (previousAttempt.outcome !== 'Failed' || previousAttempt.retryable !== true) return undefined;
      const waitMs = Date.parse(previousAttempt.time ?? '') + WRITE_BACK_RETRY_MS - Date.now();
      if (waitMs > 0) return waitMs;
    }
    const namespace = canary.metadata.namespace ?? 'default';
    const restoreImages = imagesOf(primary.spec.template);
    let writeBack: RollbackWriteBack;
    let retryMs: number | undefined;
    try {
      const result = await writeBackRollback({
        client: this.#deps.client,
        deployment: { namespace, name: canary.spec.targetRef.name },
        failedImages: failed.images ?? [],
        restoreImages,
        reason: failed.reason ?? 'rolled back',
        canary: { namespace, name: canary.metadata.name },
        signal,
        logger: log,
      });
      writeBack = result.outcome === 'committed'
        ? { outcome: 'Committed', commit: result.commit, branch: result.branch, files: result.files, message: `committed ${result.commit.slice(0, 12)} to ${result.branch}: ${restoreImages.join(', ')} in ${result.files.join(', ')}`, time: iso(new Date()) }
        : { outcome: 'AlreadyClean', commit: result.commit, branch: result.branch, message: `branch ${result.branch} at ${result.commit.slice(0, 12)} no longer declares ${(failed.images ?? []).join(', ')}; nothing to commit`, time: iso(new Date()) };
    } catch (error) {
      if (signal.aborted) throw error;
      const wrapped = toSluiceError(error);
      writeBack = { outcome: 'Failed', message: wrapped.describe(), retryable: wrapped.retryable, time: iso(new Date()) };
      if (wrapped.retryable) retryMs = WRITE_BACK_RETRY_MS;
    }
    const next = structuredClone(written);
    if (next.failedRevision) next.failedRevision.writeBack = writeBack;
    await this.#writeStatus(canary, written, next, signal);
    const failedWriteBack = writeBack.outcome === 'Failed';
    const message = failedWriteBack
      ? `writing the rollback back to Git failed${retryMs ? ' (will retry)' : ''}: ${writeBack.message ?? ''}`
      : writeBack.message ?? 'rollback written back to Git';
    if (failedWriteBack) log.warn({ writeBack }, message);
    else log.info({ writeBack }, message);
    this.#deps.notifier.emit(eventFor(canary, failedWriteBack ? EventReasons.CanaryRollbackWriteBackFailed : EventReasons.CanaryRollbackWrittenToGit, message, {
      metadata: { revision, images: { from: failed.images, to: restoreImages }, ...(writeBack.commit ? { extra: { commit: writeBack.commit } } : {}) },
    }));
    return retryMs;
  }

  async #setFinalizer(canary: Canary, present: boolean, signal: AbortSignal): Promise<void> {
    const others = (canary.metadata.finalizers ?? []).filter((f) => f !== REVERT_FINALIZER);
    const finalizers = present ? [...others, REVERT_FINALIZER] : others;
    // A status this controller just wrote is newer than the cached object (finalizers are unchanged by it).
    const written = this.#written.get(objectKey(canary.metadata));
    const resourceVersion = written && written.uid === canary.metadata.uid && numericVersion(written.resourceVersion) > numericVersion(canary.metadata.resourceVersion)
      ? written.resourceVersion
      : canary.metadata.resourceVersion;
    // resourceVersion makes the merge patch conditional, so a concurrent finalizer change is not lost.
    await this.#deps.client.patchMerge(
      { apiVersion: canary.apiVersion, kind: canary.kind, namespace: canary.metadata.namespace, name: canary.metadata.name },
      { metadata: { finalizers, resourceVersion } },
      signal,
    );
  }

  /**
   * revertOnDeletion: give the target back its traffic before the Canary and
   * the objects it owns go. The target is scaled up to the primary's size, the
   * apex Service is released (no owner) and pointed at the target's pods once
   * they are ready (or the progress deadline passed), then the finalizer goes
   * and garbage collection removes the primary and router objects.
   */
  async #revert(canary: Canary, log: Logger, signal: AbortSignal): Promise<ReconcileResult | void> {
    const namespace = canary.metadata.namespace;
    const previous = this.#status(canary);
    const status = structuredClone(previous);
    if (status.phase !== 'Terminating' && status.phase !== 'Terminated') {
      status.phase = 'Terminating';
      status.lastTransitionTime = iso(new Date());
      await this.#writeStatus(canary, previous, status, signal);
    }
    await this.caches.ensure('apps/v1', 'Deployment', signal);
    const target = this.caches.get<Deployment>('apps/v1', 'Deployment', namespace, canary.spec.targetRef.name);
    if (target) {
      const primary = this.caches.get<Deployment>('apps/v1', 'Deployment', namespace, primaryName(target.metadata.name));
      const replicas = primary?.spec.replicas ?? 1;
      if ((target.spec.replicas ?? 0) === 0) await this.#scale(canary, target.metadata.name, replicas, signal);
      const deadline = Date.parse(canary.metadata.deletionTimestamp ?? '') + (canary.spec.progressDeadlineSeconds ?? 600) * 1000;
      if (!isDeploymentReady(target) && Date.now() < deadline) return { requeueAfterMs: 2_000 };
      if (!isDeploymentReady(target)) log.warn('target not ready within the progress deadline; reverting anyway');
      const apex = buildService(canary, target, 'apex', 'canary');
      delete apex.metadata.ownerReferences;
      await this.#deps.client.apply(apex, { force: true, signal });
    }
    // As Flagger: the revert is done, say so before the finalizer goes.
    const reverted = this.#status(canary);
    if (reverted.phase !== 'Terminated') {
      const terminated = structuredClone(reverted);
      terminated.phase = 'Terminated';
      terminated.lastTransitionTime = iso(new Date());
      delete terminated.paused;
      await this.#writeStatus(canary, reverted, terminated, signal);
    }
    await this.#setFinalizer(canary, false, signal);
    this.#forget(objectKey(canary.metadata));
    log.info('reverted: the target serves the apex Service again');
  }

  async #applyRoutes(canary: Canary, target: Deployment, router: Router, routes: Routes, signal: AbortSignal): Promise<void> {
    await this.#apply(canary, buildService(canary, target, 'primary'), signal);
    await this.#apply(canary, buildService(canary, target, 'canary'), signal);
    await this.#apply(canary, buildService(canary, target, 'apex', router.apexSelects(routes)), signal);
    const lookup = (apiVersion: string, kind: string, name: string): KubeObject | undefined => this.caches.get(apiVersion, kind, canary.metadata.namespace, name);
    for (const object of router.build(canary, routes, lookup)) await this.#apply(canary, object, signal);
  }

  async #hpa(canary: Canary, signal: AbortSignal): Promise<HorizontalPodAutoscaler | undefined> {
    const ref = canary.spec.autoscalerRef;
    if (!ref) return undefined;
    const apiVersion = ref.apiVersion ?? 'autoscaling/v2';
    await this.caches.ensure(apiVersion, 'HorizontalPodAutoscaler', signal);
    return this.caches.get<HorizontalPodAutoscaler>(apiVersion, 'HorizontalPodAutoscaler', canary.metadata.namespace, ref.name);
  }

  async #analysisContext(canary: Canary, log: Logger, signal: AbortSignal): Promise<AnalysisContext> {
    await Promise.all([this.caches.ensure(API_GROUP_VERSION, Kinds.MetricTemplate, signal), this.caches.ensure('v1', 'Secret', signal)]);
    return {
      templates: { get: (ns, name) => this.caches.get<MetricTemplate>(API_GROUP_VERSION, Kinds.MetricTemplate, ns, name) },
      secrets: { get: (ns, name) => this.caches.get<Secret>('v1', 'Secret', ns, name) },
      config: this.#analysisConfig,
      previous: this.#lastAnalysis.get(objectKey(canary.metadata)),
      signal,
      logger: log,
    };
  }

  /** rollout webhooks plus metric checks, as one check for the state machine. */
  async #analyse(canary: Canary, status: CanaryStatus, hookContext: WebhookContext, log: Logger, signal: AbortSignal): Promise<CheckResult> {
    const key = objectKey(canary.metadata);
    const hooks = await webhookCheck(canary, 'rollout', hookContext);
    let metrics: AnalysisResult | undefined;
    if ((canary.spec.analysis.metrics ?? []).length > 0) {
      metrics = await runAnalysis(canary, await this.#analysisContext(canary, log, signal));
      this.#lastAnalysis.set(key, metrics);
      status.metrics = metricStatuses(metrics);
      await this.#stages.analysis(analysisEvents(canary, metrics));
    }
    if (hooks.outcome === 'fail') return hooks;
    if (!metrics) return hooks;
    const failing = metrics.checks.filter((c) => c.outcome === metrics.outcome && c.outcome !== 'pass');
    const message = failing.length > 0 ? failing.map((c) => c.message).join('; ') : metrics.message;
    const first = failing[0];
    return {
      outcome: metrics.outcome,
      message,
      ...(first ? { failing: { name: first.name, value: first.value, min: first.range.min, max: first.range.max, message: first.message } } : {}),
    };
  }

  /** Manual requests whose id is not yet acknowledged in status.requests. */
  #pendingRequests(canary: Canary, status: CanaryStatus): Partial<Record<ManualKind, string>> {
    const pending: Partial<Record<ManualKind, string>> = {};
    const annotations = canary.metadata.annotations ?? {};
    for (const kind of Object.keys(ManualAnnotations) as ManualKind[]) {
      const id = annotations[ManualAnnotations[kind]];
      if (id !== undefined && id !== '' && status.requests?.[kind]?.id !== id) pending[kind] = id;
    }
    return pending;
  }

  #acknowledge(canary: Canary, status: CanaryStatus, pending: Partial<Record<ManualKind, string>>, change: { before: CanaryStatus['phase']; after: CanaryStatus['phase']; now: Date; decided: DecidedRequests }): void {
    const { before, after, now, decided } = change;
    for (const kind of Object.keys(pending) as ManualKind[]) {
      const id = pending[kind];
      if (id === undefined) continue;
      const acted = before !== after
        || (kind === 'retry' && after !== 'Failed');
      const stepSaid = kind === 'abort' || kind === 'pause' || kind === 'resume' ? decided[kind] : undefined;
      const result = stepSaid ?? (acted ? `${kind} done: phase ${before ?? 'none'} → ${after ?? 'none'}` : `ignored: nothing to ${kind} in phase ${before ?? 'none'}`);
      const by = annotationManager(canary, ManualAnnotations[kind]);
      const entry: ManualRequestStatus = { id, time: iso(now), result, ...(by ? { by } : {}) };
      status.requests = { ...status.requests, [kind]: entry };
    }
  }

  /** Pause and resume that took effect become events (Kubernetes Event, chat where Alerts ask). */
  #announcePauses(canary: Canary, status: CanaryStatus, pending: Partial<Record<ManualKind, string>>, revision: string): void {
    for (const kind of ['pause', 'resume'] as const) {
      const entry = status.requests?.[kind];
      if (pending[kind] === undefined || entry?.id !== pending[kind] || !entry.result.startsWith(`${kind} done`)) continue;
      const who = entry.by ? ` by ${entry.by}` : '';
      const message = kind === 'pause'
        ? `rollout paused${who} (request ${entry.id}) in phase ${status.phase ?? 'none'} at canary weight ${status.canaryWeight ?? 0}`
        : `rollout resumed${who} (request ${entry.id}) in phase ${status.phase ?? 'none'} at canary weight ${status.canaryWeight ?? 0}`;
      this.#deps.notifier.emit(eventFor(canary, kind === 'pause' ? EventReasons.CanaryPaused : EventReasons.CanaryResumed, message, {
        metadata: { revision, weight: status.canaryWeight ?? 0, ...(entry.by ? { actor: entry.by } : {}), extra: { request: entry.id } },
      }));
    }
  }

  /** The RouterLimitations condition, and a Warning Event when what it says changes. */
  #routerLimitations(canary: Canary, router: Router, conditions: CanaryStatus['conditions'], before: CanaryStatus['conditions']): CanaryStatus['conditions'] {
    const limitations = routerLimitations(router, canary);
    if (limitations.length === 0) return removeCondition(conditions, CanaryConditions.RouterLimitations);
    const message = `provider ${router.provider} does not carry everything this Canary sets: ${limitations.map((l) => l.message).join('; ')}`;
    if (findCondition(before, CanaryConditions.RouterLimitations)?.message !== message) {
      this.#deps.notifier.emit(eventFor(canary, EventReasons.CanaryRouterLimitations, message));
    }
    return setCondition(conditions, { type: CanaryConditions.RouterLimitations, status: 'True', reason: 'FieldsNotCarried', message, observedGeneration: canary.metadata.generation });
  }

  #conditions(canary: Canary, status: CanaryStatus, revision: string): CanaryStatus['conditions'] {
    const generation = canary.metadata.generation;
    const phase = status.phase ?? 'Initializing';
    let conditions = removeCondition(status.conditions, 'Stalled');
    const ready = phase === 'Initialized' || phase === 'Succeeded';
    const failed = phase === 'Failed';
    const weight = status.canaryWeight ?? 0;
    const paused = status.paused;
    const pausedBy = paused ? `paused${paused.by ? ` by ${paused.by}` : ''} since ${iso(new Date(paused.since))} (request ${paused.id})` : '';
    const message = ready
      ? `${phase}: primary serves ${(status.canaryImages ?? []).join(', ')}`
      : failed
        ? `Failed: ${status.history?.[status.history.length - 1]?.message ?? 'rolled back'}`
        : paused
          ? `${phase}: ${pausedBy} at canary weight ${weight}; resume with the ${ManualAnnotations.resume} annotation`
          : status.gate
            ? `${phase}: held by ${status.gate.type} webhook ${status.gate.webhook}`
            : `${phase}: canary weight ${weight}`;
    conditions = setCondition(conditions, { type: 'Ready', status: ready ? 'True' : 'False', reason: phase, message, observedGeneration: generation });
    conditions = setCondition(conditions, {
      type: 'Reconciling', status: isActive(phase) || phase === 'Initializing' ? 'True' : 'False', reason: phase, message, observedGeneration: generation,
    });
    conditions = paused
      ? setCondition(conditions, { type: CanaryConditions.Paused, status: 'True', reason: 'PauseRequested', message: `${pausedBy} at canary weight ${weight}`, observedGeneration: generation })
      : removeCondition(conditions, CanaryConditions.Paused);
    const failedRevision = status.failedRevision;
    if (failedRevision && failedRevision.revision === revision) {
      conditions = setCondition(conditions, {
        type: CanaryConditions.FailedRevisionDeclared, status: 'True', reason: 'RolledBack',
        message: `the target still declares revision ${failedRevision.revision} (${(failedRevision.images ?? []).join(', ')}), which was rolled back: ${failedRevision.reason ?? ''}; change it in Git, or retry with the ${ManualAnnotations.retry} annotation`,
        observedGeneration: generation,
      });
    } else {
      conditions = removeCondition(conditions, CanaryConditions.FailedRevisionDeclared);
    }
    return conditions;
  }

  async #stalled(canary: Canary, previous: CanaryStatus, error: SluiceError, signal: AbortSignal, retryMs?: number): Promise<ReconcileResult | void> {
    const status = structuredClone(previous);
    const generation = canary.metadata.generation;
    const reason = error.code === ErrorCodes.SpecInvalid ? 'SpecInvalid' : 'DependencyNotReady';
    status.conditions = setCondition(status.conditions, { type: 'Ready', status: 'False', reason, message: error.describe(), observedGeneration: generation });
    status.conditions = setCondition(status.conditions, { type: 'Stalled', status: 'True', reason, message: error.describe(), observedGeneration: generation });
    await this.#writeStatus(canary, previous, status, signal);
    return retryMs === undefined ? undefined : { requeueAfterMs: retryMs };
  }
}

/** The field manager that owns an annotation: who asked for a manual action. */
export function annotationManager(object: KubeObject, annotation: string): string | undefined {
  for (const entry of object.metadata.managedFields ?? []) {
    const managed = entry as { manager?: string; fieldsV1?: { 'f:metadata'?: { 'f:annotations'?: Record<string, unknown> } } };
    if (managed.fieldsV1?.['f:metadata']?.['f:annotations']?.[`f:${annotation}`] !== undefined) return managed.manager;
  }
  return undefined;
}

/** status.metrics with the reason, query and no-data count of each check. */
export function metricStatuses(result: AnalysisResult): MetricCheckStatus[] {
  const base = toMetricStatuses(result);
  return base.map((entry, index) => {
    const check = result.checks[index];
    if (!check) return entry;
    return { ...entry, reason: check.reason, ...(check.query ? { query: check.query } : {}), noDataChecks: check.noDataChecks };
  });
}

export function createCanaryController(deps: ControllerDeps): RunningController {
  return new CanaryController(deps);
}
