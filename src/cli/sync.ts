// `sluice reconcile sync`, `sluice suspend|resume sync`: the same requests a
// Receiver or a user with kubectl could make, and waiting for their outcome.
import { API_GROUP_VERSION, type GitRepository, type Sync, type SyncChangeSet } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject, ObjectRef } from '../kube/types.ts';
import { REQUESTED_AT_ANNOTATION } from '../runtime/controller.ts';
import { conditionOf, ExitCode, parseDurationFlag, pollUntil, warn, withSession, write, type GlobalOptions } from './common.ts';
import { describeChange, sameChanges } from '../gitops/sync/changeset.ts';

export interface ReconcileOptions extends GlobalOptions {
  withSource?: boolean;
  timeout: string;
}

function syncRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name };
}

interface Handled<T extends KubeObject> {
  object: T;
  /** The sluice.dev/requestedAt value this request set. */
  requestedAt: string;
  ready: 'True' | 'False';
  message: string;
}

/** Sets sluice.dev/requestedAt and waits until the controller handled exactly that request. */
async function requestReconcile<T extends KubeObject>(client: KubeClient, ref: ObjectRef, timeoutMs: number): Promise<Handled<T>> {
  const requestedAt = new Date().toISOString();
  await client.patchMerge(ref, { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: requestedAt } } });
  const handled = await pollUntil(async () => {
    const object = await client.get<T>(ref);
    const status = object.status as { lastHandledReconcileAt?: string; observedGeneration?: number } | undefined;
    const ready = conditionOf(object, 'Ready');
    if (status?.lastHandledReconcileAt !== requestedAt || !ready || ready.status === 'Unknown') return undefined;
    if (conditionOf(object, 'Reconciling')?.status === 'True') return undefined;
    return { object, ready: ready.status, message: ready.message, requestedAt };
  }, { timeoutMs, intervalMs: 300 });
  if (!handled) {
    throw new SluiceError(ErrorCodes.ReconcileTimeout, `${ref.kind} ${ref.namespace}/${ref.name} did not finish the requested reconcile within ${timeoutMs / 1000}s`, {
      hint: 'check that the sluice controller is running and watches this namespace (sluice events, kubectl logs)',
    });
  }
  return handled;
}

/** The change lines of a change set, and a note when it holds only part of them. */
function changeLines(set: SyncChangeSet): string[] {
  const lines = set.entries.map((entry) => describeChange(entry));
  if (set.truncated) lines.push(`(more than ${set.entries.length} objects changed; the rest are not listed)`);
  return lines;
}

/**
 * Waits until the Sync has tried `revision` (fetched by --with-source) and finished that run,
 * or reports it cannot (dependencies, no artifact). The run that a new revision triggers on
 * its own is the one that applies it; its change set is read before this command's own
 * request runs, which would replace it with "nothing changed".
 */
async function waitForRevisionRun(client: KubeClient, ref: ObjectRef, revision: string, timeoutMs: number): Promise<Sync | undefined> {
  return pollUntil(async () => {
    const sync = await client.get<Sync>(ref);
    const ready = conditionOf(sync, 'Ready');
    if (ready?.status === 'False' && ['DependencyNotReady', 'ArtifactNotReady'].includes(ready.reason)) return sync;
    if (sync.status?.lastAttemptedRevision !== revision || !ready || ready.status === 'Unknown') return undefined;
    if (conditionOf(sync, 'Reconciling')?.status === 'True') return undefined;
    return sync;
  }, { timeoutMs, intervalMs: 300 });
}

export async function runReconcileSync(name: string, options: ReconcileOptions): Promise<void> {
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = syncRef(namespace, name);
    const sync = await client.get<Sync>(ref);
    if (sync.spec.suspend) {
      throw new SluiceError(ErrorCodes.ConfigInvalid, `Sync ${namespace}/${name} is suspended`, { hint: `resume it first: sluice resume sync ${name} -n ${namespace}` });
    }
    // The change set before this command: one that differs afterwards was written by a run it caused.
    const before = sync.status?.lastChangeSet;
    let applied: SyncChangeSet | undefined;
    if (options.withSource) {
      const sourceNamespace = sync.spec.sourceRef.namespace ?? namespace;
      const sourceRef: ObjectRef = { apiVersion: API_GROUP_VERSION, kind: sync.spec.sourceRef.kind, namespace: sourceNamespace, name: sync.spec.sourceRef.name };
      write(`► fetching ${sourceRef.kind} ${sourceNamespace}/${sourceRef.name}`);
      const source = await requestReconcile<GitRepository>(client, sourceRef, timeoutMs);
      if (source.ready === 'False') {
        warn(`✗ ${sourceRef.kind} ${sourceNamespace}/${sourceRef.name}: ${source.message}`);
        throw new ExitCode(1);
      }
      const fetched = source.object.status?.artifact?.revision;
      write(`✔ fetched revision ${fetched ?? '(none)'}`);
      if (fetched && fetched !== sync.status?.lastAttemptedRevision) {
        const ran = await waitForRevisionRun(client, ref, fetched, timeoutMs);
        const set = ran?.status?.lastChangeSet;
        if (set?.revision === fetched && !sameChanges(set, before)) applied = set;
      }
    }
    write(`► reconciling Sync ${namespace}/${name}`);
    const handled = await requestReconcile<Sync>(client, ref, timeoutMs);
    if (handled.ready === 'False') {
      warn(`✗ Sync ${namespace}/${name}: ${handled.message}`);
      throw new ExitCode(1);
    }
    const revision = handled.object.status?.lastAppliedRevision ?? '';
    const own = handled.object.status?.lastChangeSet;
    // Only a change set that names this request is this run's; an older controller writes none.
    const sets = [applied, own?.reconcileRequest === handled.requestedAt ? own : undefined].filter((set) => set !== undefined);
    const lines = sets.flatMap((set) => changeLines(set));
    if (lines.length === 0) {
      write(`✔ revision ${revision} is applied; no objects changed in this run`);
      return;
    }
    write(`✔ ${handled.message}`);
    for (const line of lines) write(`  ${line}`);
  });
}

export async function runSetSuspend(name: string, suspend: boolean, options: GlobalOptions & { timeout: string }): Promise<void> {
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = syncRef(namespace, name);
    await client.get(ref);
    await client.patchMerge(ref, { spec: { suspend } });
    if (suspend) {
      write(`✔ Sync ${namespace}/${name} suspended`);
      return;
    }
    write(`► Sync ${namespace}/${name} resumed; waiting for it to reconcile`);
    const handled = await requestReconcile<Sync>(client, ref, timeoutMs);
    if (handled.ready === 'False') {
      warn(`✗ Sync ${namespace}/${name}: ${handled.message}`);
      throw new ExitCode(1);
    }
    write(`✔ ${handled.message}`);
  });
}
