// `sluice get canaries|syncs|sources|alerts`: tables with readiness, phase,
// weight, revision, age and the last message; json/yaml; --watch.
import { API_GROUP_VERSION, type Canary, type GitRepository, type Sync, type Alert } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import type { KubeObject } from '../kube/types.ts';
import { conditionOf, quietLogger, retryRead, withSession, write, type GlobalOptions } from './common.ts';
import { formatAge, formatRow, formatTable, oneLine, parseOutputFormat, toJson, toYaml } from './output.ts';

interface Columns {
  header: string[];
  row(object: KubeObject, now: number): string[];
}

interface Resource {
  kind: string;
  columns: Columns;
}

function ready(object: KubeObject): string {
  return conditionOf(object, 'Ready')?.status ?? 'Unknown';
}

function message(object: KubeObject): string {
  return oneLine(conditionOf(object, 'Ready')?.message);
}

function suspended(object: KubeObject): string {
  return (object.spec as { suspend?: boolean } | undefined)?.suspend ? 'True' : 'False';
}

const sourceColumns: Columns = {
  header: ['NAME', 'READY', 'REVISION', 'SUSPENDED', 'AGE', 'MESSAGE'],
  row: (o, now) => {
    const repo = o as GitRepository;
    return [repo.metadata.name, ready(o), repo.status?.artifact?.revision ?? '', suspended(o), formatAge(repo.metadata.creationTimestamp, now), message(o)];
  },
};

const syncColumns: Columns = {
  header: ['NAME', 'READY', 'REVISION', 'SUSPENDED', 'AGE', 'MESSAGE'],
  row: (o, now) => {
    const sync = o as Sync;
    return [sync.metadata.name, ready(o), sync.status?.lastAppliedRevision ?? '', suspended(o), formatAge(sync.metadata.creationTimestamp, now), message(o)];
  },
};

const canaryColumns: Columns = {
  header: ['NAME', 'PHASE', 'WEIGHT', 'FAILED', 'READY', 'AGE', 'MESSAGE'],
  row: (o, now) => {
    const canary = o as Canary;
    const threshold = canary.spec.analysis.threshold ?? 5;
    const maxWeight = canary.spec.analysis.maxWeight;
    const weight = canary.status?.canaryWeight ?? 0;
    return [
      canary.metadata.name, canary.status?.phase ?? 'Unknown', maxWeight ? `${weight}/${maxWeight}` : String(weight),
      `${canary.status?.failedChecks ?? 0}/${threshold}`, ready(o), formatAge(canary.metadata.creationTimestamp, now), message(o),
    ];
  },
};

const alertColumns: Columns = {
  header: ['NAME', 'READY', 'PROVIDER', 'SUSPENDED', 'AGE', 'MESSAGE'],
  row: (o, now) => {
    const alert = o as Alert;
    return [alert.metadata.name, ready(o), alert.spec.providerRef.name, suspended(o), formatAge(alert.metadata.creationTimestamp, now), message(o)];
  },
};

const resources: Record<string, Resource> = {};
for (const [names, resource] of [
  [['canaries', 'canary', 'canaries.sluice.dev'], { kind: 'Canary', columns: canaryColumns }],
  [['syncs', 'sync', 'syncs.sluice.dev'], { kind: 'Sync', columns: syncColumns }],
  [['sources', 'source', 'gitrepositories', 'gitrepository', 'gitrepo', 'gitrepositories.sluice.dev'], { kind: 'GitRepository', columns: sourceColumns }],
  [['alerts', 'alert', 'alerts.sluice.dev'], { kind: 'Alert', columns: alertColumns }],
] as const) {
  for (const name of names) resources[name] = resource;
}

const GET_RESOURCES = 'canaries|syncs|sources|alerts';

export function resourceNamed(name: string): Resource {
  const resource = resources[name.toLowerCase()];
  if (!resource) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `unknown resource "${name}"`, { hint: `use one of ${GET_RESOURCES}` });
  }
  return resource;
}

export interface GetOptions extends GlobalOptions {
  allNamespaces?: boolean;
  output: string;
  watch?: boolean;
}

function rowsOf(resource: Resource, objects: readonly KubeObject[], allNamespaces: boolean, now: number): { header: string[]; rows: string[][] } {
  const header = allNamespaces ? ['NAMESPACE', ...resource.columns.header] : resource.columns.header;
  const sorted = [...objects].sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
  const rows = sorted.map((o) => (allNamespaces ? [o.metadata.namespace ?? '', ...resource.columns.row(o, now)] : resource.columns.row(o, now)));
  return { header, rows };
}

export async function runGet(what: string, name: string | undefined, options: GetOptions): Promise<void> {
  const resource = resourceNamed(what);
  const format = parseOutputFormat(options.output);
  const allNamespaces = options.allNamespaces === true;
  await withSession(options, async ({ client, namespace }) => {
    const ns = allNamespaces ? undefined : namespace;
    let objects: KubeObject[];
    if (name !== undefined) {
      if (allNamespaces) throw new SluiceError(ErrorCodes.ConfigInvalid, 'a name cannot be combined with --all-namespaces', { hint: 'pass -n NAMESPACE instead' });
      objects = [await retryRead(() => client.get({ apiVersion: API_GROUP_VERSION, kind: resource.kind, namespace, name }))];
    } else {
      objects = (await retryRead(() => client.list(API_GROUP_VERSION, resource.kind, { namespace: ns }))).items;
    }
    if (!options.watch) {
      printObjects(resource, objects, { format, allNamespaces, single: name !== undefined, namespace });
      return;
    }
    await watchObjects(resource, { client, namespace: ns, name, format, allNamespaces });
  });
}

function printObjects(resource: Resource, objects: KubeObject[], options: { format: string; allNamespaces: boolean; single: boolean; namespace: string }): void {
  if (options.format === 'json' || options.format === 'yaml') {
    const value = options.single ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
    write(options.format === 'json' ? toJson(value) : toYaml(value));
    return;
  }
  if (objects.length === 0) {
    write(options.allNamespaces ? `No ${resource.kind} objects found.` : `No ${resource.kind} objects found in namespace ${options.namespace}.`);
    return;
  }
  const { header, rows } = rowsOf(resource, objects, options.allNamespaces, Date.now());
  write(formatTable(header, rows));
}

async function watchObjects(resource: Resource, options: {
  client: KubeClient; namespace: string | undefined; name: string | undefined; format: string; allNamespaces: boolean;
}): Promise<void> {
  const informer = new Informer(options.client, { apiVersion: API_GROUP_VERSION, kind: resource.kind, namespace: options.namespace, logger: quietLogger() });
  const header = options.allNamespaces ? ['NAMESPACE', ...resource.columns.header] : resource.columns.header;
  // Widths fixed once so streamed rows line up: names and revisions are the wide columns.
  const widths = header.map((h) => Math.max(h.length, h === 'NAME' || h === 'NAMESPACE' ? 24 : h === 'REVISION' ? 52 : 9));
  let printedHeader = false;
  const print = (object: KubeObject, deleted: boolean): void => {
    if (options.name !== undefined && object.metadata.name !== options.name) return;
    if (options.format === 'json') return write(JSON.stringify(deleted ? { type: 'DELETED', object } : object));
    if (options.format === 'yaml') return write(`---\n${toYaml(object)}`);
    if (!printedHeader) {
      write(formatRow(widths, header));
      printedHeader = true;
    }
    const cells = rowsOf(resource, [object], options.allNamespaces, Date.now()).rows[0] ?? [];
    if (deleted) cells[cells.length - 1] = '(deleted)';
    write(formatRow(widths, cells));
  };
  informer.on((event) => print(event.object, event.type === 'deleted'));
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  informer.start();
  await stop;
  await informer.stop();
}
