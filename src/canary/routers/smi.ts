// SMI (Linkerd and other SMI meshes): a TrafficSplit named after the apex
// Service with weighted backends. Weights only: no A/B, no mirroring.
import type { Canary, CanaryProvider, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, primaryName, serviceName } from '../workloads.ts';
import { ownedMeta, type ObservedRoutes, type Router } from './router.ts';

// The one served version of the SMI TrafficSplit CRD (Linkerd's smi extension serves v1alpha4 too).
const API_VERSION = 'split.smi-spec.io/v1alpha4';

interface Backend { service: string; weight: number }

export function smiRouter(provider: CanaryProvider): Router {
  return {
    provider,
    fields: {},
    apexSelects: () => 'primary',
    sources: () => [],
    build(canary: Canary, routes: Routes): KubeObject[] {
      const apex = serviceName(canary);
      const weight = routes.match ? 0 : routes.canaryWeight;
      return [{
        apiVersion: API_VERSION,
        kind: 'TrafficSplit',
        metadata: ownedMeta(canary, apex),
        spec: {
          service: apex,
          backends: [
            { service: primaryName(apex), weight: 100 - weight },
            { service: canaryServiceName(apex), weight },
          ],
        },
      }];
    },
    routedObjects: (canary) => [{ apiVersion: API_VERSION, kind: 'TrafficSplit', namespace: canary.metadata.namespace, name: serviceName(canary) }],
    readRoutes(canary, objects): ObservedRoutes | undefined {
      const backends = (objects[0] as { spec?: { backends?: Backend[] } } | undefined)?.spec?.backends;
      if (!backends) return undefined;
      const apex = serviceName(canary);
      const weightOf = (name: string): number => backends.find((b) => b.service === name)?.weight ?? 0;
      return { primaryWeight: weightOf(primaryName(apex)), canaryWeight: weightOf(canaryServiceName(apex)), mirror: false, match: false };
    },
  };
}
