// KIND/NAME arguments as kubectl reads them: deployment/web, deploy/web,
// Sync/apps, gitrepositories.sluice.dev/fleet. Well-known kinds are resolved
// locally; anything else through the API server's discovery documents.
import { API_GROUP_VERSION } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';

export interface KindRef {
  apiVersion: string;
  kind: string;
}

const wellKnown: [string[], KindRef][] = [
  [['deployment', 'deployments', 'deploy', 'deployment.apps'], { apiVersion: 'apps/v1', kind: 'Deployment' }],
  [['statefulset', 'statefulsets', 'sts'], { apiVersion: 'apps/v1', kind: 'StatefulSet' }],
  [['daemonset', 'daemonsets', 'ds'], { apiVersion: 'apps/v1', kind: 'DaemonSet' }],
  [['service', 'services', 'svc'], { apiVersion: 'v1', kind: 'Service' }],
  [['configmap', 'configmaps', 'cm'], { apiVersion: 'v1', kind: 'ConfigMap' }],
  [['secret', 'secrets'], { apiVersion: 'v1', kind: 'Secret' }],
  [['serviceaccount', 'serviceaccounts', 'sa'], { apiVersion: 'v1', kind: 'ServiceAccount' }],
  [['namespace', 'namespaces', 'ns'], { apiVersion: 'v1', kind: 'Namespace' }],
  [['ingress', 'ingresses', 'ing'], { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' }],
  [['horizontalpodautoscaler', 'horizontalpodautoscalers', 'hpa'], { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' }],
  [['gitrepository', 'gitrepositories', 'gitrepo', 'source', 'sources'], { apiVersion: API_GROUP_VERSION, kind: 'GitRepository' }],
  [['sync', 'syncs'], { apiVersion: API_GROUP_VERSION, kind: 'Sync' }],
  [['receiver', 'receivers'], { apiVersion: API_GROUP_VERSION, kind: 'Receiver' }],
  [['canary', 'canaries'], { apiVersion: API_GROUP_VERSION, kind: 'Canary' }],
  [['metrictemplate', 'metrictemplates'], { apiVersion: API_GROUP_VERSION, kind: 'MetricTemplate' }],
  [['alertprovider', 'alertproviders'], { apiVersion: API_GROUP_VERSION, kind: 'AlertProvider' }],
  [['alert', 'alerts'], { apiVersion: API_GROUP_VERSION, kind: 'Alert' }],
];

export function parseKindName(value: string): { kind: string; name: string } {
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1 || value.indexOf('/', slash + 1) >= 0) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `"${value}" is not KIND/NAME`, { hint: 'write the object as KIND/NAME, e.g. deployment/web or sync/apps' });
  }
  return { kind: value.slice(0, slash), name: value.slice(slash + 1) };
}

interface GroupList {
  groups: { name: string; preferredVersion?: { groupVersion: string } }[];
}

interface ResourceList {
  groupVersion: string;
  resources: { name: string; singularName?: string; kind: string; shortNames?: string[] }[];
}

export async function resolveKind(client: KubeClient, kind: string): Promise<KindRef> {
  const wanted = kind.toLowerCase();
  for (const [names, ref] of wellKnown) {
    if (names.includes(wanted) || ref.kind.toLowerCase() === wanted) return ref;
  }
  // "plural.group" or any served kind: ask discovery.
  const dot = wanted.indexOf('.');
  const short = dot < 0 ? wanted : wanted.slice(0, dot);
  const group = dot < 0 ? undefined : wanted.slice(dot + 1);
  const groupVersions = ['v1'];
  const groups = await client.rest.request<GroupList>({ method: 'GET', path: '/apis', what: 'discover API groups' });
  for (const g of groups.groups) if (g.preferredVersion && (group === undefined || g.name === group)) groupVersions.push(g.preferredVersion.groupVersion);
  for (const gv of groupVersions) {
    if (group !== undefined && gv === 'v1') continue;
    const list = await client.rest.request<ResourceList>({ method: 'GET', path: gv === 'v1' ? '/api/v1' : `/apis/${gv}`, what: `discover ${gv}` });
    for (const r of list.resources) {
      if (r.name.includes('/')) continue;
      const names = [r.name, r.singularName ?? '', r.kind.toLowerCase(), ...(r.shortNames ?? [])];
      if (names.includes(short)) return { apiVersion: gv, kind: r.kind };
    }
  }
  throw new SluiceError(ErrorCodes.KubeUnknownKind, `the API server serves no resource type "${kind}"`, { hint: 'check the spelling; `kubectl api-resources` lists the kinds' });
}
