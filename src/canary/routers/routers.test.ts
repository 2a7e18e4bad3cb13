import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary, CanaryProvider, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { routerFor } from './factory.ts';

const canary = (provider: CanaryProvider, extra: Partial<Canary['spec']> = {}, analysis: Partial<Canary['spec']['analysis']> = {}): Canary => ({
  apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web', namespace: 'shop', uid: 'u1' },
  spec: {
    provider,
    targetRef: { kind: 'Deployment', name: 'web' },
    service: { port: 80 },
    analysis: { stepWeight: 10, ...analysis },
    ...extra,
  },
});

const userIngress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'public', namespace: 'shop', annotations: { keep: 'me' } },
  spec: {
    ingressClassName: 'nginx',
    rules: [{ host: 'web.example.com', http: { paths: [
      { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
      { path: '/other', pathType: 'Prefix', backend: { service: { name: 'other', port: { number: 80 } } } },
    ] } }],
  },
};
const lookup = (_apiVersion: string, kind: string, name: string): KubeObject | undefined => (kind === 'Ingress' && name === 'public' ? userIngress : undefined);

const weight = (canaryWeight: number): Routes => ({ canaryWeight, match: false, mirror: false });

describe('routers', () => {
  for (const provider of ['nginx', 'gatewayapi', 'istio', 'linkerd', 'smi'] as const) {
    test(`${provider}: weights survive a build → read round trip`, () => {
      const subject = canary(provider, { ingressRef: { kind: 'Ingress', name: 'public' } });
      const router = routerFor(subject);
      for (const w of [0, 10, 55, 100]) {
        const objects = router.build(subject, weight(w), lookup);
        const byRef = router.routedObjects(subject).map((ref) => objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name));
        const routes = router.readRoutes(subject, byRef);
        assert.equal(routes?.canaryWeight, w);
        assert.equal(routes?.primaryWeight, 100 - w);
        for (const object of objects) {
          assert.equal(object.metadata.ownerReferences?.[0]?.uid, 'u1', `${object.kind} is owned by the Canary`);
        }
      }
      assert.equal(router.readRoutes(subject, [undefined]), undefined);
    });
  }

  test('kubernetes: Blue/Green flips the apex selector only at 100', () => {
    const router = routerFor(canary('kubernetes'));
    assert.equal(router.apexSelects(weight(0)), 'primary');
    assert.equal(router.apexSelects(weight(100)), 'canary');
    assert.deepEqual(router.build(canary('kubernetes'), weight(100), lookup), []);
    const apex = (app: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app } } });
    assert.equal(router.readRoutes(canary('kubernetes'), [apex('web-primary')])?.primaryWeight, 100);
    assert.equal(router.readRoutes(canary('kubernetes'), [apex('web')])?.canaryWeight, 100);
  });

  test('the default provider comes from the controller when spec.provider is unset', () => {
    const subject = canary('istio');
    delete subject.spec.provider;
    assert.equal(routerFor(subject, 'gatewayapi').provider, 'gatewayapi');
    assert.equal(routerFor(subject).provider, 'kubernetes');
  });

  test('nginx: a generated -canary Ingress pointing at the canary Service; A/B header and cookie annotations', () => {
    const ab = canary('nginx', { ingressRef: { kind: 'Ingress', name: 'public' } }, {
      stepWeight: undefined, iterations: 3,
      match: [{ headers: { 'x-canary': { exact: 'insider' } } }, { headers: { cookie: { exact: 'canary' } } }],
    });
    const [generated] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    assert.equal(generated?.metadata.name, 'public-canary');
    assert.deepEqual(generated?.metadata.annotations, {
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '0',
      'nginx.ingress.kubernetes.io/canary-by-header': 'x-canary',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'insider',
      'nginx.ingress.kubernetes.io/canary-by-cookie': 'canary',
    });
    const paths = (generated?.spec as { rules: { http: { paths: { backend: { service: { name: string } } }[] } }[] }).rules[0]?.http.paths;
    assert.deepEqual(paths?.map((p) => p.backend.service.name), ['web-canary', 'other']);
    assert.equal((userIngress.spec as { rules: { http: { paths: { backend: { service: { name: string } } }[] } }[] }).rules[0]?.http.paths[0]?.backend.service.name, 'web', 'user Ingress untouched');
    assert.throws(() => routerFor(canary('nginx', { ingressRef: { kind: 'Ingress', name: 'missing' } })).build(canary('nginx', { ingressRef: { kind: 'Ingress', name: 'missing' } }), weight(0), lookup), /does not exist/);
  });

  test('gatewayapi: parentRefs, A/B header rule before the default rule, RequestMirror with percent', () => {
    const subject = canary('gatewayapi', { service: { port: 80, hosts: ['web.example.com'], gatewayRefs: [{ name: 'gw', namespace: 'infra', sectionName: 'https' }] } }, {
      stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }], mirrorWeight: 25,
    });
    const router = routerFor(subject);
    const [route] = router.build(subject, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const spec = route?.spec as { parentRefs: unknown[]; hostnames: string[]; rules: { matches?: { headers: unknown[] }[]; backendRefs: { name: string; weight: number }[] }[] };
    assert.deepEqual(spec.parentRefs, [{ name: 'gw', namespace: 'infra', sectionName: 'https' }]);
    assert.deepEqual(spec.hostnames, ['web.example.com']);
    assert.equal(spec.rules.length, 2);
    assert.deepEqual(spec.rules[0]?.matches?.[0]?.headers, [{ name: 'x-canary', type: 'Exact', value: 'insider' }]);
    assert.deepEqual(spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight]), [['web-primary', 0], ['web-canary', 100]]);
    assert.deepEqual(spec.rules[1]?.backendRefs.map((b) => [b.name, b.weight]), [['web-primary', 100], ['web-canary', 0]]);
    assert.equal(router.readRoutes(subject, [route])?.match, true);

    const [mirrored] = router.build(subject, { canaryWeight: 0, match: false, mirror: true }, lookup);
    const filters = (mirrored?.spec as { rules: { filters?: unknown[] }[] }).rules[0]?.filters;
    assert.deepEqual(filters, [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'web-canary', port: 80 }, percent: 25 } }]);
    assert.equal(router.readRoutes(subject, [mirrored])?.mirror, true);
  });

  test('istio: VirtualService with match and mirror, DestinationRules for both hosts', () => {
    const subject = canary('istio', { service: { port: 9898, gateways: ['public'], hosts: ['web.example.com'], trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } } }, {
      stepWeight: undefined, iterations: 2, mirror: true, mirrorWeight: 40,
    });
    const objects = routerFor(subject).build(subject, { canaryWeight: 0, match: false, mirror: true }, lookup);
    assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`), ['VirtualService/web', 'DestinationRule/web-primary', 'DestinationRule/web-canary']);
    const vs = objects[0]?.spec as { hosts: string[]; gateways: string[]; http: { mirror?: { host: string }; mirrorPercentage?: { value: number } }[] };
    assert.deepEqual(vs.hosts, ['web', 'web.example.com']);
    assert.deepEqual(vs.gateways, ['public']);
    assert.deepEqual(vs.http[0]?.mirror, { host: 'web-canary', port: { number: 9898 } });
    assert.deepEqual(vs.http[0]?.mirrorPercentage, { value: 40 });
    assert.deepEqual((objects[1]?.spec as { trafficPolicy: unknown }).trafficPolicy, { tls: { mode: 'ISTIO_MUTUAL' } });

    const ab = canary('istio', {}, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const [abVs] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const http = (abVs?.spec as { http: { match?: unknown[]; route: { weight: number }[] }[] }).http;
    assert.deepEqual(http[0]?.match, [{ headers: { 'x-canary': { exact: 'insider' } } }]);
    assert.deepEqual(http[0]?.route.map((r) => r.weight), [0, 100]);
    assert.deepEqual(http[1]?.route.map((r) => r.weight), [100, 0]);
  });
});
