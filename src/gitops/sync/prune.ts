// Deletes objects that left Git. Only objects that still carry this Sync's
// owner labels are deleted (someone may have adopted one since), never those
// annotated `sluice.dev/prune: disabled`, and in reverse apply order so
// Namespaces and CRDs go last.
import type { InventoryEntry } from '../../api/types.ts';
import { ErrorCodes, toSluiceError } from '../../errors.ts';
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
}

export interface PruneOptions {
  owner: SyncOwner;
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
}

export async function pruneEntries(client: KubeClient, entries: readonly InventoryEntry[], options: PruneOptions): Promise<PruneReport> {
  const report: PruneReport = { pruned: [], kept: [] };
  const targets = entries.flatMap((entry) => {
    const ref = refOfEntry(entry);
    // Namespaced-ness only orders deletion here; an entry with a namespace is namespaced.
    return ref ? [{ id: entry.id, ref, stage: stageOf(ref, ref.namespace !== undefined) }] : [];
  });
  for (const group of pruneOrder(targets, (t) => t)) {
    await mapLimit(group, options.concurrency ?? 16, async ({ id, ref }) => {
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
    });
  }
  return report;
}
