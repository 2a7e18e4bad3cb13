// `sluice reconcile sync`, `sluice suspend|resume sync`: the same requests a
// Receiver or a user with kubectl could make, and waiting for their outcome.
import { API_GROUP_VERSION, type GitRepository, type Sync } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject, ObjectRef } from '../kube/types.ts';
import { REQUESTED_AT_ANNOTATION } from '../runtime/controller.ts';
import { conditionOf, ExitCode, parseDurationFlag, pollUntil, warn, withSession, write, type GlobalOptions } from './common.ts';
import { listEventsFor } from './events.ts';

export interface ReconcileOptions extends GlobalOptions {
  withSource?: boolean;
  timeout: string;
}

function syncRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name };
}

interface Handled<T extends KubeObject> {
  object: T;
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
    return { object, ready: ready.status, message: ready.message };
  }, { timeoutMs, intervalMs: 300 });
  if (!handled) {
    throw new SluiceError(ErrorCodes.ReconcileTimeout, `${ref.kind} ${ref.namespace}/${ref.name} did not finish the requested reconcile within ${timeoutMs / 1000}s`, {
      hint: 'check that the sluice controller is running and watches this namespace (sluice events, kubectl logs)',
    });
  }
  return handled;
}

/** Objects created, configured, recreated or pruned according to a Ready message of the Sync controller. */
export function changedCount(message: string): number {
  const match = /(\d+) created, (\d+) configured(?:, (\d+) recreated)?, \d+ unchanged, (\d+) pruned/.exec(message);
  if (!match) return 0;
  return [match[1], match[2], match[3], match[4]].reduce((sum, n) => sum + Number(n ?? 0), 0);
}

export async function runReconcileSync(name: string, options: ReconcileOptions): Promise<void> {
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = syncRef(namespace, name);
    const sync = await client.get<Sync>(ref);
    if (sync.spec.suspend) {
      throw new SluiceError(ErrorCodes.ConfigInvalid, `Sync ${namespace}/${name} is suspended`, { hint: `resume it first: sluice resume sync ${name} -n ${namespace}` });
    }
    // Events seen before the request; what is new or repeated afterwards belongs to this run (no clock
    // comparison). Taken before the source fetch, which may trigger the Sync by itself.
    const seen = new Map((await listEventsFor(client, [ref])).map((e) => [e.id, e.count]));
    const previousMessage = conditionOf(sync, 'Ready')?.message;
    if (options.withSource) {
      const sourceNamespace = sync.spec.sourceRef.namespace ?? namespace;
      const sourceRef: ObjectRef = { apiVersion: API_GROUP_VERSION, kind: sync.spec.sourceRef.kind, namespace: sourceNamespace, name: sync.spec.sourceRef.name };
      write(`► fetching ${sourceRef.kind} ${sourceNamespace}/${sourceRef.name}`);
      const source = await requestReconcile<GitRepository>(client, sourceRef, timeoutMs);
      if (source.ready === 'False') {
        warn(`✗ ${sourceRef.kind} ${sourceNamespace}/${sourceRef.name}: ${source.message}`);
        throw new ExitCode(1);
      }
      write(`✔ fetched revision ${source.object.status?.artifact?.revision ?? '(none)'}`);
    }
    write(`► reconciling Sync ${namespace}/${name}`);
    const handled = await requestReconcile<Sync>(client, ref, timeoutMs);
    if (handled.ready === 'False') {
      warn(`✗ Sync ${namespace}/${name}: ${handled.message}`);
      throw new ExitCode(1);
    }
    const revision = handled.object.status?.lastAppliedRevision ?? '';
    const changeLines = async () => (await listEventsFor(client, [ref]))
      .filter((e) => ['Applied', 'DriftCorrected', 'Pruned'].includes(e.reason) && e.count > (seen.get(e.id) ?? 0) && e.note.startsWith(`revision ${revision}`))
      .flatMap((e) => e.note.split('\n').slice(1));
    // A new message that counts changes means this run wrote objects; its Events may trail the status by a moment.
    const expectChanges = handled.message !== previousMessage && changedCount(handled.message) > 0;
    const lines = (expectChanges ? await pollUntil(async () => {
      const found = await changeLines();
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 5000, intervalMs: 250 }) : await changeLines()) ?? [];
    if (lines.length === 0) {
      // The Ready message keeps the last real change when a run changes nothing, so it is not repeated here
      // (unless it is new: then the Events are missing, and the message is all there is).
      write(expectChanges ? `✔ ${handled.message}` : `✔ revision ${revision} is applied; no objects changed in this run`);
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
