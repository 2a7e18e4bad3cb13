// Gateway API: an HTTPRoute named after the apex Service, attached to
// service.gatewayRefs, with weighted backendRefs to the primary and canary
// Services; header matches for A/B testing; a RequestMirror filter for
// Blue/Green mirroring.
import type { Canary, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, primaryName, serviceName } from '../workloads.ts';
import { headerMatches, ownedMeta, type ObservedRoutes, type Router } from './router.ts';

const API_VERSION = 'gateway.networking.k8s.io/v1';

interface BackendRef { name: string; port: number; weight: number }
interface HTTPRouteRule {
  matches?: Record<string, unknown>[];
  backendRefs: BackendRef[];
  filters?: Record<string, unknown>[];
  timeouts?: { request: string };
}

function backends(canary: Canary, canaryWeight: number): BackendRef[] {
  const apex = serviceName(canary);
  const port = canary.spec.service.port;
  return [
    { name: primaryName(apex), port, weight: 100 - canaryWeight },
    { name: canaryServiceName(apex), port, weight: canaryWeight },
  ];
}

export const gatewayApiRouter: Router = {
  provider: 'gatewayapi',
  apexSelects: () => 'primary',
  sources: () => [],
  build(canary: Canary, routes: Routes): KubeObject[] {
    const svc = canary.spec.service;
    const apex = serviceName(canary);
    const common: Partial<HTTPRouteRule> = {
      ...(svc.match && svc.match.length > 0 ? { matches: svc.match } : {}),
      ...(svc.timeout ? { timeouts: { request: svc.timeout } } : {}),
    };
    const main: HTTPRouteRule = { ...common, backendRefs: backends(canary, routes.match ? 0 : routes.canaryWeight) };
    if (routes.mirror) {
      const mirrorWeight = canary.spec.analysis.mirrorWeight;
      main.filters = [{
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { name: canaryServiceName(apex), port: svc.port },
          ...(mirrorWeight !== undefined ? { percent: mirrorWeight } : {}),
        },
      }];
    }
    const rules: HTTPRouteRule[] = [];
    if (routes.match) {
      // One rule per analysis.match entry; its headers are ANDed, the entries ORed.
      const matches = headerMatches(canary.spec.analysis.match).map((headers) => ({
        headers: headers.map((h) => ({ name: h.name, type: h.type === 'Prefix' ? 'RegularExpression' : h.type, value: h.type === 'Prefix' ? `^${h.value}.*` : h.value })),
      }));
      rules.push({ ...common, matches, backendRefs: backends(canary, 100) });
    }
    rules.push(main);
    return [{
      apiVersion: API_VERSION,
      kind: 'HTTPRoute',
      metadata: ownedMeta(canary, apex),
      spec: {
        parentRefs: (svc.gatewayRefs ?? []).map((ref) => ({
          name: ref.name,
          ...(ref.namespace ? { namespace: ref.namespace } : {}),
          ...(ref.group ? { group: ref.group } : {}),
          ...(ref.kind ? { kind: ref.kind } : {}),
          ...(ref.sectionName ? { sectionName: ref.sectionName } : {}),
          ...(ref.port ? { port: ref.port } : {}),
        })),
        ...(svc.hosts && svc.hosts.length > 0 ? { hostnames: svc.hosts } : {}),
        rules,
      },
    }];
  },
  routedObjects: (canary) => [{ apiVersion: API_VERSION, kind: 'HTTPRoute', namespace: canary.metadata.namespace, name: serviceName(canary) }],
  readRoutes(canary, objects): ObservedRoutes | undefined {
    const route = objects[0] as { spec?: { rules?: HTTPRouteRule[] } } | undefined;
    const rules = route?.spec?.rules;
    const main = rules?.[rules.length - 1];
    if (!rules || !main) return undefined;
    const apex = serviceName(canary);
    const weightOf = (name: string): number => main.backendRefs.find((b) => b.name === name)?.weight ?? 0;
    return {
      primaryWeight: weightOf(primaryName(apex)),
      canaryWeight: weightOf(canaryServiceName(apex)),
      mirror: (main.filters ?? []).some((f) => f.type === 'RequestMirror'),
      match: rules.length > 1,
    };
  },
};
