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
}

/** Reads user-owned objects the router builds from (e.g. the Ingress), from a cache. */
export type ObjectLookup = (apiVersion: string, kind: string, name: string) => KubeObject | undefined;

export interface Router {
  readonly provider: CanaryProvider;
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
