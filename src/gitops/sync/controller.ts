// The Sync controller: keeps the cluster equal to the manifests at a path of a
// GitRepository's artifact. One reconcile = render the revision, validate all
// of it, apply in stages what changed, prune what left, wait for health, and
// write status and an Event. Runs every `interval`, which also reverts drift.
//
// Deletion: a Sync with spec.prune carries the finalizer SYNC_FINALIZER; when
// it is deleted, the objects of its inventory are deleted (garbage
// collection, as Flux's kustomize-controller does for prune: true) by the same
// rules as pruning, then the finalizer goes.
import type { Logger } from 'pino';
import { setCondition } from '../../api/conditions.ts';
import type { Condition, Sync, SyncStatus } from '../../api/types.ts';
import { API_GROUP_VERSION, Kinds } from '../../api/types.ts';
import type { ControllerDeps, RunningController } from '../../controllers.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../../errors.ts';
import { buildChangeSet, shouldRecord } from './changeset.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { EventType } from '../../kube/events.ts';
import { objectKey, type ObjectRef } from '../../kube/types.ts';
import { Controller, REQUESTED_AT_ANNOTATION, type ReconcileContext } from '../../runtime/controller.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import type { Artifact } from '../source/artifact.ts';
import { applyStaged, type AppliedMemory, type AppliedState, type Change } from './apply.ts';
import { parseDuration } from '../../api/duration.ts';
import { describeUnhealthy, waitForHealthy } from './health.ts';
import { entryFor, mergeEntries, staleEntries } from './inventory.ts';
import type { KustomizeOptions } from './kustomize.ts';
import { renderManifests } from './manifests.ts';
import { canonicalJson } from './normalize.ts';
import { autoscaledIds, type SyncOwner } from './ownership.ts';
import { describeProblem, type ManifestProblem, type RenderResult } from './parse.ts';
import { planObjects, type DesiredObject } from './plan.ts';
import { isNamespaceTerminating, pruneEntries } from './prune.ts';
import { eventFor } from '../../notify/event.ts';
import { gitopsMetrics } from '../../runtime/metrics.ts';

/** Event reasons, stable for the notifier to route on. */
export const SyncEventReasons = {
  Applied: 'Applied',
  /** Objects changed out of band (kubectl edit/scale) were put back; the revision is unchanged. */
  DriftCorrected: 'DriftCorrected',
  Pruned: 'Pruned',
  ValidationFailed: 'ValidationFailed',
  ApplyFailed: 'ApplyFailed',
  HealthCheckFailed: 'HealthCheckFailed',
  /** The Sync was deleted and the objects of its inventory were deleted with it. */
  GarbageCollected: 'GarbageCollected',
  GarbageCollectionFailed: 'GarbageCollectionFailed',
} as const;

/** Set on a Sync with spec.prune: its objects are deleted with it. */
export const SYNC_FINALIZER = 'sluice.dev/prune-on-deletion';

/**
 * How long after its deletion a Sync whose own namespace is being deleted keeps
 * retrying objects that fail to delete, before it lets go (and leaves them), so
 * that sluice never holds up a namespace deletion for good.
 */
export const GC_GIVE_UP_IN_TERMINATING_NAMESPACE_MS = 2 * 60_000;

/** Condition reasons of a Sync. */
export const SyncReasons = {
  Succeeded: 'ReconciliationSucceeded',
  Progressing: 'Progressing',
  ArtifactNotReady: 'ArtifactNotReady',
  DependencyNotReady: 'DependencyNotReady',
  BuildFailed: 'BuildFailed',
  ValidationFailed: 'ValidationFailed',
  ApplyFailed: 'ApplyFailed',
  PruneFailed: 'PruneFailed',
  HealthCheckFailed: 'HealthCheckFailed',
  GarbageCollectionFailed: 'GarbageCollectionFailed',
  ReconcileTimeout: 'ReconcileTimeout',
  Failed: 'ReconciliationFailed',
} as const;

export interface SyncControllerOptions {
  kustomize?: Omit<KustomizeOptions, 'signal'> | undefined;
  /** Health polling period. Default 1 s. */
  healthIntervalMs?: number | undefined;
  /** Longest wait before checking unready dependencies again. Default 30 s. */
  dependencyRequeueMs?: number | undefined;
  /** API calls in flight at once per Sync. Default 16. */
  applyConcurrency?: number | undefined;
}

/** What the last reconcile of a Sync did, for tests, benchmarks and `sluice trace`. */
export interface SyncRunSummary {
  revision: string;
  outcome: 'applied' | 'failed' | 'waiting';
  changes: Change[];
  problems: ManifestProblem[];
  durationMs: number;
}

const conditionOrder = ['Ready', 'Reconciling', 'Stalled'];
const maxConditionMessage = 30_000;
const defaultApiVersions: Record<string, string> = {
  Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', ReplicaSet: 'apps/v1', Job: 'batch/v1',
  CronJob: 'batch/v1', Pod: 'v1', Service: 'v1', PersistentVolumeClaim: 'v1', Namespace: 'v1',
  HorizontalPodAutoscaler: 'autoscaling/v2', CustomResourceDefinition: 'apiextensions.k8s.io/v1',
  Canary: API_GROUP_VERSION, GitRepository: API_GROUP_VERSION, Sync: API_GROUP_VERSION,
};

function truncate(message: string): string {
  return message.length <= maxConditionMessage ? message : `${message.slice(0, maxConditionMessage - 3)}...`;
}

function describeProblems(problems: readonly ManifestProblem[]): string {
  return problems.map((p) => describeProblem(p)).join('; ');
}

function changeLine(change: Change): string {
  const { kind, namespace, name } = change.ref;
  return `${kind}/${namespace ? `${namespace}/` : ''}${name} ${change.action}`;
}

export function summarizeChanges(changes: readonly Change[]): string {
  const count = (action: Change['action']) => changes.filter((c) => c.action === action).length;
  const parts = [`${count('created')} created`, `${count('configured')} configured`];
  if (count('recreated') > 0) parts.push(`${count('recreated')} recreated`);
  parts.push(`${count('unchanged')} unchanged`, `${count('pruned')} pruned`);
  return parts.join(', ');
}

/** Conditions in a fixed order, so an unchanged status compares equal. */
function ordered(conditions: Condition[]): Condition[] {
  return [...conditions].sort((a, b) => conditionOrder.indexOf(a.type) - conditionOrder.indexOf(b.type));
}

interface Outcome {
  ready: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  stalled?: boolean;
  reconciling?: boolean;
}

interface ActiveRun {
  revision: string;
  abort: AbortController;
}

export class SyncController implements RunningController {
  readonly name = 'sync';
  readonly controller: Controller<Sync>;
  readonly #deps: ControllerDeps;
  readonly #client: KubeClient;
  readonly #options: SyncControllerOptions;
  readonly #memory = new Map<string, AppliedMemory>();
  readonly #rendered = new Map<string, { key: string; result: RenderResult }>();
  /** Status as this process last wrote it; the informer cache may not have caught up yet. */
  readonly #written = new Map<string, { uid: string | undefined; status: SyncStatus }>();
  readonly #active = new Map<string, ActiveRun>();
  readonly #summaries = new Map<string, SyncRunSummary>();
  #unsubscribe: (() => void) | undefined;

  constructor(deps: ControllerDeps, options: SyncControllerOptions = {}) {
    this.#deps = deps;
    this.#client = deps.client;
    this.#options = options;
    this.controller = new Controller<Sync>({
      client: deps.client,
      apiVersion: API_GROUP_VERSION,
      kind: Kinds.Sync,
      namespaces: deps.config.namespaces,
      concurrency: deps.config.concurrency,
      logger: deps.logger,
      reconcile: (sync, context) => this.reconcile(sync, context),
      onDeleted: (key) => {
        // Deleting a Sync leaves its objects in place; only forget what we kept about it.
        this.#forget(key);
        return Promise.resolve();
      },
    });
  }

  hasSynced(): boolean {
    return this.controller.hasSynced;
  }

  start(): void {
    this.#unsubscribe = this.#deps.artifacts.onChange((namespace, name, artifact) => this.#onArtifact(namespace, name, artifact));
    this.controller.start();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    for (const run of this.#active.values()) run.abort.abort();
    await this.controller.stop();
  }

  /** What the last reconcile of `namespace/name` did. */
  lastRun(namespace: string, name: string): SyncRunSummary | undefined {
    return this.#summaries.get(objectKey({ namespace, name }));
  }

  /** A newer revision cancels a health wait that is still running, then the Sync runs again. */
  #onArtifact(namespace: string, name: string, artifact: Artifact): void {
    for (const sync of this.controller.list()) {
      const ref = sync.spec.sourceRef;
      if (ref.name !== name || (ref.namespace ?? sync.metadata.namespace) !== namespace) continue;
      const key = objectKey(sync.metadata);
      const active = this.#active.get(key);
      if (active && active.revision !== artifact.revision) active.abort.abort();
      this.controller.enqueue(key);
    }
  }

  #forget(key: string): void {
    this.#memory.delete(key);
    this.#rendered.delete(key);
    this.#written.delete(key);
    this.#summaries.delete(key);
  }

  #currentStatus(sync: Sync): SyncStatus {
    const written = this.#written.get(objectKey(sync.metadata));
    if (written && written.uid === sync.metadata.uid) return written.status;
    return sync.status ?? {};
  }

  async reconcile(sync: Sync, { log, signal }: ReconcileContext): Promise<ReconcileResult> {
    const key = objectKey(sync.metadata);
    const namespace = sync.metadata.namespace ?? this.#client.defaultNamespace;
    const spec = sync.spec;
    if (sync.metadata.deletionTimestamp) return this.#finalize(sync, log, signal);
    // As Flux: the finalizer follows spec.prune also while suspended (deletion then skips the collection).
    await this.#setFinalizer(sync, spec.prune, signal);
    if (spec.suspend) {
      log.debug('suspended; not reconciling');
      return {};
    }
    const started = Date.now();
    const intervalMs = parseDuration(spec.interval, 'spec.interval');
    const retryMs = spec.retryInterval ? parseDuration(spec.retryInterval, 'spec.retryInterval') : intervalMs;
    const timeoutMs = spec.timeout ? parseDuration(spec.timeout, 'spec.timeout') : intervalMs;
    const status = this.#currentStatus(sync);
    const requestedAt = sync.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
    const newRequest = requestedAt !== undefined && requestedAt !== status.lastHandledReconcileAt;
    if (requestedAt && requestedAt !== status.lastHandledReconcileAt) {
      // "Reconcile now" also re-validates every object instead of trusting the memory of the last apply.
      this.#memory.get(key)?.clear();
    }
    const statusBase: SyncStatus = { ...status, lastHandledReconcileAt: requestedAt ?? status.lastHandledReconcileAt };

    const sourceNamespace = spec.sourceRef.namespace ?? namespace;
    const artifact = this.#deps.artifacts.get(sourceNamespace, spec.sourceRef.name);
    if (!artifact) {
      await this.#finish(sync, statusBase, {
        ready: 'False', reason: SyncReasons.ArtifactNotReady,
        message: `${spec.sourceRef.kind} ${sourceNamespace}/${spec.sourceRef.name} has no artifact yet; waiting for it to fetch a revision`,
      }, signal);
      return { requeueAfterMs: retryMs };
    }
    const revision = artifact.revision;
    const waiting = this.#unreadyDependencies(sync, namespace, revision);
    if (waiting.length > 0) {
      await this.#finish(sync, statusBase, {
        ready: 'False', reason: SyncReasons.DependencyNotReady, message: `waiting for ${waiting.join('; ')}`,
      }, signal);
      this.#summaries.set(key, { revision, outcome: 'waiting', changes: [], problems: [], durationMs: Date.now() - started });
      return { requeueAfterMs: Math.min(retryMs, this.#options.dependencyRequeueMs ?? 30_000) };
    }

    const attempted: SyncStatus = { ...statusBase, lastAttemptedRevision: revision };
    if (status.lastAttemptedRevision !== revision || status.observedGeneration !== sync.metadata.generation) {
      await this.#finish(sync, attempted, {
        ready: 'Unknown', reason: SyncReasons.Progressing, message: `applying revision ${revision}`, reconciling: true,
      }, signal);
    }

    const run: ActiveRun = { revision, abort: new AbortController() };
    this.#active.set(key, run);
    const timeout = AbortSignal.timeout(timeoutMs);
    const runSignal = AbortSignal.any([signal, run.abort.signal, timeout]);
    const owner: SyncOwner = { name: sync.metadata.name, namespace };
    const previous = status.inventory?.entries ?? [];
    try {
      const rendered = await this.#render(key, artifact, spec.path, runSignal);
      if (rendered.problems.length > 0) {
        return await this.#fail(sync, attempted, SyncReasons.BuildFailed, `revision ${revision} was not applied: ${describeProblems(rendered.problems)}`, {
          stalled: true, problems: rendered.problems, started, retryMs, signal, log,
        });
      }
      const plan = await planObjects(rendered.manifests, {
        owner, targetNamespace: spec.targetNamespace, defaultNamespace: namespace,
        resolveKind: async (apiVersion, kind) => {
          try {
            return await this.#client.resourceFor(apiVersion, kind);
          } catch (error) {
            if (toSluiceError(error).code === ErrorCodes.KubeUnknownKind) return undefined;
            throw error;
          }
        },
      });
      if (plan.problems.length > 0) {
        return await this.#fail(sync, attempted, SyncReasons.ValidationFailed, `revision ${revision} was not applied: ${describeProblems(plan.problems)}`, {
          problems: plan.problems, started, retryMs, signal, log,
        });
      }
      const autoscaled = autoscaledIds(plan.objects.map((o) => o.object));
      let memory = this.#memory.get(key);
      if (!memory) this.#memory.set(key, memory = new Map<string, AppliedState>());
      const report = await applyStaged(this.#client, plan.objects, {
        owner, force: spec.force, memory, signal: runSignal, log, concurrency: this.#options.applyConcurrency,
        ignoreFields: (object) => (autoscaled.has(object.id) ? [['spec', 'replicas']] : []),
      });
      const appliedEntries = report.applied.map((o) => entryFor(o.ref));
      if (report.problems.length > 0) {
        // Nothing is pruned after a failure; whatever did get applied joins the inventory so it can be pruned later.
        const written = report.stoppedAt === 'validation' ? previous : mergeEntries(previous, appliedEntries);
        const reason = report.stoppedAt === 'validation' ? SyncReasons.ValidationFailed : SyncReasons.ApplyFailed;
        const what = report.stoppedAt === 'validation' ? 'was not applied' : 'was applied only in part';
        return await this.#fail(sync, { ...attempted, inventory: { entries: written } }, reason, `revision ${revision} ${what}: ${describeProblems(report.problems)}`, {
          problems: report.problems, changes: report.changes, started, retryMs, signal, log,
        });
      }

      const inventory = mergeEntries(appliedEntries);
      const changes = [...report.changes];
      const kept: string[] = [];
      if (spec.prune) {
        const pruned = await pruneEntries(this.#client, staleEntries(previous, inventory), { owner, signal: runSignal });
        changes.push(...pruned.pruned);
        kept.push(...pruned.kept.map((k) => k.reason));
        if (pruned.kept.length > 0) log.info({ kept: kept.length }, 'objects left in place instead of pruned');
      }
      // Same revision and spec as the last success: whatever had to be written was drift.
      const drift = status.lastAppliedRevision === revision && status.observedGeneration === sync.metadata.generation;
      this.#recordChanges(sync, revision, changes, drift);
      const changeSet = buildChangeSet(revision, changes, { reconcileRequest: newRequest ? requestedAt : undefined, drift });
      const afterApply: SyncStatus = {
        ...attempted, inventory: { entries: inventory },
        ...(shouldRecord(status.lastChangeSet, changeSet) ? { lastChangeSet: changeSet } : {}),
      };

      const healthRefs = this.#healthRefs(sync, plan.objects, namespace);
      if (healthRefs.problems.length > 0) {
        return await this.#fail(sync, afterApply, SyncReasons.HealthCheckFailed, healthRefs.problems.join('; '), { changes, started, retryMs, signal, log });
      }
      if (healthRefs.refs.length > 0) {
        const remaining = Math.max(0, timeoutMs - (Date.now() - started));
        const unhealthy = await waitForHealthy(this.#client, healthRefs.refs, {
          timeoutMs: remaining, intervalMs: this.#options.healthIntervalMs, known: report.observed,
          signal: AbortSignal.any([signal, run.abort.signal]),
        });
        if (unhealthy.length > 0) {
          return await this.#fail(sync, afterApply, SyncReasons.HealthCheckFailed, `revision ${revision} applied but not healthy: ${describeUnhealthy(unhealthy)}`, {
            changes, started, retryMs, signal, log, eventReason: SyncEventReasons.HealthCheckFailed,
          });
        }
      }

      const summary = summarizeChanges(changes);
      const nothingChanged = changes.every((c) => c.action === 'unchanged');
      const keptNote = kept.length > 0 ? `; not pruned: ${kept.join('; ')}` : '';
      const message = `Applied revision ${revision}: ${summary}${keptNote}`;
      const wasReady = status.conditions?.find((c) => c.type === 'Ready');
      // A re-sync that changed nothing keeps the message of the last real change, so it writes nothing.
      const keepMessage = nothingChanged && wasReady?.status === 'True' && status.lastAppliedRevision === revision
        && status.observedGeneration === sync.metadata.generation && kept.length === 0;
      await this.#finish(sync, { ...afterApply, lastAppliedRevision: revision }, {
        ready: 'True', reason: SyncReasons.Succeeded, message: keepMessage && wasReady ? wasReady.message : message,
      }, signal);
      if (!nothingChanged) log.info({ revision, created: count(changes, 'created'), configured: count(changes, 'configured'), pruned: count(changes, 'pruned') }, 'applied');
      this.#summaries.set(key, { revision, outcome: 'applied', changes, problems: [], durationMs: Date.now() - started });
      this.#enqueueDependents(sync);
      return { requeueAfterMs: intervalMs };
    } catch (error) {
      if (run.abort.signal.aborted && !signal.aborted) {
        log.info({ revision }, 'a newer revision arrived; restarting');
        return {};
      }
      const mapped = timeout.aborted && !signal.aborted
        ? new SluiceError(ErrorCodes.ReconcileTimeout, `revision ${revision} did not finish within spec.timeout (${spec.timeout ?? spec.interval})`)
        : toSluiceError(error);
      if (signal.aborted) throw mapped;
      const result = await this.#fail(sync, { ...attempted }, mapped.code === ErrorCodes.ReconcileTimeout ? SyncReasons.ReconcileTimeout : SyncReasons.Failed,
        `revision ${revision}: ${mapped.describe()}`, { started, retryMs, signal, log, quiet: mapped.retryable });
      // API trouble (unreachable, throttled) retries with the queue's backoff rather than at retryInterval.
      if (mapped.retryable) throw mapped;
      return result;
    } finally {
      if (this.#active.get(key) === run) this.#active.delete(key);
    }
  }

  /**
   * The finalizer is present exactly when spec.prune is true. The patch is
   * conditional on a freshly read resourceVersion, so a concurrent change of
   * other finalizers is not lost (a conflict retries with backoff).
   */
  async #setFinalizer(sync: Sync, present: boolean, signal: AbortSignal): Promise<void> {
    if ((sync.metadata.finalizers?.includes(SYNC_FINALIZER) ?? false) === present) return;
    const ref = { apiVersion: sync.apiVersion, kind: sync.kind, name: sync.metadata.name, namespace: sync.metadata.namespace };
    const fresh = await this.#client.find<Sync>(ref, signal);
    if (!fresh || fresh.metadata.uid !== sync.metadata.uid) return;
    const others = (fresh.metadata.finalizers ?? []).filter((f) => f !== SYNC_FINALIZER);
    const finalizers = present ? [...others, SYNC_FINALIZER] : others;
    if (finalizers.length === (fresh.metadata.finalizers ?? []).length) return;
    await this.#client.patchMerge(ref, { metadata: { finalizers, resourceVersion: fresh.metadata.resourceVersion } }, signal);
  }

  /**
   * A deleted Sync: with spec.prune, delete the objects of its inventory by the
   * rules of pruning (only objects still labelled as this Sync's, never those
   * with sluice.dev/prune: disabled; objects in a namespace that is being
   * deleted count as gone), then remove the finalizer. Failures are reported
   * (status, Warning Event, log) and retried with the queue's backoff.
   *
   * A suspended Sync is deleted without garbage collection, as Flux does
   * (kustomize-controller's finalize skips it for spec.suspend): suspend means
   * "hands off the cluster", and deleting a suspended Sync is the documented
   * way to stop managing objects without removing them.
   */
  async #finalize(sync: Sync, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
    if (!sync.metadata.finalizers?.includes(SYNC_FINALIZER)) return {};
    const namespace = sync.metadata.namespace ?? this.#client.defaultNamespace;
    const status = this.#currentStatus(sync);
    const entries = status.inventory?.entries ?? [];
    if (!sync.spec.prune || sync.spec.suspend || entries.length === 0) {
      if (sync.spec.prune && sync.spec.suspend && entries.length > 0) {
        log.info({ objects: entries.length }, 'suspended Sync deleted; leaving its objects in place');
      }
      await this.#setFinalizer(sync, false, signal);
      return {};
    }
    const owner: SyncOwner = { name: sync.metadata.name, namespace };
    const report = await pruneEntries(this.#client, entries, { owner, signal, collectFailures: true, skipTerminatingNamespaces: true });
    const described = report.pruned.map((c) => changeLine(c));
    if (report.failed.length > 0) {
      const failures = report.failed.map((f) => `${f.ref.kind} ${f.ref.namespace ? `${f.ref.namespace}/` : ''}${f.ref.name}: ${f.error.describe()}`);
      const deletedAt = Date.parse(sync.metadata.deletionTimestamp ?? '');
      const givingUp = Date.now() - deletedAt > GC_GIVE_UP_IN_TERMINATING_NAMESPACE_MS && await isNamespaceTerminating(this.#client, namespace, signal);
      const message = givingUp
        ? `namespace ${namespace} is being deleted; left ${report.failed.length} object(s) that could not be deleted: ${failures.join('; ')}`
        : `deleting the objects of the Sync failed for ${report.failed.length} of them (retrying): ${failures.join('; ')}`;
      log.warn({ failed: report.failed.length, deleted: report.pruned.length, givingUp }, message);
      this.#event(sync, 'Warning', SyncEventReasons.GarbageCollectionFailed, message);
      if (!givingUp) {
        await this.#finish(sync, { ...status, inventory: { entries: entries.filter((e) => report.failed.some((f) => f.id === e.id)) } }, {
          ready: 'False', reason: SyncReasons.GarbageCollectionFailed, message,
        }, signal);
        const first = report.failed[0]?.error;
        throw new SluiceError(first?.code ?? ErrorCodes.Internal, message, { retryable: true, cause: first });
      }
    }
    if (described.length > 0) this.#event(sync, 'Normal', SyncEventReasons.GarbageCollected, `deleted with the Sync\n${described.join('\n')}`);
    log.info({ deleted: report.pruned.length, kept: report.kept.length, leftToNamespace: report.leftToNamespace }, 'Sync deleted; its objects were deleted with it');
    await this.#setFinalizer(sync, false, signal);
    return {};
  }

  async #render(key: string, artifact: Artifact, path: string | undefined, signal: AbortSignal): Promise<RenderResult> {
    const cacheKey = `${artifact.digest}\u0000${path ?? ''}`;
    const cached = this.#rendered.get(key);
    if (cached?.key === cacheKey) return cached.result;
    const result = await renderManifests(artifact, { path, kustomize: this.#options.kustomize, signal });
    this.#rendered.set(key, { key: cacheKey, result });
    return result;
  }

  /** Dependencies not Ready (at this revision when they share the source), described. */
  #unreadyDependencies(sync: Sync, namespace: string, revision: string): string[] {
    const waiting: string[] = [];
    for (const dependency of sync.spec.dependsOn ?? []) {
      const depNamespace = dependency.namespace ?? namespace;
      const name = `Sync ${depNamespace}/${dependency.name}`;
      const dep = this.controller.get(depNamespace, dependency.name);
      if (!dep) {
        waiting.push(`${name} (not found)`);
        continue;
      }
      const status = this.#currentStatus(dep);
      const ready = status.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True' || status.observedGeneration !== dep.metadata.generation) {
        waiting.push(`${name} (not Ready)`);
        continue;
      }
      const sameSource = dep.spec.sourceRef.name === sync.spec.sourceRef.name
        && (dep.spec.sourceRef.namespace ?? depNamespace) === (sync.spec.sourceRef.namespace ?? namespace);
      if (sameSource && status.lastAppliedRevision !== revision) waiting.push(`${name} (not yet at revision ${revision})`);
    }
    return waiting;
  }

  #enqueueDependents(sync: Sync): void {
    const namespace = sync.metadata.namespace;
    for (const other of this.controller.list()) {
      const dependsOnThis = (other.spec.dependsOn ?? []).some((d) => d.name === sync.metadata.name && (d.namespace ?? other.metadata.namespace) === namespace);
      if (dependsOnThis) this.controller.enqueue(objectKey(other.metadata));
    }
  }

  /** Objects to wait for: every applied object with `wait`, else the listed healthChecks. */
  #healthRefs(sync: Sync, objects: readonly DesiredObject[], namespace: string): { refs: ObjectRef[]; problems: string[] } {
    if (sync.spec.wait) return { refs: objects.map((o) => o.ref), problems: [] };
    const refs: ObjectRef[] = [];
    const problems: string[] = [];
    (sync.spec.healthChecks ?? []).forEach((check, index) => {
      const checkNamespace = check.namespace ?? namespace;
      const inRevision = objects.find((o) => o.ref.kind === check.kind && o.ref.name === check.name && (!o.namespaced || o.ref.namespace === checkNamespace));
      const apiVersion = check.apiVersion ?? inRevision?.ref.apiVersion ?? defaultApiVersions[check.kind];
      if (!apiVersion) {
        problems.push(`healthChecks[${index}]: set apiVersion for kind ${check.kind}`);
        return;
      }
      refs.push({ apiVersion, kind: check.kind, name: check.name, namespace: inRevision ? inRevision.ref.namespace : checkNamespace });
    });
    return { refs, problems };
  }

  #recordChanges(sync: Sync, revision: string, changes: readonly Change[], drift: boolean): void {
    const counts = { created: 0, configured: 0, unchanged: 0, pruned: 0 };
    for (const change of changes) counts[change.action === 'recreated' ? 'configured' : change.action]++;
    gitopsMetrics.recordChangeSet(sync.metadata.namespace ?? 'default', sync.metadata.name, counts);
    const written = changes.filter((c) => c.action !== 'unchanged' && c.action !== 'pruned');
    const pruned = changes.filter((c) => c.action === 'pruned');
    if (written.length > 0) {
      const reason = drift ? SyncEventReasons.DriftCorrected : SyncEventReasons.Applied;
      this.#event(sync, 'Normal', reason, `revision ${revision}\n${written.map(changeLine).join('\n')}`);
    }
    if (pruned.length > 0) {
      this.#event(sync, 'Normal', SyncEventReasons.Pruned, `revision ${revision}\n${pruned.map(changeLine).join('\n')}`);
    }
  }

  #event(sync: Sync, type: EventType, reason: string, note: string): void {
    this.#deps.notifier.emit({ ...eventFor(sync, reason, note, { severity: type === 'Normal' ? 'info' : 'error' }), action: 'Sync' });
  }

  async #fail(sync: Sync, status: SyncStatus, reason: string, message: string, context: {
    problems?: readonly ManifestProblem[]; changes?: readonly Change[]; stalled?: boolean; started: number; retryMs: number;
    signal: AbortSignal; log: Logger; eventReason?: string; quiet?: boolean;
  }): Promise<ReconcileResult> {
    const revision = status.lastAttemptedRevision ?? '';
    context.log.warn({ reason, revision, problems: context.problems?.length }, 'sync failed');
    await this.#finish(sync, status, { ready: 'False', reason, message, stalled: context.stalled }, context.signal);
    if (!context.quiet) {
      const eventReason = context.eventReason ?? (reason === SyncReasons.ApplyFailed ? SyncEventReasons.ApplyFailed : SyncEventReasons.ValidationFailed);
      const first = context.problems && context.problems.length > 0
        ? context.problems.slice(0, 5).map((p) => describeProblem(p)).join('\n') + (context.problems.length > 5 ? `\n(${context.problems.length - 5} more)` : '')
        : message;
      this.#event(sync, 'Warning', eventReason, `revision ${revision}\n${first}`);
    }
    this.#summaries.set(objectKey(sync.metadata), {
      revision, outcome: 'failed', changes: [...(context.changes ?? [])], problems: [...(context.problems ?? [])], durationMs: Date.now() - context.started,
    });
    return { requeueAfterMs: context.retryMs };
  }

  /** Writes status (conditions, observedGeneration) unless it is already exactly that. */
  async #finish(sync: Sync, base: SyncStatus, outcome: Outcome, signal: AbortSignal): Promise<void> {
    const generation = sync.metadata.generation;
    let conditions = setCondition(base.conditions, { type: 'Ready', status: outcome.ready, reason: outcome.reason, message: truncate(outcome.message), observedGeneration: generation });
    conditions = outcome.reconciling
      ? setCondition(conditions, { type: 'Reconciling', status: 'True', reason: outcome.reason, message: truncate(outcome.message), observedGeneration: generation })
      : conditions.filter((c) => c.type !== 'Reconciling');
    conditions = outcome.stalled
      ? setCondition(conditions, { type: 'Stalled', status: 'True', reason: outcome.reason, message: truncate(outcome.message), observedGeneration: generation })
      : conditions.filter((c) => c.type !== 'Stalled');
    const next: SyncStatus = { ...base, conditions: ordered(conditions), observedGeneration: generation };
    const current = this.#currentStatus(sync);
    if (canonicalJson(next) === canonicalJson(current)) return;
    const ref = { apiVersion: sync.apiVersion, kind: sync.kind, name: sync.metadata.name, namespace: sync.metadata.namespace };
    // Merge patch: fields of the old status that `next` drops must be nulled explicitly.
    const patch: Record<string, unknown> = { ...next };
    for (const field of Object.keys(current)) if (!(field in next)) patch[field] = null;
    const updated = await this.#client.patchStatus<Sync>(ref, patch, signal);
    this.#written.set(objectKey(sync.metadata), { uid: updated.metadata.uid, status: updated.status ?? next });
  }
}

function count(changes: readonly Change[], action: Change['action']): number {
  return changes.filter((c) => c.action === action).length;
}

export function createSyncController(deps: ControllerDeps): RunningController {
  return new SyncController(deps);
}
