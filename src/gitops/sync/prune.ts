// Deletes objects that left Git, and the whole inventory when a Sync with
// prune is deleted (garbage collection). Only objects that still carry this
// Sync's owner labels are deleted (someone may have adopted one since), never
// those annotated `sluice.dev/prune: disabled`, and in reverse apply order so
// Namespaces and CRDs go last.
import type { InventoryEntry } from '../../api/types.ts';
import { ErrorCodes, toSluiceError, type SluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { ObjectRef } from '../../kube/types.ts';
import type { Change } from './apply.ts';
import { refOfEntry } from './inventory.ts';
import { isOwnedBy, isPruneDisabled, type SyncOwner } from './ownership.ts';
import { describeObject } from './plan.ts';
import { mapLimit } from './pool.ts';
import { pruneOrder, stageOf } from './stages.ts';

export interface PruneReport {
  pruned: Change[];
  /** Objects left in place, and why. */
  kept: { id: string; ref: ObjectRef; reason: string }[];
  /** With collectFailures: objects whose read or delete failed. */
  failed: { id: string; ref: ObjectRef; error: SluiceError }[];
  /** With skipTerminatingNamespaces: objects left to the deletion of their namespace. */
  leftToNamespace: number;
}

export interface PruneOptions {
  owner: SyncOwner;
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Record a failed read or delete in `failed` and go on with the other
   * objects, instead of throwing the first error. Aborts still throw.
   */
  collectFailures?: boolean | undefined;
  /** Count objects in a namespace that is gone or being deleted as gone, without touching them. */
  skipTerminatingNamespaces?: boolean | undefined;
}

/** Whether a namespace is gone or being deleted; unknown (e.g. no RBAC to read it) counts as live. */
export async function isNamespaceTerminating(client: KubeClient, name: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const namespace = await client.find({ apiVersion: 'v1', kind: 'Namespace', name }, signal);
    return !namespace || namespace.metadata.deletionTimestamp !== undefined
      || (namespace.status as { phase?: string } | undefined)?.phase === 'Terminating';
  } catch (error) {
    if (signal?.aborted) throw error;
    return false;
  }
}

export async function pruneEntries(client: KubeClient, entries: readonly InventoryEntry[], options: PruneOptions): Promise<PruneReport> {
  const report: PruneReport = { pruned: [], kept: [], failed: [], leftToNamespace: 0 };
  const namespaces = new Map<string, Promise<boolean>>();
  const terminating = (name: string) => {
    let state = namespaces.get(name);
    if (!state) namespaces.set(name, state = isNamespaceTerminating(client, name, options.signal));
    return state;
  };
  const targets = entries.flatMap((entry) => {
    const ref = refOfEntry(entry);
    // Namespaced-ness only orders deletion here; an entry with a namespace is namespaced.
    return ref ? [{ id: entry.id, ref, stage: stageOf(ref, ref.namespace !== undefined) }] : [];
  });
  for (const group of pruneOrder(targets, (t) => t)) {
    await mapLimit(group, options.concurrency ?? 16, async ({ id, ref }) => {
      try {
        if (options.skipTerminatingNamespaces && ref.namespace && await terminating(ref.namespace)) {
          report.leftToNamespace++;
          return;
        }
        let live;
        try {
          live = await client.find(ref, options.signal);
        } catch (error) {
          // The kind is no longer served (its CRD is gone), so neither is the object.
          if (toSluiceError(error).code === ErrorCodes.KubeUnknownKind) return;
          throw error;
        }
        if (!live || live.metadata.deletionTimestamp) return;
        if (isPruneDisabled(live)) {
          report.kept.push({ id, ref, reason: `${describeObject(ref)} has sluice.dev/prune: disabled` });
          return;
        }
        if (!isOwnedBy(live, options.owner)) {
          report.kept.push({ id, ref, reason: `${describeObject(ref)} no longer carries this Sync's labels` });
          return;
        }
        if (await client.delete(ref, { signal: options.signal })) report.pruned.push({ id, ref, action: 'pruned' });
      } catch (error) {
        if (!options.collectFailures || options.signal?.aborted) throw error;
        report.failed.push({ id, ref, error: toSluiceError(error) });
      }
    });
  }
  return report;
}
