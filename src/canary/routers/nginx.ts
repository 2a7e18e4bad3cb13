// NGINX Ingress: a generated `<ingress>-canary` Ingress, a copy of the user's
// Ingress pointing at the canary Service, with nginx's canary annotations. The
// user's Ingress is never modified.
import type { Canary, KubeObject } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { Routes } from '../state.ts';
import { canaryServiceName, serviceName } from '../workloads.ts';
import { headerMatches, ownedMeta, type ObjectLookup, type ObservedRoutes, type Router } from './router.ts';

const PREFIX = 'nginx.ingress.kubernetes.io/';
const CANARY = `${PREFIX}canary`;
const WEIGHT = `${PREFIX}canary-weight`;
const BY_HEADER = `${PREFIX}canary-by-header`;
const BY_HEADER_VALUE = `${PREFIX}canary-by-header-value`;
const BY_HEADER_PATTERN = `${PREFIX}canary-by-header-pattern`;
const BY_COOKIE = `${PREFIX}canary-by-cookie`;

interface Ingress extends KubeObject {
  spec?: {
    ingressClassName?: string;
    defaultBackend?: Backend;
    rules?: { host?: string; http?: { paths: { path?: string; pathType?: string; backend: Backend }[] } }[];
    tls?: unknown[];
  };
}
interface Backend {
  service?: { name: string; port?: { number?: number; name?: string } };
  [field: string]: unknown;
}

function ingressName(canary: Canary): string {
  const ref = canary.spec.ingressRef;
  if (!ref) throw new SluiceError(ErrorCodes.SpecInvalid, 'provider nginx needs spec.ingressRef', { hint: 'set spec.ingressRef to the Ingress that routes to the apex Service' });
  return ref.name;
}

function retarget(backend: Backend | undefined, apex: string, canary: string): Backend | undefined {
  if (!backend?.service) return backend;
  return backend.service.name === apex ? { ...backend, service: { ...backend.service, name: canary } } : backend;
}

/** Annotations for the routes: a weight, or header/cookie rules during A/B testing. */
export function nginxAnnotations(canary: Canary, routes: Routes): Record<string, string> {
  const annotations: Record<string, string> = { [CANARY]: 'true', [WEIGHT]: String(routes.match ? 0 : routes.canaryWeight) };
  if (!routes.match) return annotations;
  for (const rule of headerMatches(canary.spec.analysis.match)) {
    for (const header of rule) {
      if (header.name.toLowerCase() === 'cookie') {
        annotations[BY_COOKIE] = header.value;
      } else {
        annotations[BY_HEADER] = header.name;
        if (header.type === 'Exact') annotations[BY_HEADER_VALUE] = header.value;
        else annotations[BY_HEADER_PATTERN] = header.type === 'Prefix' ? `^${header.value}` : header.value;
      }
    }
  }
  return annotations;
}

export const nginxRouter: Router = {
  provider: 'nginx',
  // ingress-nginx takes one canary-by-header and one canary-by-cookie; a later match rule overrides an earlier one.
  fields: { 'analysis.match': true },
  apexSelects: () => 'primary',
  sources: (canary) => [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: canary.metadata.namespace, name: ingressName(canary) }],
  build(canary: Canary, routes: Routes, lookup: ObjectLookup): KubeObject[] {
    const name = ingressName(canary);
    const user = lookup('networking.k8s.io/v1', 'Ingress', name);
    if (!user) {
      throw new SluiceError(ErrorCodes.KubeNotFound, `Ingress ${canary.metadata.namespace ?? ''}/${name} (spec.ingressRef) does not exist`, {
        hint: 'create the Ingress that routes to the apex Service', retryable: true,
      });
    }
    const apex = serviceName(canary);
    const canarySvc = canaryServiceName(apex);
    const spec = (user.spec ?? {}) as NonNullable<Ingress['spec']>;
    const generated: Ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { ...ownedMeta(canary, `${name}-canary`), annotations: nginxAnnotations(canary, routes) },
      spec: {
        ...(spec.ingressClassName ? { ingressClassName: spec.ingressClassName } : {}),
        ...(spec.defaultBackend ? { defaultBackend: retarget(spec.defaultBackend, apex, canarySvc) } : {}),
        rules: (spec.rules ?? []).map((rule) => ({
          ...rule,
          ...(rule.http ? { http: { paths: rule.http.paths.map((p) => ({ ...p, backend: retarget(p.backend, apex, canarySvc) ?? p.backend })) } } : {}),
        })),
      },
    };
    return [generated];
  },
  routedObjects: (canary) => [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: canary.metadata.namespace, name: `${ingressName(canary)}-canary` }],
  readRoutes(_canary, objects): ObservedRoutes | undefined {
    const annotations = objects[0]?.metadata.annotations;
    if (!annotations) return undefined;
    const enabled = annotations[CANARY] === 'true';
    const weight = enabled ? Number(annotations[WEIGHT] ?? '0') : 0;
    return { primaryWeight: 100 - weight, canaryWeight: weight, mirror: false, match: enabled && (annotations[BY_HEADER] !== undefined || annotations[BY_COOKIE] !== undefined) };
  },
};
