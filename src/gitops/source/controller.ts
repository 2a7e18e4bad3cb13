// The GitRepository controller: every `interval` (or at once when
// sluice.dev/requestedAt changes) it asks the remote which commit spec.ref
// means, and only when that is a new revision downloads and builds the
// artifact that Syncs read from the ArtifactStore.
//
// A failing fetch never takes the last good artifact away: Syncs keep it,
// Ready=False and FetchFailed=True say why, and the fetch is retried with
// backoff (capped at the interval). Bad URLs and missing or broken Secrets
// are Stalled: retrying cannot fix them, only an edit can.
import type { Logger } from 'pino';
import { findCondition, setCondition } from '../../api/conditions.ts';
import { API_GROUP_VERSION, Kinds, type Condition, type GitRepository, type GitRepositoryStatus } from '../../api/types.ts';
import type { ControllerDeps, RunningController } from '../../controllers.ts';
import { ErrorCodes, toSluiceError, type ErrorCode, type SluiceError } from '../../errors.ts';
import { objectKey, type ObjectRef } from '../../kube/types.ts';
import { ExponentialBackoff } from '../../runtime/backoff.ts';
import { Controller, REQUESTED_AT_ANNOTATION, type ReconcileContext } from '../../runtime/controller.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import type { Artifact } from './artifact.ts';
import { parseGitCredentials, type GitCredentials } from './credentials.ts';
import { parseDuration } from '../../api/duration.ts';
import { GitFetcher, validateGitUrl, type FetchOutcome } from './fetch.ts';
import { redactUrl } from './git-errors.ts';
import { SecretReader } from './secrets.ts';
import { eventFor } from '../../notify/event.ts';
import { gitopsMetrics } from '../../runtime/metrics.ts';

/** Condition types of a GitRepository beyond Ready, Reconciling and Stalled. */
export const FETCH_FAILED_CONDITION = 'FetchFailed';

/** Event and condition reasons, stable for the notifier to route on. */
export const GitRepositoryReasons = {
  Succeeded: 'Succeeded',
  Progressing: 'Progressing',
  NewArtifact: 'NewArtifact',
  FetchRecovered: 'FetchRecovered',
  URLInvalid: 'URLInvalid',
} as const;

export interface GitRepositoryControllerOptions {
  /** Shared fetcher; default one on config.gitCacheDir. */
  fetcher?: GitFetcher | undefined;
  /** First retry delay after a failed fetch. Default 1 s, doubling. */
  retryBaseMs?: number | undefined;
  /** Longest retry delay (and never more than the interval). Default 5 min. */
  retryMaxMs?: number | undefined;
}

const conditionOrder = ['Ready', 'Reconciling', 'Stalled', FETCH_FAILED_CONDITION];

/** GIT_AUTH_FAILED → GitAuthFailed: condition reasons are CamelCase. */
export function reasonForCode(code: ErrorCode): string {
  return code.toLowerCase().split('_').map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
}

function ordered(conditions: Condition[]): Condition[] {
  return [...conditions].sort((a, b) => conditionOrder.indexOf(a.type) - conditionOrder.indexOf(b.type));
}

/** RFC 3339 without milliseconds, as Kubernetes writes times. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class GitRepositoryController implements RunningController {
  readonly name = 'gitrepository';
  readonly controller: Controller<GitRepository>;
  readonly fetcher: GitFetcher;
  readonly #deps: ControllerDeps;
  readonly #secrets: SecretReader<GitCredentials>;
  readonly #backoff: ExponentialBackoff;
  readonly #retryMaxMs: number;
  /** spec.ignore each stored artifact was built with, to know when a rebuild is due. */
  readonly #builtWith = new Map<string, string | undefined>();
  /** Status as this process last wrote it; the informer cache may not have caught up yet. */
  readonly #written = new Map<string, { uid: string | undefined; status: GitRepositoryStatus }>();
  /** spec.url each GitRepository was last reconciled with, to drop its cache entries when it goes or moves. */
  readonly #urls = new Map<string, string>();

  constructor(deps: ControllerDeps, options: GitRepositoryControllerOptions = {}) {
    this.#deps = deps;
    this.fetcher = options.fetcher ?? new GitFetcher({
      cacheDir: deps.config.gitCacheDir, maxCacheBytes: deps.config.gitCacheMaxBytes, logger: deps.logger.child({ component: 'git-cache' }),
    });
    const cache = this.fetcher.cache;
    gitopsMetrics.watchGitCache(() => cache.stats());
    this.#secrets = new SecretReader(deps.client, parseGitCredentials);
    this.#retryMaxMs = options.retryMaxMs ?? 300_000;
    this.#backoff = new ExponentialBackoff({ baseMs: options.retryBaseMs ?? 1_000, capMs: this.#retryMaxMs, jitter: 0.1 });
    this.controller = new Controller<GitRepository>({
      client: deps.client,
      apiVersion: API_GROUP_VERSION,
      kind: Kinds.GitRepository,
      namespaces: deps.config.namespaces,
      concurrency: deps.config.concurrency,
      logger: deps.logger,
      reconcile: (repo, context) => this.reconcile(repo, context),
      onDeleted: async (key, { log }) => {
        const url = this.#urls.get(key);
        this.#forget(key);
        if (url !== undefined) await this.#releaseCache(url, `GitRepository ${key} was deleted`, log);
      },
    });
  }

  hasSynced(): boolean {
    return this.controller.hasSynced;
  }

  start(): void {
    this.controller.start();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
  }

  async reconcile(repo: GitRepository, { log, signal }: ReconcileContext): Promise<ReconcileResult | void> {
    const key = objectKey(repo.metadata);
    const namespace = repo.metadata.namespace ?? 'default';
    const name = repo.metadata.name;
    const spec = repo.spec;
    const base = this.#baseStatus(key, repo);
    const previousUrl = this.#urls.get(key);
    this.#urls.set(key, spec.url);
    if (previousUrl !== undefined && previousUrl !== spec.url) {
      await this.#releaseCache(previousUrl, `GitRepository ${key} moved to another URL`, log);
    }
    if (spec.suspend) {
      log.debug('suspended; not fetching');
      return;
    }

    let intervalMs: number;
    let timeoutMs: number;
    try {
      intervalMs = parseDuration(spec.interval ?? '1m', 'spec.interval');
      timeoutMs = parseDuration(spec.timeout ?? '60s', 'spec.timeout');
      validateGitUrl(spec.url);
    } catch (error) {
      const mapped = toSluiceError(error);
      const reason = mapped.message.startsWith('spec.url') ? GitRepositoryReasons.URLInvalid : reasonForCode(mapped.code);
      await this.#stalled(repo, base, reason, mapped, log);
      return;
    }

    let credentials: GitCredentials | undefined;
    if (spec.secretRef) {
      try {
        credentials = await this.#secrets.read(namespace, spec.secretRef.name, signal);
      } catch (error) {
        const mapped = toSluiceError(error);
        if (mapped.code !== ErrorCodes.SecretNotFound && mapped.code !== ErrorCodes.SecretInvalid) throw mapped;
        // Secrets are not watched: look again at the interval.
        await this.#stalled(repo, base, reasonForCode(mapped.code), mapped, log);
        return { requeueAfterMs: intervalMs };
      }
    }

    if (base.observedGeneration !== repo.metadata.generation) {
      await this.#markReconciling(repo, base, `fetching ${redactUrl(spec.url)}`);
    }

    const current = this.#deps.artifacts.get(namespace, name);
    const started = Date.now();
    let outcome: FetchOutcome;
    try {
      outcome = await this.fetcher.fetch({
        url: spec.url,
        ref: spec.ref,
        credentials,
        secretName: spec.secretRef?.name,
        ignore: spec.ignore,
        maxSizeBytes: spec.maxSizeBytes ?? this.#deps.config.gitMaxSizeBytes,
        timeoutMs,
        signal,
        current: current && this.#builtWith.has(key) ? { artifact: current, ignore: this.#builtWith.get(key) } : undefined,
      });
    } catch (error) {
      const mapped = toSluiceError(error);
      // Shutting down: not a fetch failure to report.
      if (signal.aborted && mapped.code !== ErrorCodes.GitTimeout) throw mapped;
      if (mapped.code === ErrorCodes.SpecInvalid) {
        await this.#stalled(repo, base, reasonForCode(mapped.code), mapped, log);
        return;
      }
      gitopsMetrics.observeFetch(namespace, name, (Date.now() - started) / 1000, 'error');
      return this.#fetchFailed(repo, base, mapped, current, intervalMs, log);
    }
    gitopsMetrics.observeFetch(namespace, name, (Date.now() - started) / 1000, 'success');
    this.#backoff.forget(key);

    const artifact = outcome.artifact;
    if (outcome.changed) {
      this.#deps.artifacts.set(namespace, name, artifact);
      this.#builtWith.set(key, spec.ignore);
    }
    const previous = base.artifact;
    const isNewRevision = previous?.revision !== artifact.revision || previous.digest !== artifact.digest;
    const wasFailing = findCondition(base.conditions, FETCH_FAILED_CONDITION)?.status === 'True';
    let conditions = setCondition(base.conditions, {
      type: 'Ready', status: 'True', reason: GitRepositoryReasons.Succeeded,
      message: `stored artifact for revision '${artifact.revision}'`, observedGeneration: repo.metadata.generation,
    });
    conditions = conditions.filter((c) => c.type === 'Ready');
    const status: GitRepositoryStatus = {
      ...base,
      conditions: ordered(conditions),
      observedGeneration: repo.metadata.generation,
      // An unchanged revision keeps its lastUpdateTime (e.g. after a controller restart).
      artifact: isNewRevision || !previous
        ? { revision: artifact.revision, digest: artifact.digest, lastUpdateTime: timestamp(artifact.fetchedAt), size: artifact.size }
        : previous,
      ...this.#handledRequest(repo),
    };
    await this.#writeStatus(repo, base, status);
    if (outcome.changed) {
      log.info({
        revision: artifact.revision, files: artifact.files.size, bytes: artifact.size, downloadedBytes: outcome.bytesDownloaded,
        fromCache: !outcome.downloaded, durationMs: Date.now() - started, submodulesSkipped: outcome.submodules.length,
      }, 'artifact stored');
    }
    if (isNewRevision) {
      this.#event(repo, 'Normal', GitRepositoryReasons.NewArtifact,
        `stored artifact for revision '${artifact.revision}': ${artifact.files.size} files, ${artifact.size} bytes`);
    }
    if (wasFailing) {
      this.#event(repo, 'Normal', GitRepositoryReasons.FetchRecovered, `fetching ${redactUrl(spec.url)} works again; serving revision '${artifact.revision}'`);
    }
    return { requeueAfterMs: intervalMs };
  }

  async #fetchFailed(repo: GitRepository, base: GitRepositoryStatus, error: SluiceError, current: Artifact | undefined, intervalMs: number, log: Logger): Promise<ReconcileResult> {
    const key = objectKey(repo.metadata);
    const reason = reasonForCode(error.code);
    const serving = current?.revision ?? base.artifact?.revision;
    const message = `${error.describe()}${serving ? ` (still serving revision '${serving}')` : ''}`;
    const previous = findCondition(base.conditions, FETCH_FAILED_CONDITION);
    const generation = repo.metadata.generation;
    let conditions = setCondition(base.conditions, { type: 'Ready', status: 'False', reason, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: FETCH_FAILED_CONDITION, status: 'True', reason, message, observedGeneration: generation });
    conditions = conditions.filter((c) => c.type === 'Ready' || c.type === FETCH_FAILED_CONDITION);
    await this.#writeStatus(repo, base, { ...base, conditions: ordered(conditions), observedGeneration: generation, ...this.#handledRequest(repo) });
    const retryInMs = Math.round(Math.min(this.#backoff.when(key), intervalMs));
    log.warn({ code: error.code, err: error.message, retryInMs, serving }, 'fetch failed; retrying with backoff');
    // One Event per distinct failure, not one per retry.
    if (previous?.status !== 'True' || previous.message !== message) this.#event(repo, 'Warning', reason, message);
    return { requeueAfterMs: retryInMs };
  }

  async #stalled(repo: GitRepository, base: GitRepositoryStatus, reason: string, error: SluiceError, log: Logger): Promise<void> {
    const message = error.describe();
    const generation = repo.metadata.generation;
    const before = findCondition(base.conditions, 'Stalled');
    let conditions = setCondition(base.conditions, { type: 'Ready', status: 'False', reason, message, observedGeneration: generation });
    conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason, message, observedGeneration: generation });
    conditions = conditions.filter((c) => c.type === 'Ready' || c.type === 'Stalled');
    await this.#writeStatus(repo, base, { ...base, conditions: ordered(conditions), observedGeneration: generation, ...this.#handledRequest(repo) });
    log.warn({ code: error.code, err: error.message }, 'stalled until the spec or the Secret changes');
    if (before?.status !== 'True' || before.message !== message) this.#event(repo, 'Warning', reason, message);
  }

  async #markReconciling(repo: GitRepository, base: GitRepositoryStatus, message: string): Promise<void> {
    let conditions = setCondition(base.conditions, { type: 'Reconciling', status: 'True', reason: GitRepositoryReasons.Progressing, message, observedGeneration: repo.metadata.generation });
    if (!findCondition(conditions, 'Ready')) {
      conditions = setCondition(conditions, { type: 'Ready', status: 'Unknown', reason: GitRepositoryReasons.Progressing, message, observedGeneration: repo.metadata.generation });
    }
    conditions = conditions.filter((c) => c.type !== 'Stalled');
    await this.#writeStatus(repo, base, { ...base, conditions: ordered(conditions) });
  }

  #handledRequest(repo: GitRepository): Pick<GitRepositoryStatus, 'lastHandledReconcileAt'> {
    const requested = repo.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
    return requested === undefined ? {} : { lastHandledReconcileAt: requested };
  }

  #baseStatus(key: string, repo: GitRepository): GitRepositoryStatus {
    const written = this.#written.get(key);
    if (written && written.uid === repo.metadata.uid) return written.status;
    return repo.status ?? {};
  }

  /** Patches status only when it changed: a quiet poll costs no API write. */
  async #writeStatus(repo: GitRepository, base: GitRepositoryStatus, status: GitRepositoryStatus): Promise<void> {
    const key = objectKey(repo.metadata);
    const remembered = { uid: repo.metadata.uid, status };
    if (JSON.stringify(base) === JSON.stringify(status)) {
      this.#written.set(key, remembered);
      return;
    }
    const ref: ObjectRef = { apiVersion: API_GROUP_VERSION, kind: Kinds.GitRepository, namespace: repo.metadata.namespace, name: repo.metadata.name };
    try {
      await this.#deps.client.patchStatus(ref, status);
    } catch (error) {
      const mapped = toSluiceError(error);
      // Gone while we worked: nothing to report to.
      if (mapped.code === ErrorCodes.KubeNotFound) return;
      throw mapped;
    }
    this.#written.set(key, remembered);
  }

  #event(repo: GitRepository, type: 'Normal' | 'Warning', reason: string, note: string): void {
    this.#deps.notifier.emit({ ...eventFor(repo, reason, note, { severity: type === 'Normal' ? 'info' : 'error' }), action: 'Fetch' });
  }

  /**
   * Removes the cache entries of a URL no GitRepository (in the informer
   * cache) points at any more. Entries are shared by URL, so one still in use
   * by another GitRepository stays.
   */
  async #releaseCache(url: string, why: string, log: Logger): Promise<void> {
    const users = this.controller.list().filter((repo) => repo.spec.url === url).map((repo) => objectKey(repo.metadata));
    if (users.length > 0) {
      log.debug({ url: redactUrl(url), users }, 'git cache entries kept: other GitRepositories use the same URL');
      return;
    }
    for (const gitdir of this.fetcher.gitdirsFor(url)) {
      try {
        await this.fetcher.cache.release(gitdir, `${why}; no other GitRepository uses ${redactUrl(url)}`);
      } catch (error) {
        // The size bound still reclaims it later.
        log.warn({ err: (error as Error).message, gitdir }, 'could not remove an unused git cache entry');
      }
    }
  }

  #forget(key: string): void {
    this.#urls.delete(key);
    const slash = key.indexOf('/');
    this.#deps.artifacts.delete(key.slice(0, slash), key.slice(slash + 1));
    this.#builtWith.delete(key);
    this.#written.delete(key);
    this.#backoff.forget(key);
  }
}

export function createGitRepositoryController(deps: ControllerDeps): GitRepositoryController {
  return new GitRepositoryController(deps);
}
