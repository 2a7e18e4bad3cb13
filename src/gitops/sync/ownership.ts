// Labels and annotations through which a Sync marks what it owns, and the
// seam for fields that other controllers own.
//
// Fields another controller legitimately owns must not be fought over (the
// Flux/Flagger replica fight). Two ways to hand a field to someone else:
//  - the annotation `sluice.dev/ignore-fields` (comma-separated dotted paths,
//    e.g. "spec.replicas"), set in Git or on the live object. The Canary
//    controller sets it on the Deployments it manages, after taking ownership
//    of those fields with its own field manager.
//  - automatically, spec.replicas of a Deployment/StatefulSet/ReplicaSet that
//    a HorizontalPodAutoscaler in the same revision scales.
// Ignored fields are removed from what sluice applies and compares, so sluice
// neither reverts them as drift nor claims them with server-side apply.
import type { KubeObject } from '../../kube/types.ts';
import { objectId } from './inventory.ts';

export const OWNER_NAME_LABEL = 'sluice.dev/name';
export const OWNER_NAMESPACE_LABEL = 'sluice.dev/namespace';
/** `sluice.dev/prune: disabled` keeps an object when it leaves Git. */
export const PRUNE_ANNOTATION = 'sluice.dev/prune';
export const PRUNE_DISABLED = 'disabled';
export const IGNORE_FIELDS_ANNOTATION = 'sluice.dev/ignore-fields';

export interface SyncOwner {
  name: string;
  namespace: string;
}

export function ownerLabels(owner: SyncOwner): Record<string, string> {
  return { [OWNER_NAME_LABEL]: owner.name, [OWNER_NAMESPACE_LABEL]: owner.namespace };
}

export function ownerSelector(owner: SyncOwner): string {
  return `${OWNER_NAME_LABEL}=${owner.name},${OWNER_NAMESPACE_LABEL}=${owner.namespace}`;
}

export function isOwnedBy(object: KubeObject, owner: SyncOwner): boolean {
  const labels = object.metadata.labels ?? {};
  return labels[OWNER_NAME_LABEL] === owner.name && labels[OWNER_NAMESPACE_LABEL] === owner.namespace;
}

export function isPruneDisabled(object: KubeObject): boolean {
  return object.metadata.annotations?.[PRUNE_ANNOTATION] === PRUNE_DISABLED;
}

/** "spec.replicas, spec.template.metadata.annotations" → [["spec","replicas"], [...]]. */
export function parseFieldPaths(value: string | undefined): string[][] {
  if (!value) return [];
  return value.split(',').map((p) => p.trim()).filter(Boolean).map((p) => p.split('.').filter(Boolean)).filter((p) => p.length > 0);
}

/** Paths the annotation on the desired or the live object hands to other controllers. */
export function annotatedIgnorePaths(desired: KubeObject, live: KubeObject | undefined): string[][] {
  return [
    ...parseFieldPaths(desired.metadata.annotations?.[IGNORE_FIELDS_ANNOTATION]),
    ...parseFieldPaths(live?.metadata.annotations?.[IGNORE_FIELDS_ANNOTATION]),
  ];
}

/** Removes the field at path (in place); metadata.name and friends are never removed. */
export function removeField(object: Record<string, unknown>, path: readonly string[]): void {
  if (path[0] === 'metadata' && ['name', 'namespace', 'labels'].includes(path[1] ?? '') && path.length <= 2) return;
  if (path[0] === 'apiVersion' || path[0] === 'kind') return;
  let current: unknown = object;
  for (let i = 0; i < path.length - 1; i++) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return;
    current = (current as Record<string, unknown>)[path[i] ?? ''];
  }
  if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
    delete (current as Record<string, unknown>)[path[path.length - 1] ?? ''];
  }
}

const scalableKinds = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

/** Ids of the objects whose spec.replicas an HPA among `objects` controls. */
export function autoscaledIds(objects: readonly KubeObject[]): Set<string> {
  const ids = new Set<string>();
  for (const object of objects) {
    if (object.kind !== 'HorizontalPodAutoscaler') continue;
    const target = (object.spec as { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string } } | undefined)?.scaleTargetRef;
    if (!target?.kind || !target.name || !scalableKinds.has(target.kind)) continue;
    ids.add(objectId({ apiVersion: target.apiVersion ?? 'apps/v1', kind: target.kind, name: target.name, namespace: object.metadata.namespace }));
  }
  return ids;
}
