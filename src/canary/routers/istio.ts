// Istio: a VirtualService named after the apex Service with weighted routes to
// the -primary and -canary hosts, DestinationRules for both, match rules for
// A/B testing, mirror/mirrorPercentage for Blue/Green mirroring, and the
// session-affinity rule (see sessionAffinity in router.ts).
//
// service.timeout, service.retries ({attempts, perTryTimeout, retryOn}: the
// same fields as Istio's HTTPRetry), service.headers ({request, response} ×
// {set, add, remove}: the same shape as Istio's Headers), service.rewrite and
// service.corsPolicy go on every http route, so they apply whichever version
// serves the request.
import type { Canary, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, primaryName, serviceName } from '../workloads.ts';
import { ownedMeta, SESSION_RULE, sessionAffinity, type ObservedRoutes, type Router } from './router.ts';

const API_VERSION = 'networking.istio.io/v1';

interface HeaderOperations { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] }
interface Headers { request?: HeaderOperations; response?: HeaderOperations }
interface Destination { destination: { host: string; port?: { number: number } }; weight: number; headers?: Headers }
type Match = Record<string, unknown> & { headers?: Record<string, Record<string, string>> };
interface HTTPRoute {
  name?: string;
  match?: Match[];
  route: Destination[];
  mirror?: { host: string; port?: { number: number } };
  mirrorPercentage?: { value: number };
  timeout?: string;
  retries?: Record<string, unknown>;
  rewrite?: Record<string, unknown>;
  corsPolicy?: Record<string, unknown>;
  headers?: Headers;
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

/** Header operations without the empty parts (Istio keeps `{}` as written, which makes diffs noisy). */
function headerOperations(ops: HeaderOperations | undefined): HeaderOperations | undefined {
  if (!ops) return undefined;
  const out: HeaderOperations = {
    ...(ops.set && Object.keys(ops.set).length > 0 ? { set: { ...ops.set } } : {}),
    ...(ops.add && Object.keys(ops.add).length > 0 ? { add: { ...ops.add } } : {}),
    ...(ops.remove && ops.remove.length > 0 ? { remove: [...ops.remove] } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

function serviceHeaders(canary: Canary): Headers | undefined {
  const request = headerOperations(canary.spec.service.headers?.request);
  const response = headerOperations(canary.spec.service.headers?.response);
  return request || response ? { ...(request ? { request } : {}), ...(response ? { response } : {}) } : undefined;
}

/**
 * Each condition set ANDed with each of service.match (Istio ORs the entries
 * of `match`), so A/B and session rules stay within the routes service.match
 * selects. Headers are merged; a header in `extra` wins.
 */
function within(serviceMatch: readonly Match[] | undefined, extra: readonly Match[]): Match[] {
  if (!serviceMatch || serviceMatch.length === 0) return extra.map((m) => ({ ...m }));
  return extra.flatMap((m) => serviceMatch.map((s) => ({ ...s, ...m, ...(s.headers || m.headers ? { headers: { ...s.headers, ...m.headers } } : {}) })));
}

export const istioRouter: Router = {
  provider: 'istio',
  fields: {
    'service.headers': true, 'service.corsPolicy': true, 'service.retries': true, 'service.timeout': true, 'service.rewrite': true,
    'service.gateways': true, 'service.hosts': true, 'service.trafficPolicy': true, 'service.match': true,
    'analysis.sessionAffinity': true, 'analysis.mirror': true, 'analysis.match': true,
  },
  apexSelects: () => 'primary',
  sources: () => [],
  build(canary: Canary, routes: Routes): KubeObject[] {
    const svc = canary.spec.service;
    const apex = serviceName(canary);
    const headers = serviceHeaders(canary);
    const common: Partial<HTTPRoute> = {
      ...(svc.match && svc.match.length > 0 ? { match: svc.match } : {}),
      ...(svc.timeout ? { timeout: svc.timeout } : {}),
      ...(svc.retries ? { retries: { ...svc.retries } } : {}),
      ...(svc.rewrite ? { rewrite: { ...(svc.rewrite.uri ? { uri: svc.rewrite.uri } : {}), ...(svc.rewrite.authority ? { authority: svc.rewrite.authority } : {}) } } : {}),
      ...(svc.corsPolicy ? { corsPolicy: svc.corsPolicy } : {}),
      ...(headers ? { headers } : {}),
    };
    const main: HTTPRoute = { ...common, route: destinations(canary, routes.match ? 0 : routes.canaryWeight) };
    if (routes.mirror) {
      main.mirror = { host: canaryServiceName(apex), port: { number: svc.port } };
      if (canary.spec.analysis.mirrorWeight !== undefined) main.mirrorPercentage = { value: canary.spec.analysis.mirrorWeight };
    }
    const http: HTTPRoute[] = [];
    if (routes.match && canary.spec.analysis.match) http.push({ ...common, match: within(svc.match, canary.spec.analysis.match), route: destinations(canary, 100) });
    const session = sessionAffinity(canary, routes);
    if (session) {
      const setCookie: Headers = { response: { add: { 'Set-Cookie': session.setCookie } } };
      const cookieMatch = within(svc.match, [{ headers: { cookie: { regex: session.cookieRegex } } }]);
      if (session.state === 'sticky') {
        // Cookie holders go to the canary; the canary's share of the weighted route hands out the cookie.
        http.push({ ...common, name: SESSION_RULE, match: cookieMatch, route: destinations(canary, 100) });
        const canaryDestination = main.route[1];
        if (canaryDestination) canaryDestination.headers = setCookie;
      } else {
        const [primary, canaryDestination] = destinations(canary, 0);
        if (primary && canaryDestination) http.push({ ...common, name: SESSION_RULE, match: cookieMatch, route: [{ ...primary, headers: setCookie }, canaryDestination] });
      }
    }
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
    const weightOf = (route: HTTPRoute, host: string): number => route.route.find((d) => d.destination.host === host)?.weight ?? 0;
    const observed: ObservedRoutes = {
      primaryWeight: weightOf(main, primaryName(apex)),
      canaryWeight: weightOf(main, canaryServiceName(apex)),
      mirror: main.mirror !== undefined,
      match: http.slice(0, -1).some((route) => route.name !== SESSION_RULE),
    };
    const sessionRule = http.find((route) => route.name === SESSION_RULE);
    if (sessionRule) {
      const sticky = weightOf(sessionRule, canaryServiceName(apex)) === 100;
      const carrier = sticky ? main.route.find((d) => d.destination.host === canaryServiceName(apex)) : sessionRule.route.find((d) => d.destination.host === primaryName(apex));
      observed.session = { state: sticky ? 'sticky' : 'expiring', setCookie: carrier?.headers?.response?.add?.['Set-Cookie'] ?? '' };
    }
    return observed;
  },
};
