// The inventory: which objects a Sync applied, as status.inventory.entries.
// Ids follow Flux's `<namespace>_<name>_<group>_<kind>` so tooling that reads
// Flux inventories reads these too; `v` is the version the object was applied
// with (its group is in the id).
import { splitApiVersion } from '../../kube/client.ts';
import type { InventoryEntry } from '../../api/types.ts';
import type { ObjectRef } from '../../kube/types.ts';

export interface ObjectIdentity {
  namespace: string;
  name: string;
  group: string;
  kind: string;
}

export function identityOf(ref: ObjectRef): ObjectIdentity {
  return { namespace: ref.namespace ?? '', name: ref.name, group: splitApiVersion(ref.apiVersion).group, kind: ref.kind };
}

export function formatId(identity: ObjectIdentity): string {
  return `${identity.namespace}_${identity.name}_${identity.group}_${identity.kind}`;
}

export function objectId(ref: ObjectRef): string {
  return formatId(identityOf(ref));
}

/**
 * Parses an id. Namespaces, groups and kinds never contain "_", but some
 * cluster-scoped names (RBAC) may, so the name is everything in the middle.
 */
export function parseId(id: string): ObjectIdentity | undefined {
  const first = id.indexOf('_');
  const last = id.lastIndexOf('_');
  const beforeLast = id.lastIndexOf('_', last - 1);
  if (first < 0 || beforeLast <= first) return undefined;
  const identity = {
    namespace: id.slice(0, first),
    name: id.slice(first + 1, beforeLast),
    group: id.slice(beforeLast + 1, last),
    kind: id.slice(last + 1),
  };
  return identity.name && identity.kind ? identity : undefined;
}

export function entryFor(ref: ObjectRef): InventoryEntry {
  return { id: objectId(ref), v: splitApiVersion(ref.apiVersion).version };
}

/** The reference an inventory entry stands for, or undefined for a malformed entry. */
export function refOfEntry(entry: InventoryEntry): ObjectRef | undefined {
  const identity = parseId(entry.id);
  if (!identity) return undefined;
  return {
    apiVersion: identity.group ? `${identity.group}/${entry.v}` : entry.v,
    kind: identity.kind,
    name: identity.name,
    namespace: identity.namespace || undefined,
  };
}

/** Entries of `previous` whose objects are not in `next` (compared by id, not version). */
export function staleEntries(previous: readonly InventoryEntry[], next: readonly InventoryEntry[]): InventoryEntry[] {
  const keep = new Set(next.map((entry) => entry.id));
  return previous.filter((entry) => !keep.has(entry.id));
}

/** Union by id, later entries winning; sorted by id so the status is stable. */
export function mergeEntries(...lists: (readonly InventoryEntry[])[]): InventoryEntry[] {
  const byId = new Map<string, InventoryEntry>();
  for (const list of lists) for (const entry of list) byId.set(entry.id, entry);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
