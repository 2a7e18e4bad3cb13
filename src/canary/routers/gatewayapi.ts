// Gateway API: an HTTPRoute named after the apex Service, attached to
// service.gatewayRefs, with weighted backendRefs to the primary and canary
// Services; header matches for A/B testing; a RequestMirror filter for
// Blue/Green mirroring; the session-affinity rule (see sessionAffinity in
// router.ts).
//
// Every rule gets service.headers as one RequestHeaderModifier and one
// ResponseHeaderModifier filter (Gateway API lists headers as [{name, value}];
// the maps are converted), service.corsPolicy as one CORS filter, and the
// timeouts below. The target is the v1.5.0 standard-channel CRD: a field that
// is only in the experimental channel makes server-side apply reject the whole
// HTTPRoute ("field not declared in schema"), and the rollout would stop.
//
// Timeouts (`timeouts`, GEP-1742). service.timeout → `request`.
// service.retries.perTryTimeout → `backendRequest`, when retries.attempts is
// at least 1. Istio bounds every attempt by perTryTimeout, the first one
// included, and `backendRequest` bounds each individual request from the
// gateway to a backend, so the two say the same thing with or without
// retries: the HTTPRoute carries no retries (below), and a retry the
// implementation makes on its own is one more individual request, bounded the
// same way. With attempts 0 or unset Istio drops the whole retry policy, and
// perTryTimeout with it, so it is not carried over then either. The CRD
// requires backendRequest <= request when request is not 0s: a longer
// perTryTimeout could never fire first anyway (the request timeout covers the
// whole transaction), so backendRequest is set to `request` then. The Canary
// accepts Go durations such as 1.5s or 90000s; Gateway API only
// ^([0-9]{1,5}(h|m|s|ms)){1,4}$ (GEP-2257), so other values are rewritten to
// the same duration in that form (below a millisecond: 1ms, never 0s, which
// disables the timeout).
//
// service.retries itself (attempts, retryOn) is not carried over. HTTPRoute's
// `retry` ({attempts, backoff, codes}, GEP-1731) is only in the experimental
// channel. When it reaches the standard channel it maps as: attempts →
// attempts; the numeric HTTP status codes (400-599) in retryOn → codes; the
// Envoy condition names in retryOn (5xx, gateway-error, connect-failure,
// reset, retriable-4xx, ...) have no Gateway API equivalent.
//
// CORS (GEP-1767). service.corsPolicy is Flagger's Istio CorsPolicy; it maps
// field by field where the meaning is the same, and a part that cannot be
// carried is left out (the router is pure and the Router interface has no
// place for warnings, so nothing is reported; this comment is the record).
// Everything left out only ever narrows what the route allows, never widens it:
// - Origins: allowOrigins ([{exact|prefix|regex}]) when it has entries, else
//   the deprecated allowOrigin ([string], exact), as Istio reads them. An exact
//   origin is carried when it is `*` (Envoy treats that as any origin, as
//   Gateway API does) or a `http(s)://host[:port]` that the CRD's CORSOrigin
//   pattern accepts and that has no `*` (in Gateway API a `*` in the host is a
//   wildcard, in Istio's exact match a literal). prefix and regex origins have
//   no Gateway API form and are left out; so is any other exact value (e.g.
//   `null`, or a host the pattern does not accept). A `*` among other origins
//   becomes `*` alone (the CRD allows it only alone; it means the same). At
//   most 64 origins (the CRD's limit) are kept. When no origin is left, no CORS
//   filter is built at all: the gateway then adds no CORS headers and browsers
//   refuse cross-origin responses.
// - allowMethods: only the methods the CRD's enum has (GET, HEAD, POST, PUT,
//   DELETE, CONNECT, OPTIONS, TRACE, PATCH, `*`), case-sensitive as HTTP
//   methods are; others (e.g. PROPFIND, `get`) are left out.
// - allowHeaders, exposeHeaders: header names the CRD accepts (an HTTP token
//   of at most 256 characters), duplicates (case-insensitive) once, at most 64.
// - `*` in allowMethods, allowHeaders or exposeHeaders: Istio sends it as
//   written, which browsers read as a wildcard for requests without
//   credentials and as a literal name for credentialed ones; Gateway API's `*`
//   is a wildcard for both (the gateway echoes what was asked). So with
//   allowCredentials true `*` is left out (keeping the other names, or the
//   field when it was alone), else the list becomes `*` alone.
// - maxAge: a duration; Gateway API wants whole seconds (int32, at least 1).
//   Istio truncates to seconds too; below 1s (Istio sends 0, no caching) it
//   becomes 1, the least the CRD accepts; a value that is not a duration is
//   left out (the gateway's default, 5s, applies).
// - allowCredentials: true is carried; false is the same as unset.
// - unmatchedPreflights (Istio 1.22) and any other field have no equivalent.
// Where Istio and Gateway API differ by implementation (e.g. a preflight from
// an origin that is not allowed: Envoy forwards it to the backend, a gateway
// may answer 200/204 or 403) nothing can be done in the route.
import { parseDuration } from '../../api/duration.ts';
import type { Canary, CanaryService, HeaderOperations, KubeObject } from '../../api/types.ts';
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
  timeouts?: Timeouts;
}
interface Timeouts { request?: string; backendRequest?: string }
interface CORSFilter {
  allowOrigins?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: number;
  allowCredentials?: boolean;
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

const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const HOUR_MS = 3_600_000;

/** A Go duration as the Canary CRD accepts it, as a Gateway API (GEP-2257) duration: unchanged when it already is one. */
export function gatewayDuration(text: string, field: string): string {
  if (GATEWAY_DURATION.test(text)) return text;
  let ms = parseDuration(text, field);
  // Below a millisecond: 1ms, never 0s, which would disable the timeout.
  if (ms === 0 && /[1-9]/.test(text)) ms = 1;
  if (ms === 0) return '0s';
  const hours = Math.min(Math.floor(ms / HOUR_MS), 99_999);
  const rest = ms - Math.floor(ms / HOUR_MS) * HOUR_MS;
  const parts: [number, string][] = [[hours, 'h'], [Math.floor(rest / 60_000), 'm'], [Math.floor((rest % 60_000) / 1_000), 's'], [rest % 1_000, 'ms']];
  return parts.filter(([value]) => value > 0).map(([value, unit]) => `${value}${unit}`).join('');
}

/** service.timeout and retries.perTryTimeout as HTTPRoute rule timeouts (see the top of this file); undefined when neither applies. */
export function ruleTimeouts(svc: CanaryService): Timeouts | undefined {
  const request = svc.timeout ? gatewayDuration(svc.timeout, 'service.timeout') : undefined;
  const perTry = svc.retries?.perTryTimeout;
  let backendRequest = perTry && (svc.retries?.attempts ?? 0) > 0 ? gatewayDuration(perTry, 'service.retries.perTryTimeout') : undefined;
  if (request !== undefined && backendRequest !== undefined) {
    const requestMs = parseDuration(request);
    // The CRD: backendRequest cannot be longer than request (unless request is 0s, no timeout).
    if (requestMs > 0 && parseDuration(backendRequest) > requestMs) backendRequest = request;
  }
  if (request === undefined && backendRequest === undefined) return undefined;
  return { ...(request !== undefined ? { request } : {}), ...(backendRequest !== undefined ? { backendRequest } : {}) };
}

// The CRD's patterns and limits for the CORS filter (HTTPCORSFilter, v1.5.0).
const CORS_ORIGIN = /(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*']);
const CORS_MAX_ITEMS = 64;
const INT32_MAX = 2_147_483_647;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Distinct values in order, compared by `key`. */
function distinct(values: readonly string[], key: (value: string) => string = (v) => v): string[] {
  const seen = new Set<string>();
  return values.filter((value) => {
    const k = key(value);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `*` in a method or header list: dropped for credentialed policies, else alone (see the top of this file). */
function wildcard(values: readonly string[], credentials: boolean): string[] {
  if (!values.includes('*')) return [...values];
  return credentials ? values.filter((v) => v !== '*') : ['*'];
}

function corsOrigins(policy: Record<string, unknown>): string[] {
  const matches = Array.isArray(policy.allowOrigins) ? (policy.allowOrigins as unknown[]) : [];
  const exact = matches.length > 0
    ? matches.flatMap((m) => (m !== null && typeof m === 'object' && typeof (m as { exact?: unknown }).exact === 'string' ? [(m as { exact: string }).exact] : []))
    : strings(policy.allowOrigin);
  const carried = distinct(exact.filter((origin) => origin === '*' || (origin.length <= 253 && !origin.includes('*') && CORS_ORIGIN.test(origin))));
  return carried.includes('*') ? ['*'] : carried.slice(0, CORS_MAX_ITEMS);
}

function corsMaxAge(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  let ms: number;
  try {
    ms = parseDuration(value, 'service.corsPolicy.maxAge');
  } catch {
    return undefined;
  }
  return Math.min(Math.max(Math.floor(ms / 1_000), 1), INT32_MAX);
}

/**
 * service.corsPolicy (Istio's CorsPolicy, as Flagger takes it) as the
 * standard-channel HTTPRoute CORS filter, as far as it carries over (see the
 * top of this file); undefined when no allowed origin carries over.
 */
export function corsFilter(policy: Record<string, unknown> | undefined): CORSFilter | undefined {
  if (!policy) return undefined;
  const allowOrigins = corsOrigins(policy);
  if (allowOrigins.length === 0) return undefined;
  const credentials = policy.allowCredentials === true;
  const headerNames = (value: unknown): string[] => wildcard(distinct(strings(value).filter((h) => h.length <= 256 && HEADER_NAME.test(h)), (h) => h.toLowerCase()), credentials).slice(0, CORS_MAX_ITEMS);
  const allowMethods = wildcard(distinct(strings(policy.allowMethods).filter((m) => CORS_METHODS.has(m))), credentials);
  const allowHeaders = headerNames(policy.allowHeaders);
  const exposeHeaders = headerNames(policy.exposeHeaders);
  const maxAge = corsMaxAge(policy.maxAge);
  return {
    allowOrigins,
    ...(allowMethods.length > 0 ? { allowMethods } : {}),
    ...(allowHeaders.length > 0 ? { allowHeaders } : {}),
    ...(exposeHeaders.length > 0 ? { exposeHeaders } : {}),
    ...(maxAge !== undefined ? { maxAge } : {}),
    ...(credentials ? { allowCredentials: true } : {}),
  };
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
  fields: {
    'service.headers': true, 'service.timeout': true, 'service.hosts': true, 'service.match': true, 'service.gatewayRefs': true,
    'service.corsPolicy': { partly: 'only exact http(s) origins and the methods and headers the HTTPRoute CORS filter accepts are carried; prefix and regex origins are dropped' },
    'service.retries': { partly: 'only perTryTimeout is carried (as timeouts.backendRequest); attempts and retryOn are not, because retry is only in Gateway API\'s experimental channel' },
    'analysis.sessionAffinity': true, 'analysis.mirror': true, 'analysis.match': true,
  },
  apexSelects: () => 'primary',
  sources: () => [],
  build(canary: Canary, routes: Routes): KubeObject[] {
    const svc = canary.spec.service;
    const apex = serviceName(canary);
    const serviceMatch = svc.match;
    const cors = corsFilter(svc.corsPolicy);
    const filters: Filter[] = [...headerFilters(canary), ...(cors ? [{ type: 'CORS', cors }] : [])];
    const timeouts = ruleTimeouts(svc);
    const common: Partial<HTTPRouteRule> = {
      ...(serviceMatch && serviceMatch.length > 0 ? { matches: serviceMatch } : {}),
      ...(timeouts ? { timeouts } : {}),
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
