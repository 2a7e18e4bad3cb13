// The order objects are applied in: CustomResourceDefinitions and Namespaces
// first (everything else may need them), then cluster-scoped kinds, then
// namespaced ones, each in a stable kind order (Helm's install order, with
// webhooks last so a webhook never blocks the objects that serve it). Objects
// in one group are applied concurrently; groups one after another.
export type Stage = 'definitions' | 'cluster' | 'namespaced';

const kindOrder = [
  'Namespace', 'NetworkPolicy', 'ResourceQuota', 'LimitRange', 'PodSecurityPolicy', 'PodDisruptionBudget',
  'ServiceAccount', 'Secret', 'ConfigMap', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim',
  'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Service',
  'DaemonSet', 'Pod', 'ReplicationController', 'ReplicaSet', 'Deployment', 'HorizontalPodAutoscaler',
  'StatefulSet', 'Job', 'CronJob', 'IngressClass', 'Ingress', 'APIService',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration',
];
const rank = new Map(kindOrder.map((kind, index) => [kind, index]));

export function isDefinition(object: { apiVersion: string; kind: string }): boolean {
  return (object.kind === 'CustomResourceDefinition' && object.apiVersion.startsWith('apiextensions.k8s.io/'))
    || (object.kind === 'Namespace' && object.apiVersion === 'v1');
}

export function stageOf(object: { apiVersion: string; kind: string }, namespaced: boolean): Stage {
  if (isDefinition(object)) return 'definitions';
  return namespaced ? 'namespaced' : 'cluster';
}

const stageRank: Record<Stage, number> = { definitions: 0, cluster: 1, namespaced: 2 };

export interface Stageable {
  stage: Stage;
  ref: { kind: string; name: string; namespace?: string | undefined };
}

function compareKinds(a: string, b: string): number {
  // Kinds sluice does not know (custom resources) go after all known ones, by name.
  const ra = rank.get(a) ?? kindOrder.length;
  const rb = rank.get(b) ?? kindOrder.length;
  return ra !== rb ? ra - rb : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Groups to apply one after another. The definitions stage is one group;
 * the other stages have one group per kind.
 */
export function applyGroups<T>(items: readonly T[], stageable: (item: T) => Stageable): T[][] {
  const sorted = items.map((item) => ({ item, key: stageable(item) })).sort(({ key: a }, { key: b }) =>
    stageRank[a.stage] - stageRank[b.stage]
    || (a.stage === 'definitions' ? 0 : compareKinds(a.ref.kind, b.ref.kind))
    || (a.ref.namespace ?? '').localeCompare(b.ref.namespace ?? '')
    || a.ref.name.localeCompare(b.ref.name));
  const groups: T[][] = [];
  let previous: Stageable | undefined;
  for (const { item, key } of sorted) {
    const sameGroup = previous !== undefined && previous.stage === key.stage
      && (key.stage === 'definitions' || previous.ref.kind === key.ref.kind);
    if (sameGroup) groups[groups.length - 1]?.push(item);
    else groups.push([item]);
    previous = key;
  }
  return groups;
}

/** Deletion order for pruning: the reverse, so Namespaces and CRDs go last. */
export function pruneOrder<T>(items: readonly T[], stageable: (item: T) => Stageable): T[][] {
  return applyGroups(items, stageable).reverse();
}
