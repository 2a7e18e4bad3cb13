// The change set of a reconcile as status.lastChangeSet: which objects were
// created, configured, recreated or pruned (as inventory ids), and how many
// were left unchanged. Events carry the same lines, but Events are cut at
// 1024 bytes; the status is what `sluice reconcile sync` reads.
import type { SyncChangeAction, SyncChangeEntry, SyncChangeSet } from '../../api/types.ts';
import type { Change } from './apply.ts';
import { entryFor, parseId } from './inventory.ts';

/** CRD maxItems of status.lastChangeSet.entries. */
export const MAX_CHANGE_ENTRIES = 1000;

const actionOrder: readonly SyncChangeAction[] = ['created', 'configured', 'recreated', 'pruned'];

export interface ChangeSetOptions {
  /** The sluice.dev/requestedAt value the reconcile handled, if it handled one. */
  reconcileRequest?: string | undefined;
  drift?: boolean | undefined;
  /** Default MAX_CHANGE_ENTRIES. */
  maxEntries?: number | undefined;
}

/** The change set of one run; entries sorted by action, then id, so an equal run gives an equal status. */
export function buildChangeSet(revision: string, changes: readonly Change[], options: ChangeSetOptions = {}): SyncChangeSet {
  const entries: SyncChangeEntry[] = [];
  let unchanged = 0;
  for (const change of changes) {
    if (change.action === 'unchanged') unchanged++;
    else entries.push({ ...entryFor(change.ref), action: change.action });
  }
  entries.sort((a, b) => actionOrder.indexOf(a.action) - actionOrder.indexOf(b.action) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const max = options.maxEntries ?? MAX_CHANGE_ENTRIES;
  const set: SyncChangeSet = { revision, entries: entries.slice(0, max), unchanged };
  if (options.reconcileRequest !== undefined) set.reconcileRequest = options.reconcileRequest;
  // Drift is what the changes corrected; a run that changed nothing corrected none.
  if (options.drift && entries.length > 0) set.drift = true;
  if (entries.length > max) set.truncated = true;
  return set;
}

/**
 * Whether a run's change set replaces the one in status. An unrequested run
 * that changed nothing at the revision already recorded keeps the old one, so
 * an unchanged re-sync writes no status; a handled request is always recorded.
 */
export function shouldRecord(previous: SyncChangeSet | undefined, next: SyncChangeSet): boolean {
  return next.entries.length > 0 || next.reconcileRequest !== undefined || previous?.revision !== next.revision;
}

/** "Deployment/shop/web configured", as in the Sync's Events. */
export function describeChange(entry: SyncChangeEntry): string {
  const identity = parseId(entry.id);
  if (!identity) return `${entry.id} ${entry.action}`;
  return `${identity.kind}/${identity.namespace ? `${identity.namespace}/` : ''}${identity.name} ${entry.action}`;
}

/** The counts of a change set as the Ready message words them (exact unless truncated). */
export function summarizeChangeSet(set: SyncChangeSet): string {
  const count = (action: SyncChangeAction) => set.entries.filter((e) => e.action === action).length;
  const parts = [`${count('created')} created`, `${count('configured')} configured`];
  if (count('recreated') > 0) parts.push(`${count('recreated')} recreated`);
  parts.push(`${set.unchanged} unchanged`, `${count('pruned')} pruned`);
  return parts.join(', ');
}

/** Same revision, drift flag and entries (the request id and counts aside). */
export function sameChanges(a: SyncChangeSet | undefined, b: SyncChangeSet | undefined): boolean {
  if (!a || !b) return a === b;
  return a.revision === b.revision && (a.drift ?? false) === (b.drift ?? false) && a.unchanged === b.unchanged
    && JSON.stringify(a.entries) === JSON.stringify(b.entries);
}
