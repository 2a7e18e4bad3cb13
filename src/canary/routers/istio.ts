// Istio: a VirtualService named after the apex Service with weighted routes to
// the -primary and -canary hosts, DestinationRules for both, match rules for
// A/B testing, and mirror/mirrorPercentage for Blue/Green mirroring.
import type { Canary, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, primaryName, serviceName } from '../workloads.ts';
import { ownedMeta, type ObservedRoutes, type Router } from './router.ts';

const API_VERSION = 'networking.istio.io/v1';

interface Destination { destination: { host: string; port?: { number: number } }; weight: number }
interface HTTPRoute {
  match?: Record<string, unknown>[];
  route: Destination[];
  mirror?: { host: string; port?: { number: number } };
  mirrorPercentage?: { value: number };
  timeout?: string;
  retries?: Record<string, unknown>;
  rewrite?: Record<string, unknown>;
  corsPolicy?: Record<string, unknown>;
}

function destinations(canary: Canary, canaryWeight: number): Destination[] {
  const apex = serviceName(canary);
  const port = { number: canary.spec.service.port };
  return [
    { destination: { host: primaryName(apex), port }, weight: 100 - canaryWeight },
    { destination: { host: canaryServiceName(apex), port }, weight: canaryWeight },
  ];
}

function destinationRule(canary: Canary, host: string): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: 'DestinationRule',
    metadata: ownedMeta(canary, host),
    spec: { host, ...(canary.spec.service.trafficPolicy ? { trafficPolicy: canary.spec.service.trafficPolicy } : {}) },
  };
}

export const istioRouter: Router = {
  provider: 'istio',
  apexSelects: () => 'primary',
  sources: () => [],
  build(canary: Canary, routes: Routes): KubeObject[] {
    const svc = canary.spec.service;
    const apex = serviceName(canary);
    const common: Partial<HTTPRoute> = {
      ...(svc.match && svc.match.length > 0 ? { match: svc.match } : {}),
      ...(svc.timeout ? { timeout: svc.timeout } : {}),
      ...(svc.retries ? { retries: { ...svc.retries } } : {}),
      ...(svc.rewrite ? { rewrite: { ...(svc.rewrite.uri ? { uri: svc.rewrite.uri } : {}), ...(svc.rewrite.authority ? { authority: svc.rewrite.authority } : {}) } } : {}),
      ...(svc.corsPolicy ? { corsPolicy: svc.corsPolicy } : {}),
    };
    const main: HTTPRoute = { ...common, route: destinations(canary, routes.match ? 0 : routes.canaryWeight) };
    if (routes.mirror) {
      main.mirror = { host: canaryServiceName(apex), port: { number: svc.port } };
      if (canary.spec.analysis.mirrorWeight !== undefined) main.mirrorPercentage = { value: canary.spec.analysis.mirrorWeight };
    }
    const http: HTTPRoute[] = [];
    if (routes.match && canary.spec.analysis.match) http.push({ ...common, match: canary.spec.analysis.match, route: destinations(canary, 100) });
    http.push(main);
    return [
      {
        apiVersion: API_VERSION,
        kind: 'VirtualService',
        metadata: ownedMeta(canary, apex),
        spec: { hosts: [apex, ...(svc.hosts ?? [])], ...(svc.gateways ? { gateways: svc.gateways } : {}), http },
      },
      destinationRule(canary, primaryName(apex)),
      destinationRule(canary, canaryServiceName(apex)),
    ];
  },
  routedObjects: (canary) => [{ apiVersion: API_VERSION, kind: 'VirtualService', namespace: canary.metadata.namespace, name: serviceName(canary) }],
  readRoutes(canary, objects): ObservedRoutes | undefined {
    const http = (objects[0] as { spec?: { http?: HTTPRoute[] } } | undefined)?.spec?.http;
    const main = http?.[http.length - 1];
    if (!http || !main) return undefined;
    const apex = serviceName(canary);
    const weightOf = (host: string): number => main.route.find((d) => d.destination.host === host)?.weight ?? 0;
    return { primaryWeight: weightOf(primaryName(apex)), canaryWeight: weightOf(canaryServiceName(apex)), mirror: main.mirror !== undefined, match: http.length > 1 };
  },
};
