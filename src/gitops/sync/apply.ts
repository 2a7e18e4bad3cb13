// Applies one revision's objects in stages, as fluxcd/pkg/ssa does: every
// object is dry-run first and only objects whose dry-run result differs from
// the live object are written. Nothing is written while any object fails
// validation, except that objects of a CRD (or in a Namespace) created by the
// same revision can only be dry-run once that CRD/Namespace exists: those are
// checked after the definitions stage is applied, before anything else.
//
// An object whose manifest and live resourceVersion are both what they were
// after the last successful apply is unchanged by construction and skips the
// dry-run, so a no-change re-sync costs one list per kind and namespace.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ErrorCodes, SluiceError, toSluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import { splitApiVersion } from '../../kube/client.ts';
import { describeRef, type KubeObject } from '../../kube/types.ts';
import { describeObject, type DesiredObject } from './plan.ts';
import { differs, fingerprint } from './normalize.ts';
import { annotatedIgnorePaths, ownerSelector, removeField, type SyncOwner } from './ownership.ts';
import type { ManifestProblem } from './parse.ts';
import { mapLimit } from './pool.ts';
import { applyGroups } from './stages.ts';

export type ChangeAction = 'created' | 'configured' | 'unchanged' | 'recreated' | 'pruned';

export interface Change {
  id: string;
  ref: DesiredObject['ref'];
  action: ChangeAction;
}

/** What sluice last sent for an object and the resourceVersion it saw afterwards. */
export interface AppliedState {
  hash: string;
  resourceVersion: string;
}

/** Per-Sync memory between reconciles, keyed by inventory id. */
export type AppliedMemory = Map<string, AppliedState>;

export interface ApplyStagedOptions {
  owner: SyncOwner;
  /** spec.force: delete and recreate objects whose immutable fields changed. */
  force?: boolean | undefined;
  memory?: AppliedMemory | undefined;
  /** API calls in flight at once. Default 16. */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Field paths to leave to other controllers, on top of the annotation. */
  ignoreFields?: ((object: DesiredObject, live: KubeObject | undefined) => string[][]) | undefined;
  /** How long to wait for new CRDs to be Established. Default 60 s. */
  establishTimeoutMs?: number | undefined;
  log?: Logger | undefined;
}

export interface ApplyReport {
  /** 'validation': nothing was written. 'apply': some groups were written, then one failed. */
  stoppedAt: 'validation' | 'apply' | 'complete';
  changes: Change[];
  problems: ManifestProblem[];
  /** Objects in the cluster as desired after this run: the new inventory on success. */
  applied: DesiredObject[];
  /** The latest state seen of each object (apply answer, dry-run or live), for health checks. */
  observed: Map<string, KubeObject>;
}

type Plan = 'create' | 'update' | 'recreate' | 'none';

interface Work {
  desired: DesiredObject;
  /** The object as sent: the desired object minus fields left to other controllers. */
  send: KubeObject;
  hash: string;
  live: KubeObject | undefined;
  plan: Plan | undefined;
  /** Dry-run result. */
  preview: KubeObject | undefined;
  result: KubeObject | undefined;
}

const crdApiVersion = 'apiextensions.k8s.io/v1';

function problemFor(desired: DesiredObject, message: string): ManifestProblem {
  return {
    file: desired.source.kustomization ?? desired.source.file,
    line: desired.source.line,
    object: describeObject(desired.ref),
    message,
  };
}

function isImmutableFieldError(error: SluiceError): boolean {
  return error.code === ErrorCodes.KubeInvalid && /immutable/i.test(error.message);
}

/** The API server's words, without the "dry-run apply Kind ns/name: " our client puts in front. */
function apiMessage(error: SluiceError, work: Work): string {
  for (const verb of ['dry-run apply', 'apply']) {
    const prefix = `${verb} ${describeRef(work.desired.ref)}: `;
    if (error.message.startsWith(prefix)) return error.message.slice(prefix.length);
  }
  return error.message;
}

/** Errors that say nothing about the manifests (API server down, throttled, aborted): retry the whole run. */
function isTransient(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return true;
  return toSluiceError(error).retryable;
}

export class StagedApplier {
  readonly #client: KubeClient;
  readonly #options: ApplyStagedOptions;
  readonly #concurrency: number;

  constructor(client: KubeClient, options: ApplyStagedOptions) {
    this.#client = client;
    this.#options = options;
    this.#concurrency = options.concurrency ?? 16;
  }

  async run(objects: readonly DesiredObject[]): Promise<ApplyReport> {
    const signal = this.#options.signal;
    const live = await this.#readLive(objects);
    const works = objects.map((desired) => this.#prepare(desired, live.get(desired.id)));
    const memory = this.#options.memory;
    for (const work of works) {
      const remembered = memory?.get(work.desired.id);
      const rv = work.live?.metadata.resourceVersion;
      if (remembered && rv && remembered.hash === work.hash && remembered.resourceVersion === rv) work.plan = 'none';
    }

    // Validation: definitions first, since whether a CRD or Namespace is new decides
    // which other objects can be dry-run before anything is written.
    const definitions = works.filter((w) => w.desired.stage === 'definitions');
    const problems = await this.#dryRun(definitions.filter((w) => w.plan === undefined));
    const changedKinds = new Set<string>();
    const newNamespaces = new Set<string>();
    for (const work of definitions) {
      if (work.plan === 'none') continue;
      if (work.desired.ref.kind === 'Namespace') {
        if (work.plan === 'create') newNamespaces.add(work.desired.ref.name);
      } else {
        const spec = work.send.spec as { group?: string; names?: { kind?: string } } | undefined;
        changedKinds.add(`${spec?.group ?? ''}/${spec?.names?.kind ?? ''}`);
      }
    }
    const isDeferred = (work: Work) => work.desired.stage !== 'definitions' && (
      (work.desired.definedInRevision && changedKinds.has(`${splitApiVersion(work.desired.ref.apiVersion).group}/${work.desired.ref.kind}`))
      || (work.desired.ref.namespace !== undefined && newNamespaces.has(work.desired.ref.namespace)));
    const deferred = works.filter((w) => w.plan === undefined && isDeferred(w));
    const rest = works.filter((w) => w.desired.stage !== 'definitions' && w.plan === undefined && !isDeferred(w));
    problems.push(...await this.#dryRun(rest));
    if (problems.length > 0) return this.#report('validation', works, problems);

    // Stage 1: CRDs and Namespaces, then wait until new CRDs serve their kinds.
    const applyProblems = await this.#applyGroup(definitions);
    if (applyProblems.length > 0) return this.#report('apply', works, applyProblems);
    const newCrds = definitions.filter((w) => w.desired.ref.kind === 'CustomResourceDefinition' && w.plan !== 'none');
    if (newCrds.length > 0) await this.#waitEstablished(newCrds, deferred);

    if (deferred.length > 0) {
      const late = await this.#dryRun(deferred);
      if (late.length > 0) return this.#report('apply', works, late);
    }
    for (const group of applyGroups(works.filter((w) => w.desired.stage !== 'definitions'), (w) => w.desired)) {
      signal?.throwIfAborted();
      const failed = await this.#applyGroup(group);
      if (failed.length > 0) return this.#report('apply', works, failed);
    }
    return this.#report('complete', works, []);
  }

  #prepare(desired: DesiredObject, live: KubeObject | undefined): Work {
    const send = structuredClone(desired.object);
    const paths = [...annotatedIgnorePaths(desired.object, live), ...(this.#options.ignoreFields?.(desired, live) ?? [])];
    for (const path of paths) removeField(send, path);
    return { desired, send, hash: fingerprint(send), live, plan: undefined, preview: undefined, result: undefined };
  }

  /**
   * Live objects, read in bulk: one list (by sluice's owner labels) per kind
   * and namespace, or one GET where a group has a single object. An object
   * missing from a list is either absent or not yet labelled; the dry-run tells.
   */
  async #readLive(objects: readonly DesiredObject[]): Promise<Map<string, KubeObject>> {
    const groups = new Map<string, DesiredObject[]>();
    for (const object of objects) {
      const key = `${object.ref.apiVersion}\u0000${object.ref.kind}\u0000${object.ref.namespace ?? ''}`;
      const group = groups.get(key);
      if (group) group.push(object);
      else groups.set(key, [object]);
    }
    const live = new Map<string, KubeObject>();
    const selector = ownerSelector(this.#options.owner);
    await mapLimit([...groups.values()], this.#concurrency, async (group) => {
      const first = group[0];
      if (!first) return;
      try {
        if (group.length === 1) {
          const found = await this.#client.find(first.ref, this.#options.signal);
          if (found) live.set(first.id, found);
          return;
        }
        const list = await this.#client.list(first.ref.apiVersion, first.ref.kind, {
          namespace: first.ref.namespace, labelSelector: selector, signal: this.#options.signal,
        });
        const byName = new Map(list.items.map((item) => [item.metadata.name, item]));
        for (const object of group) {
          const found = byName.get(object.ref.name);
          if (found) live.set(object.id, found);
        }
      } catch (error) {
        // A kind defined by a CRD in this revision is not served yet: nothing of it exists.
        if (first.definedInRevision && toSluiceError(error).code === ErrorCodes.KubeUnknownKind) return;
        throw error;
      }
    });
    return live;
  }

  /** Server-side dry-run; sets each work's plan and returns the problems. */
  async #dryRun(works: readonly Work[]): Promise<ManifestProblem[]> {
    const problems: ManifestProblem[] = [];
    await this.#each(works, async (work) => {
      try {
        const preview = await this.#client.apply(work.send, { force: true, dryRun: true, signal: this.#options.signal });
        work.preview = preview;
        // A dry-run create has no resourceVersion: nothing is stored yet.
        if (!preview.metadata.resourceVersion) work.plan = 'create';
        else work.plan = differs(preview, work.live) ? 'update' : 'none';
      } catch (error) {
        if (isTransient(error, this.#options.signal)) throw error;
        const mapped = toSluiceError(error);
        if (this.#options.force && isImmutableFieldError(mapped)) {
          work.plan = 'recreate';
          return;
        }
        let message = `dry-run failed: ${apiMessage(mapped, work)}`;
        if (mapped.code === ErrorCodes.KubeNotFound && work.desired.ref.namespace) {
          message = `namespace ${work.desired.ref.namespace} does not exist; add the Namespace to the revision or set targetNamespace`;
        } else if (isImmutableFieldError(mapped)) {
          message += ' (set spec.force to recreate the object)';
        }
        problems.push(problemFor(work.desired, message));
      }
    });
    return problems;
  }

  /** Applies the objects of one group that changed, concurrently. */
  async #applyGroup(works: readonly Work[]): Promise<ManifestProblem[]> {
    const problems: ManifestProblem[] = [];
    await this.#each(works.filter((w) => w.plan !== 'none'), async (work) => {
      try {
        if (work.plan === 'recreate') await this.#delete(work);
        work.result = await this.#client.apply(work.send, { force: true, signal: this.#options.signal });
      } catch (error) {
        if (isTransient(error, this.#options.signal)) throw error;
        problems.push(problemFor(work.desired, `apply failed: ${apiMessage(toSluiceError(error), work)}`));
      }
    });
    return problems;
  }

  async #delete(work: Work): Promise<void> {
    const ref = work.desired.ref;
    // Background: the old object goes at once; its dependents (a Job's pods) are collected after it.
    await this.#client.delete(ref, { propagationPolicy: 'Background', signal: this.#options.signal });
    const deadline = Date.now() + 60_000;
    while (await this.#client.find(ref, this.#options.signal)) {
      if (Date.now() > deadline) throw new SluiceError(ErrorCodes.KubeTimeout, `${describeRef(ref)} was not deleted within 60 s (finalizers?)`, { retryable: true });
      await sleep(250, undefined, { signal: this.#options.signal });
    }
  }

  async #waitEstablished(crds: readonly Work[], deferred: readonly Work[]): Promise<void> {
    const timeoutMs = this.#options.establishTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    for (const work of crds) {
      for (;;) {
        const crd = await this.#client.find({ apiVersion: crdApiVersion, kind: 'CustomResourceDefinition', name: work.desired.ref.name }, this.#options.signal);
        const conditions = (crd?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
        if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) {
          throw new SluiceError(ErrorCodes.KubeTimeout, `CustomResourceDefinition ${work.desired.ref.name} was not Established within ${timeoutMs / 1000} s`, { retryable: true });
        }
        await sleep(200, undefined, { signal: this.#options.signal });
      }
    }
    // Discovery lags Established by a moment; the deferred dry-runs need the kinds served.
    const kinds = new Map(deferred.filter((w) => w.desired.definedInRevision).map((w) => [`${w.desired.ref.apiVersion}/${w.desired.ref.kind}`, w.desired.ref]));
    for (const ref of kinds.values()) {
      for (;;) {
        try {
          await this.#client.resourceFor(ref.apiVersion, ref.kind);
          break;
        } catch (error) {
          if (toSluiceError(error).code !== ErrorCodes.KubeUnknownKind || Date.now() > deadline) throw error;
          await sleep(200, undefined, { signal: this.#options.signal });
        }
      }
    }
  }

  /** Runs fn over works with bounded concurrency; the first transient error stops new calls and is rethrown. */
  async #each(works: readonly Work[], fn: (work: Work) => Promise<void>): Promise<void> {
    let fatal: unknown;
    await mapLimit(works, this.#concurrency, async (work) => {
      if (fatal !== undefined) return;
      try {
        await fn(work);
      } catch (error) {
        fatal ??= error;
      }
    });
    if (fatal !== undefined) throw toSluiceError(fatal);
  }

  #report(stoppedAt: ApplyReport['stoppedAt'], works: readonly Work[], problems: ManifestProblem[]): ApplyReport {
    const changes: Change[] = [];
    const applied: DesiredObject[] = [];
    const observed = new Map<string, KubeObject>();
    const written = stoppedAt !== 'validation';
    for (const work of works) {
      const { id, ref } = work.desired;
      if (work.result) {
        const action: ChangeAction = work.plan === 'create' ? 'created' : work.plan === 'recreate' ? 'recreated' : 'configured';
        changes.push({ id, ref, action });
        applied.push(work.desired);
        observed.set(id, work.result);
      } else if (work.plan === 'none' && written) {
        changes.push({ id, ref, action: 'unchanged' });
        applied.push(work.desired);
        const seen = work.live ?? work.preview;
        if (seen) observed.set(id, seen);
      }
    }
    this.#remember(works);
    if (stoppedAt !== 'complete') this.#options.log?.debug({ stoppedAt, problems: problems.length }, 'staged apply stopped');
    return { stoppedAt, changes, problems, applied, observed };
  }

  /** Records what was sent and the resourceVersion seen, so an unchanged object skips the next dry-run. */
  #remember(works: readonly Work[]): void {
    const memory = this.#options.memory;
    if (!memory) return;
    const next = new Map<string, AppliedState>();
    for (const work of works) {
      // 'none' means live equals desired, whether the dry-run said so or the memory did.
      const seen = work.result ?? (work.plan === 'none' ? work.live : undefined);
      const rv = seen?.metadata.resourceVersion;
      const previous = memory.get(work.desired.id);
      if (rv) next.set(work.desired.id, { hash: work.hash, resourceVersion: rv });
      else if (previous) next.set(work.desired.id, previous);
    }
    memory.clear();
    for (const [id, state] of next) memory.set(id, state);
  }
}

/** Applies a revision's objects in stages; see StagedApplier. */
export function applyStaged(client: KubeClient, objects: readonly DesiredObject[], options: ApplyStagedOptions): Promise<ApplyReport> {
  return new StagedApplier(client, options).run(objects);
}
