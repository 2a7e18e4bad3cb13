// Which chat targets an event goes to. Two sources of routes:
//  - Alert objects (Flux-style): eventSources by kind and name or "*" (with
//    matchLabels), a severity threshold, inclusion/exclusion regexes, suspend;
//  - a Canary's own spec.analysis.alerts (Flagger-style: severity + providerRef),
//    carried on the event by eventFor().
// Alerts are compiled once per change (regexes included) and indexed by the
// kind they listen to, so routing an event reads memory only.

import type { Alert, CanaryAlertSeverity, EventSource } from '../api/types.ts';
import type { EventSeverity, InvolvedObject, SluiceEvent } from './event.ts';
import type { ThrottleRoute, WeightUpdates } from './throttle.ts';

/** Alert annotation that overrides the notifier's weight-updates mode for one Alert: "coalesce" or "every". */
export const WEIGHT_UPDATES_ANNOTATION = 'notify.sluice.dev/weight-updates';

export interface RouteOwner {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/** One destination for matching events. */
export interface Route extends ThrottleRoute {
  provider: { namespace: string; name: string };
  summary?: string | undefined;
  eventMetadata?: Readonly<Record<string, string>> | undefined;
  /** Where delivery failures are reported: the Alert, or the Canary of an inline alert. */
  owner: RouteOwner;
}

export interface RoutingOptions {
  weightUpdates: WeightUpdates;
  /** Whether an Alert may listen to other namespaces, and a Canary alert use another namespace's provider. Default true. */
  allowCrossNamespace?: boolean | undefined;
}

export interface CompiledAlert {
  alert: Alert;
  route: Route;
  suspended: boolean;
  inclusion: RegExp[];
  exclusion: RegExp[];
  /** Why the Alert cannot be used; an Alert with problems routes nothing. */
  problems: string[];
}

function compileRegexes(patterns: readonly string[] | undefined, field: string, problems: string[]): RegExp[] {
  const compiled: RegExp[] = [];
  (patterns ?? []).forEach((pattern, i) => {
    try {
      compiled.push(new RegExp(pattern));
    } catch (error) {
      problems.push(`spec.${field}[${i}] is not a valid regular expression: ${(error as Error).message}`);
    }
  });
  return compiled;
}

function weightUpdatesOf(alert: Alert, fallback: WeightUpdates, problems: string[]): WeightUpdates {
  const value = alert.metadata.annotations?.[WEIGHT_UPDATES_ANNOTATION];
  if (value === undefined) return fallback;
  if (value === 'coalesce' || value === 'every') return value;
  problems.push(`annotation ${WEIGHT_UPDATES_ANNOTATION} must be "coalesce" or "every", not "${value}"`);
  return fallback;
}

export function compileAlert(alert: Alert, options: RoutingOptions): CompiledAlert {
  const problems: string[] = [];
  const namespace = alert.metadata.namespace ?? 'default';
  const inclusion = compileRegexes(alert.spec.inclusionList, 'inclusionList', problems);
  const exclusion = compileRegexes(alert.spec.exclusionList, 'exclusionList', problems);
  if (options.allowCrossNamespace === false) {
    alert.spec.eventSources.forEach((source, i) => {
      if (source.namespace && source.namespace !== namespace) {
        problems.push(`spec.eventSources[${i}].namespace ${source.namespace} is another namespace, and cross-namespace references are disabled`);
      }
    });
  }
  const weightUpdates = weightUpdatesOf(alert, options.weightUpdates, problems);
  return {
    alert,
    suspended: alert.spec.suspend === true,
    inclusion,
    exclusion,
    problems,
    route: {
      key: `Alert/${namespace}/${alert.metadata.name}`,
      minSeverity: alert.spec.eventSeverity ?? 'info',
      weightUpdates,
      provider: { namespace, name: alert.spec.providerRef.name },
      summary: alert.spec.summary,
      eventMetadata: alert.spec.eventMetadata,
      owner: { apiVersion: alert.apiVersion, kind: 'Alert', namespace, name: alert.metadata.name, uid: alert.metadata.uid },
    },
  };
}

export function sourceMatches(source: EventSource, alertNamespace: string, object: InvolvedObject): boolean {
  if (source.kind !== object.kind) return false;
  if ((source.namespace ?? alertNamespace) !== object.namespace) return false;
  if (source.name !== '*') return source.name === object.name;
  for (const [key, value] of Object.entries(source.matchLabels ?? {})) {
    if (object.labels?.[key] !== value) return false;
  }
  return true;
}

/** Whether the Alert takes this event (severity is the throttle's business: recoveries bypass it). */
export function alertAccepts(compiled: CompiledAlert, event: SluiceEvent): boolean {
  if (compiled.suspended || compiled.problems.length > 0) return false;
  const namespace = compiled.alert.metadata.namespace ?? 'default';
  if (!compiled.alert.spec.eventSources.some((source) => sourceMatches(source, namespace, event.object))) return false;
  if (compiled.inclusion.length > 0 && !compiled.inclusion.some((re) => re.test(event.message))) return false;
  return !compiled.exclusion.some((re) => re.test(event.message));
}

const canarySeverities: Readonly<Record<CanaryAlertSeverity, EventSeverity>> = { info: 'info', warn: 'warning', error: 'error' };

/** Routes declared by a Canary's analysis.alerts, carried on the event. */
export function inlineRoutes(event: SluiceEvent, options: RoutingOptions): Route[] {
  const { object } = event;
  const routes: Route[] = [];
  for (const alert of event.alerts ?? []) {
    const providerNamespace = alert.providerRef.namespace ?? object.namespace;
    if (options.allowCrossNamespace === false && providerNamespace !== object.namespace) continue;
    routes.push({
      key: `${object.kind}/${object.namespace}/${object.name}/alerts/${alert.name}`,
      minSeverity: canarySeverities[alert.severity ?? 'info'],
      weightUpdates: options.weightUpdates,
      provider: { namespace: providerNamespace, name: alert.providerRef.name },
      owner: { apiVersion: object.apiVersion, kind: object.kind, namespace: object.namespace, name: object.name, uid: object.uid },
    });
  }
  return routes;
}

/** Compiled Alerts, indexed by the kinds their event sources name. */
export class AlertIndex {
  readonly #options: RoutingOptions;
  readonly #byKey = new Map<string, CompiledAlert>();
  readonly #byKind = new Map<string, Set<CompiledAlert>>();

  constructor(options: RoutingOptions) {
    this.#options = options;
  }

  upsert(alert: Alert): CompiledAlert {
    this.remove(alert);
    const compiled = compileAlert(alert, this.#options);
    this.#byKey.set(compiled.route.key, compiled);
    for (const source of alert.spec.eventSources) {
      let set = this.#byKind.get(source.kind);
      if (!set) this.#byKind.set(source.kind, set = new Set());
      set.add(compiled);
    }
    return compiled;
  }

  remove(alert: Alert): void {
    const key = `Alert/${alert.metadata.namespace ?? 'default'}/${alert.metadata.name}`;
    const old = this.#byKey.get(key);
    if (!old) return;
    this.#byKey.delete(key);
    for (const set of this.#byKind.values()) set.delete(old);
  }

  get(namespace: string, name: string): CompiledAlert | undefined {
    return this.#byKey.get(`Alert/${namespace}/${name}`);
  }

  /** Alerts that send through the given provider. */
  usingProvider(namespace: string, name: string): CompiledAlert[] {
    return [...this.#byKey.values()].filter((c) => c.route.provider.namespace === namespace && c.route.provider.name === name);
  }

  /** Routes of every Alert that takes this event, then the event's inline routes. */
  routesFor(event: SluiceEvent): Route[] {
    const routes: Route[] = [];
    for (const compiled of this.#byKind.get(event.object.kind) ?? []) {
      if (alertAccepts(compiled, event)) routes.push(compiled.route);
    }
    routes.push(...inlineRoutes(event, this.#options));
    return routes;
  }
}
