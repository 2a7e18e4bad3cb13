// `sluice trace KIND/NAME`: which Sync applied an object, from which
// GitRepository, revision and commit, and whether a Canary controls it.
import { API_GROUP_VERSION, type GitRepository, type Sync } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { objectId } from '../gitops/sync/inventory.ts';
import type { ObjectRef } from '../kube/types.ts';
import { conditionOf, withSession, write, type GlobalOptions } from './common.ts';
import { canariesFor } from './events.ts';
import { parseKindName, resolveKind } from './kinds.ts';
import { toJson } from './output.ts';

/** "main@sha1:abc…" → "abc…". */
export function commitOf(revision: string | undefined): string | undefined {
  const match = /(?:^|@)sha1:([0-9a-f]{7,40})$/.exec(revision ?? '');
  return match?.[1];
}

function describeReady(object: { status?: unknown; metadata: { name: string } } & Record<string, unknown>): string {
  const ready = conditionOf(object as never, 'Ready');
  return ready ? `${ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'Not ready' : 'Unknown'}: ${ready.message}` : 'no Ready condition yet';
}

export interface Trace {
  object: string;
  sync?: { namespace: string; name: string; path: string; lastAppliedRevision?: string | undefined; inInventory: boolean; status: string; suspended: boolean };
  source?: { namespace: string; name: string; url?: string | undefined; ref?: unknown; revision?: string | undefined; status: string };
  revision?: string | undefined;
  commit?: string | undefined;
  canaries: { namespace: string; name: string; phase?: string | undefined; canaryWeight?: number | undefined }[];
}

export async function runTrace(target: string, options: GlobalOptions & { output?: string }): Promise<void> {
  await withSession(options, async ({ client, namespace }) => {
    const { kind, name } = parseKindName(target);
    const resolved = await resolveKind(client, kind);
    const info = await client.resourceFor(resolved.apiVersion, resolved.kind);
    const ref: ObjectRef = { ...resolved, name, namespace: info.namespaced ? namespace : undefined };
    const object = await client.get(ref);
    const labels = object.metadata.labels ?? {};
    const syncName = labels['sluice.dev/name'];
    const syncNamespace = labels['sluice.dev/namespace'];
    const trace: Trace = { object: `${resolved.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${name}`, canaries: [] };
    if (syncName && syncNamespace) {
      const sync = await client.find<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace: syncNamespace, name: syncName });
      if (!sync) {
        throw new SluiceError(ErrorCodes.KubeNotFound, `${trace.object} is labelled as applied by Sync ${syncNamespace}/${syncName}, which no longer exists`, {
          hint: 'the object is orphaned; delete it or recreate the Sync',
        });
      }
      const id = objectId({ ...ref, apiVersion: object.apiVersion });
      trace.sync = {
        namespace: syncNamespace, name: syncName, path: sync.spec.path ?? './', lastAppliedRevision: sync.status?.lastAppliedRevision,
        inInventory: (sync.status?.inventory?.entries ?? []).some((e) => e.id === id), status: describeReady(sync), suspended: sync.spec.suspend === true,
      };
      trace.revision = sync.status?.lastAppliedRevision;
      trace.commit = commitOf(trace.revision);
      const sourceNamespace = sync.spec.sourceRef.namespace ?? syncNamespace;
      const source = await client.find<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace: sourceNamespace, name: sync.spec.sourceRef.name });
      trace.source = source
        ? { namespace: sourceNamespace, name: source.metadata.name, url: source.spec.url, ref: source.spec.ref, revision: source.status?.artifact?.revision, status: describeReady(source) }
        : { namespace: sourceNamespace, name: sync.spec.sourceRef.name, status: 'not found' };
    }
    if (resolved.kind === 'Deployment' && ref.namespace) {
      for (const c of await canariesFor(client, ref.namespace, name)) {
        trace.canaries.push({ namespace: ref.namespace, name: c.metadata.name, phase: c.status?.phase, canaryWeight: c.status?.canaryWeight });
      }
    }
    if (options.output === 'json') {
      write(toJson(trace));
      return;
    }
    printTrace(trace);
  });
}

function printTrace(trace: Trace): void {
  const lines: [string, string][] = [['Object', trace.object]];
  if (!trace.sync) {
    lines.push(['Managed by', 'not applied by any sluice Sync (no sluice.dev/name label)']);
  } else {
    const s = trace.sync;
    lines.push(['', ''], ['Sync', `${s.namespace}/${s.name}`], ['Path', s.path], ['Revision', s.lastAppliedRevision ?? '(none applied yet)'],
      ['In inventory', s.inInventory ? 'yes' : 'no (applied by an earlier revision, or inventory not written yet)'], ['Status', s.status]);
    if (s.suspended) lines.push(['Suspended', 'yes']);
    if (trace.source) {
      const src = trace.source;
      lines.push(['', ''], ['GitRepository', `${src.namespace}/${src.name}`]);
      if (src.url) lines.push(['URL', src.url]);
      if (src.ref) lines.push(['Ref', Object.entries(src.ref as Record<string, string>).map(([k, v]) => `${k} ${v}`).join(', ')]);
      lines.push(['Artifact', src.revision ?? '(none)'], ['Status', src.status]);
    }
    lines.push(['', ''], ['Commit', trace.commit ?? '(unknown)']);
    if (trace.source?.revision && trace.revision && trace.source.revision !== trace.revision) {
      lines.push(['Note', `the source is at ${trace.source.revision} but the Sync last applied ${trace.revision}`]);
    }
  }
  lines.push(['', '']);
  if (trace.canaries.length === 0) lines.push(['Canary', 'none']);
  for (const c of trace.canaries) lines.push(['Canary', `${c.namespace}/${c.name} (phase ${c.phase ?? 'unknown'}, canary weight ${c.canaryWeight ?? 0})`]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  write(lines.map(([k, v]) => (k === '' ? '' : `${`${k}:`.padEnd(width)}${v}`)).join('\n'));
}
