// Picks the router of a Canary: spec.provider, else the controller's default.
// Adding a router is one new file and one line here.
import type { Canary, CanaryProvider } from '../../api/types.ts';
import { gatewayApiRouter } from './gatewayapi.ts';
import { istioRouter } from './istio.ts';
import { kubernetesRouter } from './kubernetes.ts';
import { nginxRouter } from './nginx.ts';
import type { Router } from './router.ts';
import { smiRouter } from './smi.ts';

const routers: Readonly<Record<CanaryProvider, Router>> = {
  kubernetes: kubernetesRouter,
  nginx: nginxRouter,
  gatewayapi: gatewayApiRouter,
  'gatewayapi:v1': gatewayApiRouter,
  istio: istioRouter,
  linkerd: smiRouter('linkerd'),
  smi: smiRouter('smi'),
  'smi:v1alpha4': smiRouter('smi:v1alpha4'),
};

export function routerFor(canary: Canary, defaultProvider: CanaryProvider = 'kubernetes'): Router {
  return routers[canary.spec.provider ?? defaultProvider];
}
