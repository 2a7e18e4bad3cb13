// The interface every traffic router implements. A router is a pure builder:
// given the Canary and the routes the state machine wants, it returns the
// objects to apply (owned by the Canary), and it reads the routes back from
// those objects as they are in the cluster. The controller applies them with
// server-side apply, so setting the same weight twice changes nothing.
import type { Canary, CanaryProvider, KubeObject } from '../../api/types.ts';
import type { ObjectRef } from '../../kube/types.ts';
import type { Routes } from '../state.ts';

/** Routes as read back from the cluster. */
export interface ObservedRoutes {
  primaryWeight: number;
  canaryWeight: number;
  mirror: boolean;
  /** A/B match rules are in place. */
  match: boolean;
  /**
   * analysis.sessionAffinity as the routes say, absent when there are no
   * session rules: `sticky` while requests carrying the session cookie go to
   * the canary, `expiring` once the rollout is over and the rule clears it.
   * `setCookie` is the Set-Cookie header the router sends.
   */
  session?: { state: 'sticky' | 'expiring'; setCookie: string };
}

/** Reads user-owned objects the router builds from (e.g. the Ingress), from a cache. */
export type ObjectLookup = (apiVersion: string, kind: string, name: string) => KubeObject | undefined;

/** Canary fields that only some routers can carry into their objects. */
export const ROUTER_FIELDS = [
  'service.headers', 'service.corsPolicy', 'service.retries', 'service.timeout', 'service.rewrite', 'service.gateways',
  'service.hosts', 'service.trafficPolicy', 'service.match', 'service.gatewayRefs',
  'analysis.sessionAffinity', 'analysis.mirror', 'analysis.match',
] as const;
export type RouterField = (typeof ROUTER_FIELDS)[number];

/** How a router carries a field: fully, or in part (saying what is left out). */
export type FieldSupport = true | { partly: string };

export interface Router {
  readonly provider: CanaryProvider;
  /** The ROUTER_FIELDS this router carries; any other one that is set is ignored by it. */
  readonly fields: Readonly<Partial<Record<RouterField, FieldSupport>>>;
  /** Which pods the apex Service selects for these routes. */
  apexSelects(routes: Routes): 'primary' | 'canary';
  /** User-owned objects the router reads (watched by the controller). */
  sources(canary: Canary): ObjectRef[];
  /** The router objects for these routes. */
  build(canary: Canary, routes: Routes, lookup: ObjectLookup): KubeObject[];
  /** The objects `readRoutes` needs, as refs to GET or look up. */
  routedObjects(canary: Canary): ObjectRef[];
  /** Routes as the given objects (from routedObjects, in order) say; undefined when one is missing. */
  readRoutes(canary: Canary, objects: readonly (KubeObject | undefined)[]): ObservedRoutes | undefined;
}

export function ownedMeta(canary: Canary, name: string): KubeObject['metadata'] {
  return {
    name,
    namespace: canary.metadata.namespace,
    labels: { 'app.kubernetes.io/managed-by': 'sluice', 'sluice.dev/canary': canary.metadata.name },
    ownerReferences: [{ apiVersion: canary.apiVersion, kind: canary.kind, name: canary.metadata.name, uid: canary.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
  };
}

/** Reads `analysis.match` in Flagger's Istio-like shape: [{headers: {name: {exact|regex|prefix}}}]. */
export interface HeaderMatch {
  name: string;
  type: 'Exact' | 'RegularExpression' | 'Prefix';
  value: string;
}

export function headerMatches(match: readonly Record<string, unknown>[] | undefined): HeaderMatch[][] {
  return (match ?? []).map((entry) => {
    const headers = (entry.headers ?? {}) as Record<string, Record<string, string>>;
    return Object.entries(headers).map(([name, condition]) => {
      if (condition.exact !== undefined) return { name, type: 'Exact' as const, value: condition.exact };
      if (condition.regex !== undefined) return { name, type: 'RegularExpression' as const, value: condition.regex };
      return { name, type: 'Prefix' as const, value: condition.prefix ?? '' };
    });
  });
}

/**
 * analysis.sessionAffinity, the way Flagger does it, with these differences:
 *
 * - While traffic is split (weight above 0, not A/B, not mirroring), responses
 *   from the canary carry `Set-Cookie: <cookieName>=<value>; Max-Age=<maxAge>; Path=/`
 *   and a rule ahead of the weighted one sends every request whose Cookie
 *   header holds that exact cookie to the canary. A user who landed on the
 *   canary once stays there for the rest of the rollout.
 * - The value is the revision being rolled out (status.lastAppliedSpec), not a
 *   random string kept in status: the same rollout always builds the same
 *   objects (so re-applying changes nothing, and a restarted controller builds
 *   the same rule), and each rollout has its own cookie, so a cookie from an
 *   earlier rollout never pins anyone to a later canary.
 * - `Path=/` so the cookie covers the whole host (without it the browser scopes
 *   it to the directory of the first request), and so the expiry below
 *   replaces it.
 * - Once the rollout is over (weight back to 0: promoted or rolled back), the
 *   rule for that revision's cookie stays, now sending the request to the
 *   primary and answering `Set-Cookie: <cookieName>=; Max-Age=0; Path=/`, which
 *   removes the cookie from the browser. It is replaced by the next rollout's
 *   sticky rule.
 * - The Cookie header is matched with an anchored regular expression on the
 *   whole `name=value` pair (Flagger matches `.*name=value.*`, which also
 *   matches e.g. `xname=value2`).
 *
 * A/B testing (analysis.match) and Blue/Green have no traffic split, so no
 * session rules are built for them.
 */
export interface SessionAffinity {
  /** `sticky`: send cookie holders to the canary; `expiring`: to the primary, clearing the cookie. */
  state: 'sticky' | 'expiring';
  cookieName: string;
  /** The Set-Cookie header value the router adds. */
  setCookie: string;
  /** RE2 regular expression for the Cookie request header: true when it holds `cookieName=value`. */
  cookieRegex: string;
}

/** The name of the rule (VirtualService http route, HTTPRoute rule) that carries the session cookie. */
export const SESSION_RULE = 'session-affinity';
export const DEFAULT_SESSION_MAX_AGE = 86_400;

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

export function sessionAffinity(canary: Canary, routes: Routes): SessionAffinity | undefined {
  const config = canary.spec.analysis.sessionAffinity;
  if (!config || routes.match || routes.mirror) return undefined;
  const value = canary.status?.lastAppliedSpec ?? canary.metadata.uid;
  if (!value) return undefined;
  const name = config.cookieName;
  const cookieRegex = `^(.*;\\s*)?${escapeRegex(name)}=${escapeRegex(value)}(;.*)?$`;
  if (routes.canaryWeight > 0) {
    return { state: 'sticky', cookieName: name, setCookie: `${name}=${value}; Max-Age=${config.maxAge ?? DEFAULT_SESSION_MAX_AGE}; Path=/`, cookieRegex };
  }
  return { state: 'expiring', cookieName: name, setCookie: `${name}=; Max-Age=0; Path=/`, cookieRegex };
}

function isSet(canary: Canary, field: RouterField): boolean {
  const [section, key] = field.split('.') as ['service' | 'analysis', string];
  const value = (canary.spec[section] as unknown as Record<string, unknown>)[key];
  if (value === undefined || value === null || value === false) return false;
  return !(Array.isArray(value) && value.length === 0);
}

/**
 * The fields this Canary sets that its router ignores or carries only in part,
 * one line each; users are told instead of finding out in production.
 */
export function routerLimitations(router: Router, canary: Canary): { field: RouterField; message: string }[] {
  const limitations: { field: RouterField; message: string }[] = [];
  for (const field of ROUTER_FIELDS) {
    if (!isSet(canary, field)) continue;
    const support = router.fields[field];
    if (support === true) continue;
    limitations.push({ field, message: support ? `${field}: ${support.partly}` : `${field}: not used by provider ${router.provider}` });
  }
  return limitations;
}
