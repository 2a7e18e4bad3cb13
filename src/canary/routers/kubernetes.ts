// Blue/Green with plain Services: the apex Service selects the primary's pods,
// and switches to the canary's pods (weight 100) during promotion.
import type { Canary, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { serviceName } from '../workloads.ts';
import type { ObservedRoutes, Router } from './router.ts';

export const kubernetesRouter: Router = {
  provider: 'kubernetes',
  fields: {},
  apexSelects: (routes: Routes) => (routes.canaryWeight >= 100 ? 'canary' : 'primary'),
  sources: () => [],
  build: () => [],
  routedObjects: (canary: Canary) => [{ apiVersion: 'v1', kind: 'Service', namespace: canary.metadata.namespace, name: serviceName(canary) }],
  readRoutes(_canary: Canary, objects: readonly (KubeObject | undefined)[]): ObservedRoutes | undefined {
    const service = objects[0] as { spec?: { selector?: Record<string, string> } } | undefined;
    const selector = Object.values(service?.spec?.selector ?? {});
    if (selector.length === 0) return undefined;
    const onPrimary = selector.some((value) => value.endsWith('-primary'));
    return { primaryWeight: onPrimary ? 100 : 0, canaryWeight: onPrimary ? 0 : 100, mirror: false, match: false };
  },
};
