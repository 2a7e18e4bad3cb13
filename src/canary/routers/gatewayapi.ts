// Gateway API: an HTTPRoute named after the apex Service, attached to
// service.gatewayRefs, with weighted backendRefs to the primary and canary
// Services; header matches for A/B testing; a RequestMirror filter for
// Blue/Green mirroring; the session-affinity rule (see sessionAffinity in
// router.ts).
//
// Every rule gets service.timeout as `timeouts.request` and service.headers
// as one RequestHeaderModifier and one ResponseHeaderModifier filter
// (Gateway API lists headers as [{name, value}]; the maps are converted).
//
// service.retries is not carried over. HTTPRoute's `retry` ({attempts,
// backoff, codes}, GEP-1731) is only in the experimental channel; the
// standard-channel CRD (v1.5.0, which sluice targets) has no such field, and
// server-side apply rejects the whole HTTPRoute for it ("field not declared in
// schema"), so the rollout would stop. When it reaches the standard
// channel it maps as: attempts → attempts; the numeric HTTP status codes
// (400-599) in retryOn → codes; perTryTimeout → timeouts.backendRequest; the
// Envoy condition names in retryOn (5xx, gateway-error, connect-failure,
// reset, retriable-4xx, ...) have no Gateway API equivalent.
import type { Canary, HeaderOperations, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, primaryName, serviceName } from '../workloads.ts';
import { headerMatches, ownedMeta, SESSION_RULE, sessionAffinity, type ObservedRoutes, type Router } from './router.ts';

const API_VERSION = 'gateway.networking.k8s.io/v1';

interface HTTPHeader { name: string; value: string }
interface HeaderFilter { set?: HTTPHeader[]; add?: HTTPHeader[]; remove?: string[] }
interface Filter {
  type: string;
  requestHeaderModifier?: HeaderFilter;
  responseHeaderModifier?: HeaderFilter;
  requestMirror?: Record<string, unknown>;
  [field: string]: unknown;
}
interface BackendRef { name: string; port: number; weight: number; filters?: Filter[] }
interface HeaderMatch { name: string; type: string; value: string }
type RouteMatch = Record<string, unknown> & { headers?: HeaderMatch[] };
interface HTTPRouteRule {
  name?: string;
  matches?: RouteMatch[];
  backendRefs: BackendRef[];
  filters?: Filter[];
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

function headerList(headers: Record<string, string> | undefined): HTTPHeader[] {
  return Object.entries(headers ?? {}).map(([name, value]) => ({ name, value }));
}

/** service.headers.request/response as a Gateway API HTTPHeaderFilter; undefined when empty. */
export function headerFilter(ops: HeaderOperations | undefined): HeaderFilter | undefined {
  if (!ops) return undefined;
  const set = headerList(ops.set);
  const add = headerList(ops.add);
  const filter: HeaderFilter = {
    ...(set.length > 0 ? { set } : {}),
    ...(add.length > 0 ? { add } : {}),
    ...(ops.remove && ops.remove.length > 0 ? { remove: [...ops.remove] } : {}),
  };
  return Object.keys(filter).length > 0 ? filter : undefined;
}

function headerFilters(canary: Canary): Filter[] {
  const request = headerFilter(canary.spec.service.headers?.request);
  const response = headerFilter(canary.spec.service.headers?.response);
  return [
    ...(request ? [{ type: 'RequestHeaderModifier', requestHeaderModifier: request }] : []),
    ...(response ? [{ type: 'ResponseHeaderModifier', responseHeaderModifier: response }] : []),
  ];
}

/**
 * Each header condition set ANDed with each of service.match (Gateway API
 * ORs the entries of `matches`), so A/B and session rules stay within the
 * routes service.match selects.
 */
function within(serviceMatch: readonly RouteMatch[] | undefined, headers: readonly HeaderMatch[][]): RouteMatch[] {
  if (!serviceMatch || serviceMatch.length === 0) return headers.map((h) => ({ headers: [...h] }));
  return headers.flatMap((h) => serviceMatch.map((s) => ({ ...s, headers: [...(s.headers ?? []), ...h] })));
}

export const gatewayApiRouter: Router = {
  provider: 'gatewayapi',
  apexSelects: () => 'primary',
  sources: () => [],
  build(canary: Canary, routes: Routes): KubeObject[] {
    const svc = canary.spec.service;
    const apex = serviceName(canary);
    const serviceMatch = svc.match;
    const filters = headerFilters(canary);
    const common: Partial<HTTPRouteRule> = {
      ...(serviceMatch && serviceMatch.length > 0 ? { matches: serviceMatch } : {}),
      ...(svc.timeout ? { timeouts: { request: svc.timeout } } : {}),
    };
    const withFilters = (rule: HTTPRouteRule, extra: Filter[] = []): HTTPRouteRule => {
      const all = [...filters, ...extra];
      return all.length > 0 ? { ...rule, filters: all } : rule;
    };
    const mirrorFilters: Filter[] = [];
    if (routes.mirror) {
      const mirrorWeight = canary.spec.analysis.mirrorWeight;
      mirrorFilters.push({
        type: 'RequestMirror',
        requestMirror: {
          backendRef: { name: canaryServiceName(apex), port: svc.port },
          ...(mirrorWeight !== undefined ? { percent: mirrorWeight } : {}),
        },
      });
    }
    const main = withFilters({ ...common, backendRefs: backends(canary, routes.match ? 0 : routes.canaryWeight) }, mirrorFilters);
    const rules: HTTPRouteRule[] = [];
    if (routes.match) {
      // One match per analysis.match entry; its headers are ANDed, the entries ORed.
      const headers = headerMatches(canary.spec.analysis.match).map((entry) => entry.map((h) => ({
        name: h.name, type: h.type === 'Prefix' ? 'RegularExpression' : h.type, value: h.type === 'Prefix' ? `^${h.value}.*` : h.value,
      })));
      rules.push(withFilters({ ...common, matches: within(serviceMatch, headers), backendRefs: backends(canary, 100) }));
    }
    const session = sessionAffinity(canary, routes);
    if (session) {
      // Set-Cookie goes on the backendRef (a per-backend filter), so only
      // responses from that backend carry it, and it never collides with the
      // rule's own ResponseHeaderModifier (at most one per filter list).
      const setCookie: Filter = { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: session.setCookie }] } };
      const matches = within(serviceMatch, [[{ name: 'Cookie', type: 'RegularExpression', value: session.cookieRegex }]]);
      if (session.state === 'sticky') {
        rules.push(withFilters({ ...common, name: SESSION_RULE, matches, backendRefs: backends(canary, 100) }));
        const canaryBackend = main.backendRefs[1];
        if (canaryBackend) canaryBackend.filters = [setCookie];
      } else {
        const [primary, canaryBackend] = backends(canary, 0);
        if (primary && canaryBackend) rules.push(withFilters({ ...common, name: SESSION_RULE, matches, backendRefs: [{ ...primary, filters: [setCookie] }, canaryBackend] }));
      }
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
    const backendOf = (rule: HTTPRouteRule, name: string): BackendRef | undefined => rule.backendRefs.find((b) => b.name === name);
    const observed: ObservedRoutes = {
      primaryWeight: backendOf(main, primaryName(apex))?.weight ?? 0,
      canaryWeight: backendOf(main, canaryServiceName(apex))?.weight ?? 0,
      mirror: (main.filters ?? []).some((f) => f.type === 'RequestMirror'),
      match: rules.slice(0, -1).some((rule) => rule.name !== SESSION_RULE),
    };
    const sessionRule = rules.find((rule) => rule.name === SESSION_RULE);
    if (sessionRule) {
      const sticky = backendOf(sessionRule, canaryServiceName(apex))?.weight === 100;
      const carrier = sticky ? backendOf(main, canaryServiceName(apex)) : backendOf(sessionRule, primaryName(apex));
      const setCookie = carrier?.filters?.find((f) => f.type === 'ResponseHeaderModifier')?.responseHeaderModifier?.add?.find((h) => h.name === 'Set-Cookie')?.value;
      observed.session = { state: sticky ? 'sticky' : 'expiring', setCookie: setCookie ?? '' };
    }
    return observed;
  },
};
