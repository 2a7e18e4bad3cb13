// `sluice events [KIND/NAME]`: the Events of an object and of what it depends
// on (its Sync and GitRepository, a Canary's Deployments), merged in time order.
import { API_GROUP_VERSION, type Canary, type Sync } from '../api/types.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject, ObjectRef } from '../kube/types.ts';
import { retryRead, withSession, write, type GlobalOptions } from './common.ts';
import { parseKindName, resolveKind } from './kinds.ts';
import { formatAge, formatTable, parseOutputFormat, toJson, toYaml } from './output.ts';

export interface EventLine {
  /** namespace/name of the Event object. */
  id: string;
  /** How often it happened (a series counts repeats). */
  count: number;
  time: number;
  type: string;
  reason: string;
  object: string;
  note: string;
  namespace: string;
}

interface EventObject extends KubeObject {
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string };
  deprecatedLastTimestamp?: string;
  deprecatedFirstTimestamp?: string;
  regarding?: { kind?: string; name?: string; namespace?: string };
  reason?: string;
  note?: string;
  type?: string;
}

function eventTime(e: EventObject): number {
  const candidates = [e.series?.lastObservedTime, e.eventTime ?? undefined, e.deprecatedLastTimestamp, e.deprecatedFirstTimestamp, e.metadata.creationTimestamp];
  const times = candidates.filter((t): t is string => typeof t === 'string').map((t) => Date.parse(t)).filter((t) => !Number.isNaN(t));
  return times.length > 0 ? Math.max(...times) : 0;
}

function toLine(e: EventObject): EventLine {
  return {
    id: `${e.metadata.namespace ?? ''}/${e.metadata.name}`, count: e.series?.count ?? 1,
    time: eventTime(e), type: e.type ?? '', reason: e.reason ?? '', note: e.note ?? '',
    object: `${e.regarding?.kind ?? '?'}/${e.regarding?.name ?? '?'}`, namespace: e.metadata.namespace ?? '',
  };
}

/** Events regarding any of refs, oldest first. */
export async function listEventsFor(client: KubeClient, refs: readonly ObjectRef[]): Promise<EventLine[]> {
  const namespaces = [...new Set(refs.map((r) => r.namespace ?? 'default'))];
  const lines: EventLine[] = [];
  for (const namespace of namespaces) {
    const list = await retryRead(() => client.list<EventObject>('events.k8s.io/v1', 'Event', { namespace }));
    for (const e of list.items) {
      const r = e.regarding;
      if (refs.some((ref) => ref.kind === r?.kind && ref.name === r.name && (ref.namespace ?? 'default') === (r.namespace ?? namespace))) lines.push(toLine(e));
    }
  }
  return lines.sort((a, b) => a.time - b.time);
}

/** The object itself plus what it depends on or is managed by. */
export async function relatedRefs(client: KubeClient, ref: ObjectRef): Promise<ObjectRef[]> {
  const refs: ObjectRef[] = [ref];
  const add = (r: ObjectRef): void => {
    if (!refs.some((x) => x.kind === r.kind && x.name === r.name && x.namespace === r.namespace)) refs.push(r);
  };
  const object = await client.find(ref);
  if (!object) return refs;
  const namespace = ref.namespace ?? 'default';
  const addSyncAndSource = (sync: Sync): void => {
    const ns = sync.metadata.namespace ?? namespace;
    add({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: ns, name: sync.metadata.name });
    add({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace: sync.spec.sourceRef.namespace ?? ns, name: sync.spec.sourceRef.name });
  };
  if (ref.kind === 'Sync' && ref.apiVersion === API_GROUP_VERSION) {
    addSyncAndSource(object as Sync);
    for (const dep of (object as Sync).spec.dependsOn ?? []) add({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: dep.namespace ?? namespace, name: dep.name });
  }
  if (ref.kind === 'Canary' && ref.apiVersion === API_GROUP_VERSION) {
    const target = (object as Canary).spec.targetRef.name;
    add({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: target });
    add({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: `${target}-primary` });
  }
  const labels = object.metadata.labels ?? {};
  const syncName = labels['sluice.dev/name'];
  const syncNamespace = labels['sluice.dev/namespace'];
  if (syncName && syncNamespace) {
    const sync = await client.find<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: syncNamespace, name: syncName });
    if (sync) addSyncAndSource(sync);
  }
  if (ref.kind === 'Deployment') {
    for (const canary of await canariesFor(client, namespace, ref.name)) add({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: canary.metadata.name });
  }
  return refs;
}

/** Canaries whose target (or its generated primary) is this Deployment. */
export async function canariesFor(client: KubeClient, namespace: string, deployment: string): Promise<Canary[]> {
  try {
    const list = await client.list<Canary>(API_GROUP_VERSION, 'Canary', { namespace });
    return list.items.filter((c) => c.spec.targetRef.name === deployment || `${c.spec.targetRef.name}-primary` === deployment);
  } catch {
    // A cluster without the Canary CRD has no canaries.
    return [];
  }
}

export async function runEvents(target: string | undefined, options: GlobalOptions & { allNamespaces?: boolean; output: string }): Promise<void> {
  const format = parseOutputFormat(options.output);
  await withSession(options, async ({ client, namespace }) => {
    let lines: EventLine[];
    if (target === undefined) {
      const list = await client.list<EventObject>('events.k8s.io/v1', 'Event', { namespace: options.allNamespaces ? undefined : namespace });
      lines = list.items.map(toLine).sort((a, b) => a.time - b.time);
    } else {
      const { kind, name } = parseKindName(target);
      const resolved = await resolveKind(client, kind);
      const ref: ObjectRef = { ...resolved, namespace, name };
      await client.get(ref);
      lines = await listEventsFor(client, await relatedRefs(client, ref));
    }
    if (format !== 'table') {
      const items = lines.map((l) => ({ ...l, time: new Date(l.time).toISOString() }));
      write(format === 'json' ? toJson(items) : toYaml(items));
      return;
    }
    if (lines.length === 0) {
      write('No events found.');
      return;
    }
    const now = Date.now();
    const header = options.allNamespaces && target === undefined ? ['NAMESPACE', 'LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'] : ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'];
    const rows = lines.map((l) => {
      const cells = [formatAge(new Date(l.time).toISOString(), now), l.type, l.reason, l.object, l.note.replace(/\n/g, '; ')];
      return options.allNamespaces && target === undefined ? [l.namespace, ...cells] : cells;
    });
    write(formatTable(header, rows));
  });
}
