// From parsed manifests to the objects a Sync will apply: kinds resolved
// through discovery (or through a CRD in the same revision), namespaces set,
// owner labels added, duplicates found. No API writes happen here.
import { splitApiVersion } from '../../kube/client.ts';
import type { KubeObject, ObjectRef } from '../../kube/types.ts';
import { objectId } from './inventory.ts';
import { ownerLabels, type SyncOwner } from './ownership.ts';
import { describeSource, type Manifest, type ManifestProblem, type ManifestSource } from './parse.ts';
import { stageOf, type Stage } from './stages.ts';

export interface DesiredObject {
  id: string;
  ref: ObjectRef;
  /** What sluice applies: the manifest with namespace and owner labels set. */
  object: KubeObject;
  source: ManifestSource;
  namespaced: boolean;
  stage: Stage;
  /** Set when the kind is defined by a CustomResourceDefinition in the same revision. */
  definedInRevision: boolean;
}

/** Whether a kind is namespaced; undefined when the API server does not serve it. */
export type KindResolver = (apiVersion: string, kind: string) => Promise<{ namespaced: boolean } | undefined>;

export interface PlanOptions {
  owner: SyncOwner;
  /** spec.targetNamespace: overrides the namespace of every namespaced object. */
  targetNamespace?: string | undefined;
  /** Namespace for namespaced objects that name none: the Sync's own. */
  defaultNamespace: string;
  resolveKind: KindResolver;
}

export interface Plan {
  objects: DesiredObject[];
  problems: ManifestProblem[];
}

interface CrdKinds {
  /** `${group}/${kind}` → scope and served versions. */
  byGroupKind: Map<string, { namespaced: boolean; versions: Set<string> }>;
}

function crdKinds(manifests: readonly Manifest[]): CrdKinds {
  const byGroupKind = new Map<string, { namespaced: boolean; versions: Set<string> }>();
  for (const { object } of manifests) {
    if (object.kind !== 'CustomResourceDefinition' || !object.apiVersion.startsWith('apiextensions.k8s.io/')) continue;
    const spec = object.spec as { group?: string; scope?: string; names?: { kind?: string }; versions?: { name?: string }[] } | undefined;
    if (!spec?.group || !spec.names?.kind) continue;
    byGroupKind.set(`${spec.group}/${spec.names.kind}`, {
      namespaced: spec.scope !== 'Cluster',
      versions: new Set((spec.versions ?? []).map((v) => v.name).filter((v): v is string => typeof v === 'string')),
    });
  }
  return { byGroupKind };
}

export function describeObject(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/**
 * Resolves and prepares every manifest. Problems (unknown kinds, duplicates)
 * are collected for all objects; the plan is only usable when there are none.
 */
export async function planObjects(manifests: readonly Manifest[], options: PlanOptions): Promise<Plan> {
  const crds = crdKinds(manifests);
  const resolved = new Map<string, Promise<{ namespaced: boolean; definedInRevision: boolean } | undefined>>();
  const resolve = (apiVersion: string, kind: string) => {
    const key = `${apiVersion}/${kind}`;
    let pending = resolved.get(key);
    if (!pending) {
      pending = (async () => {
        const { group, version } = splitApiVersion(apiVersion);
        const fromRevision = crds.byGroupKind.get(`${group}/${kind}`);
        // A CRD in the revision describes the kind as it will be, even if an older version is served now.
        if (fromRevision?.versions.has(version)) return { namespaced: fromRevision.namespaced, definedInRevision: true };
        const served = await options.resolveKind(apiVersion, kind);
        return served ? { namespaced: served.namespaced, definedInRevision: false } : undefined;
      })();
      resolved.set(key, pending);
    }
    return pending;
  };

  const objects: DesiredObject[] = [];
  const problems: ManifestProblem[] = [];
  const seen = new Map<string, ManifestSource>();
  for (const manifest of manifests) {
    const { source } = manifest;
    const input = manifest.object;
    const kind = await resolve(input.apiVersion, input.kind);
    const nameForProblem = `${input.kind} ${input.metadata.name}`;
    if (!kind) {
      problems.push({
        file: source.kustomization ?? source.file, line: source.line, object: nameForProblem,
        message: `the cluster does not serve kind ${input.kind} in ${input.apiVersion}; install its CustomResourceDefinition (it may be in this revision) or fix apiVersion/kind`,
      });
      continue;
    }
    const object = structuredClone(input);
    const metadata = object.metadata;
    if (kind.namespaced) metadata.namespace = options.targetNamespace ?? metadata.namespace ?? options.defaultNamespace;
    else delete metadata.namespace;
    metadata.labels = { ...metadata.labels, ...ownerLabels(options.owner) };
    const ref: ObjectRef = { apiVersion: object.apiVersion, kind: object.kind, name: metadata.name, namespace: metadata.namespace };
    const id = objectId(ref);
    const earlier = seen.get(id);
    if (earlier) {
      problems.push({
        file: source.kustomization ?? source.file, line: source.line, object: describeObject(ref),
        message: `duplicate object: also defined at ${describeSource(earlier)}`,
      });
      continue;
    }
    seen.set(id, source);
    objects.push({ id, ref, object, source, namespaced: kind.namespaced, stage: stageOf(object, kind.namespaced), definedInRevision: kind.definedInRevision });
  }
  return { objects, problems };
}
