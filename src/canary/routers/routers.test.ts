import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary, CanaryProvider, KubeObject } from '../../api/types.ts';
import type { Routes } from '../state.ts';
import { routerFor } from './factory.ts';
import { routerLimitations, sessionAffinity } from './router.ts';

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

  const withStatus = (subject: Canary, lastAppliedSpec: string): Canary => ({ ...subject, status: { lastAppliedSpec } });
  const featureService: Canary['spec']['service'] = {
    port: 80,
    timeout: '15s',
    retries: { attempts: 3, perTryTimeout: '5s', retryOn: 'gateway-error,connect-failure,503' },
    headers: {
      request: { set: { 'x-env': 'prod' }, add: { 'x-via': 'sluice' }, remove: ['x-debug'] },
      response: { set: { 'cache-control': 'no-store' }, remove: ['server'] },
    },
  };

  test('session cookie: the revision as value, an anchored regex on the pair, sticky above weight 0, expiring at 0, none for A/B or mirroring', () => {
    const subject = withStatus(canary('istio', {}, { sessionAffinity: { cookieName: 'canary.session' } }), 'abc123');
    const sticky = sessionAffinity(subject, weight(30));
    assert.deepEqual(sticky && { ...sticky, cookieRegex: undefined }, { state: 'sticky', cookieName: 'canary.session', setCookie: 'canary.session=abc123; Max-Age=86400; Path=/', cookieRegex: undefined });
    const regex = new RegExp(sticky?.cookieRegex ?? '');
    for (const header of ['canary.session=abc123', 'a=1; canary.session=abc123', 'a=1;canary.session=abc123; b=2']) assert.match(header, regex, header);
    for (const header of ['canary-session=abc123', 'xcanary.session=abc123', 'canary.session=abc1234', 'canary.session=old; a=abc123']) assert.doesNotMatch(header, regex, header);
    assert.equal(sessionAffinity(withStatus(canary('istio', {}, { sessionAffinity: { cookieName: 'c', maxAge: 60 } }), 'r1'), weight(10))?.setCookie, 'c=r1; Max-Age=60; Path=/');
    assert.deepEqual(sessionAffinity(subject, weight(0)) && { ...sessionAffinity(subject, weight(0)), cookieRegex: undefined }, { state: 'expiring', cookieName: 'canary.session', setCookie: 'canary.session=; Max-Age=0; Path=/', cookieRegex: undefined });
    assert.equal(sessionAffinity(subject, { canaryWeight: 0, match: true, mirror: false }), undefined);
    assert.equal(sessionAffinity(subject, { canaryWeight: 0, match: false, mirror: true }), undefined);
    assert.equal(sessionAffinity(withStatus(canary('istio'), 'abc123'), weight(30)), undefined);
  });

  test('istio: service.headers, retries and timeout on every http route', () => {
    const subject = canary('istio', { service: featureService }, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const [vs] = routerFor(subject).build(subject, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const http = (vs?.spec as { http: { headers?: unknown; retries?: unknown; timeout?: string }[] }).http;
    assert.equal(http.length, 2);
    for (const route of http) {
      assert.deepEqual(route.headers, {
        request: { set: { 'x-env': 'prod' }, add: { 'x-via': 'sluice' }, remove: ['x-debug'] },
        response: { set: { 'cache-control': 'no-store' }, remove: ['server'] },
      });
      assert.deepEqual(route.retries, { attempts: 3, perTryTimeout: '5s', retryOn: 'gateway-error,connect-failure,503' });
      assert.equal(route.timeout, '15s');
    }
    const empty = canary('istio', { service: { port: 80, headers: { request: { set: {}, remove: [] } } } });
    const [plain] = routerFor(empty).build(empty, weight(10), lookup);
    assert.equal((plain?.spec as { http: { headers?: unknown }[] }).http[0]?.headers, undefined, 'empty header operations are left out');
  });

  test('istio: A/B and session rules are ANDed with service.match', () => {
    const serviceMatch = [{ uri: { prefix: '/api' } }, { uri: { prefix: '/v2' }, headers: { 'x-tenant': { exact: 'a' } } }];
    const ab = canary('istio', { service: { port: 80, match: serviceMatch } }, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const [vs] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const http = (vs?.spec as { http: { match?: unknown[] }[] }).http;
    assert.deepEqual(http[0]?.match, [
      { uri: { prefix: '/api' }, headers: { 'x-canary': { exact: 'insider' } } },
      { uri: { prefix: '/v2' }, headers: { 'x-tenant': { exact: 'a' }, 'x-canary': { exact: 'insider' } } },
    ]);
    assert.deepEqual(http[1]?.match, serviceMatch);
  });

  test('istio: sessionAffinity sends cookie holders to the canary, the canary hands out the cookie, and the cookie is expired after the rollout', () => {
    const subject = withStatus(canary('istio', { service: { port: 80, headers: { response: { set: { 'x-served-by': 'web' } } } } }, { sessionAffinity: { cookieName: 'canary', maxAge: 600 } }), 'r1');
    const router = routerFor(subject);
    const [vs] = router.build(subject, weight(30), lookup);
    type Route = { name?: string; match?: { headers: Record<string, { regex: string }> }[]; headers?: unknown; route: { destination: { host: string }; weight: number; headers?: unknown }[] };
    const http = (vs?.spec as { http: Route[] }).http;
    assert.equal(http.length, 2);
    assert.equal(http[0]?.name, 'session-affinity');
    assert.equal(http[0]?.match?.[0]?.headers.cookie?.regex, '^(.*;\\s*)?canary=r1(;.*)?$');
    assert.deepEqual(http[0]?.route.map((d) => [d.destination.host, d.weight]), [['web-primary', 0], ['web-canary', 100]]);
    assert.deepEqual(http[0]?.headers, { response: { set: { 'x-served-by': 'web' } } }, 'service headers on the session rule too');
    assert.deepEqual(http[1]?.route.map((d) => [d.destination.host, d.weight]), [['web-primary', 70], ['web-canary', 30]]);
    assert.equal(http[1]?.route[0]?.headers, undefined);
    assert.deepEqual(http[1]?.route[1]?.headers, { response: { add: { 'Set-Cookie': 'canary=r1; Max-Age=600; Path=/' } } });
    assert.deepEqual(router.readRoutes(subject, [vs]), { primaryWeight: 70, canaryWeight: 30, mirror: false, match: false, session: { state: 'sticky', setCookie: 'canary=r1; Max-Age=600; Path=/' } });

    const [after] = router.build(subject, weight(0), lookup);
    const done = (after?.spec as { http: Route[] }).http;
    assert.equal(done.length, 2);
    assert.deepEqual(done[0]?.route.map((d) => [d.destination.host, d.weight]), [['web-primary', 100], ['web-canary', 0]]);
    assert.deepEqual(done[0]?.route[0]?.headers, { response: { add: { 'Set-Cookie': 'canary=; Max-Age=0; Path=/' } } });
    assert.equal(done[1]?.route[1]?.headers, undefined);
    assert.deepEqual(router.readRoutes(subject, [after]), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false, session: { state: 'expiring', setCookie: 'canary=; Max-Age=0; Path=/' } });

    const [mirrored] = router.build(subject, { canaryWeight: 0, match: false, mirror: true }, lookup);
    assert.equal((mirrored?.spec as { http: Route[] }).http.length, 1, 'no session rule while mirroring');
  });

  test('gatewayapi: service.headers as one RequestHeaderModifier and one ResponseHeaderModifier per rule; perTryTimeout is backendRequest, retries are not carried over', () => {
    const subject = canary('gatewayapi', { service: featureService }, { stepWeight: undefined, iterations: 2, mirror: true, mirrorWeight: 10 });
    const router = routerFor(subject);
    const [route] = router.build(subject, { canaryWeight: 0, match: false, mirror: true }, lookup);
    const rules = (route?.spec as { rules: Record<string, unknown>[] }).rules;
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0]?.filters, [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-env', value: 'prod' }], add: [{ name: 'x-via', value: 'sluice' }], remove: ['x-debug'] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'cache-control', value: 'no-store' }], remove: ['server'] } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'web-canary', port: 80 }, percent: 10 } },
    ]);
    assert.deepEqual(rules[0]?.timeouts, { request: '15s', backendRequest: '5s' });
    assert.equal(rules[0]?.retry, undefined, 'HTTPRoute retry is experimental-channel only');
    assert.equal(JSON.stringify(route).includes('attempts'), false);
    assert.equal(router.readRoutes(subject, [route])?.mirror, true);

    const ab = canary('gatewayapi', { service: featureService }, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] });
    const [abRoute] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const abRules = (abRoute?.spec as { rules: { filters?: { type: string }[] }[] }).rules;
    assert.deepEqual(abRules.map((r) => r.filters?.map((f) => f.type)), [['RequestHeaderModifier', 'ResponseHeaderModifier'], ['RequestHeaderModifier', 'ResponseHeaderModifier']]);
  });

  test('gatewayapi: A/B and session rules are ANDed with service.match', () => {
    const serviceMatch = [{ path: { type: 'PathPrefix', value: '/api' } }, { path: { type: 'PathPrefix', value: '/v2' }, headers: [{ name: 'x-tenant', type: 'Exact', value: 'a' }] }];
    const ab = canary('gatewayapi', { service: { port: 80, match: serviceMatch } }, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { prefix: 'in' } } }] });
    const [route] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    const rules = (route?.spec as { rules: { matches?: unknown[] }[] }).rules;
    assert.deepEqual(rules[0]?.matches, [
      { path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-canary', type: 'RegularExpression', value: '^in.*' }] },
      { path: { type: 'PathPrefix', value: '/v2' }, headers: [{ name: 'x-tenant', type: 'Exact', value: 'a' }, { name: 'x-canary', type: 'RegularExpression', value: '^in.*' }] },
    ]);
    assert.deepEqual(rules[1]?.matches, serviceMatch);

    const sticky = withStatus(canary('gatewayapi', { service: { port: 80, match: serviceMatch } }, { sessionAffinity: { cookieName: 'canary' } }), 'r2');
    const [stickyRoute] = routerFor(sticky).build(sticky, weight(20), lookup);
    const stickyRules = (stickyRoute?.spec as { rules: { matches?: { headers?: { name: string }[] }[] }[] }).rules;
    assert.deepEqual(stickyRules[0]?.matches?.map((m) => m.headers?.map((h) => h.name)), [['Cookie'], ['x-tenant', 'Cookie']]);
  });

  test('gatewayapi: sessionAffinity with a Set-Cookie filter on the canary backendRef, and an expiring rule after the rollout', () => {
    const subject = withStatus(canary('gatewayapi', { service: { port: 80, headers: { response: { add: { 'x-served-by': 'web' } } } } }, { sessionAffinity: { cookieName: 'canary' } }), 'r1');
    const router = routerFor(subject);
    const [route] = router.build(subject, weight(40), lookup);
    type Rule = { name?: string; matches?: { headers: unknown[] }[]; filters?: unknown[]; backendRefs: { name: string; weight: number; filters?: unknown[] }[] };
    const rules = (route?.spec as { rules: Rule[] }).rules;
    assert.equal(rules.length, 2);
    assert.equal(rules[0]?.name, 'session-affinity');
    assert.deepEqual(rules[0]?.matches, [{ headers: [{ name: 'Cookie', type: 'RegularExpression', value: '^(.*;\\s*)?canary=r1(;.*)?$' }] }]);
    assert.deepEqual(rules[0]?.backendRefs.map((b) => [b.name, b.weight]), [['web-primary', 0], ['web-canary', 100]]);
    assert.deepEqual(rules[0]?.filters, [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'web' }] } }]);
    assert.deepEqual(rules[1]?.backendRefs.map((b) => [b.name, b.weight]), [['web-primary', 60], ['web-canary', 40]]);
    assert.equal(rules[1]?.backendRefs[0]?.filters, undefined);
    assert.deepEqual(rules[1]?.backendRefs[1]?.filters, [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: 'canary=r1; Max-Age=86400; Path=/' }] } }]);
    assert.deepEqual(router.readRoutes(subject, [route]), { primaryWeight: 60, canaryWeight: 40, mirror: false, match: false, session: { state: 'sticky', setCookie: 'canary=r1; Max-Age=86400; Path=/' } });

    const [after] = router.build(subject, weight(0), lookup);
    const done = (after?.spec as { rules: Rule[] }).rules;
    assert.deepEqual(done[0]?.backendRefs.map((b) => [b.name, b.weight]), [['web-primary', 100], ['web-canary', 0]]);
    assert.deepEqual(done[0]?.backendRefs[0]?.filters, [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'Set-Cookie', value: 'canary=; Max-Age=0; Path=/' }] } }]);
    assert.equal(done[1]?.backendRefs[1]?.filters, undefined);
    assert.deepEqual(router.readRoutes(subject, [after]), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false, session: { state: 'expiring', setCookie: 'canary=; Max-Age=0; Path=/' } });

    const ab = withStatus(canary('gatewayapi', {}, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }], sessionAffinity: { cookieName: 'canary' } }), 'r1');
    const [abRoute] = routerFor(ab).build(ab, { canaryWeight: 0, match: true, mirror: false }, lookup);
    assert.deepEqual(routerFor(ab).readRoutes(ab, [abRoute]), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: true }, 'no session rule during A/B');
  });

  test('gatewayapi: timeouts.request from service.timeout, backendRequest from retries.perTryTimeout only with attempts, never longer than request, in GEP-2257 form', () => {
    const timeoutsOf = (service: Canary['spec']['service']): unknown => {
      const subject = canary('gatewayapi', { service });
      const [route] = routerFor(subject).build(subject, weight(10), lookup);
      return (route?.spec as { rules: { timeouts?: unknown }[] }).rules[0]?.timeouts;
    };
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '15s', retries: { attempts: 2, perTryTimeout: '5s' } }), { request: '15s', backendRequest: '5s' });
    assert.deepEqual(timeoutsOf({ port: 80, retries: { attempts: 1, perTryTimeout: '5s' } }), { backendRequest: '5s' }, 'backendRequest alone');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '15s', retries: { attempts: 0, perTryTimeout: '5s' } }), { request: '15s' }, 'attempts 0: Istio drops the retry policy, perTryTimeout with it');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '15s', retries: { perTryTimeout: '5s' } }), { request: '15s' }, 'attempts unset is 0');
    assert.equal(timeoutsOf({ port: 80, retries: { attempts: 3, retryOn: '5xx' } }), undefined);
    assert.equal(timeoutsOf({ port: 80 }), undefined);
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '2s', retries: { attempts: 2, perTryTimeout: '3s' } }), { request: '2s', backendRequest: '2s' }, 'clamped to request');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '1m', retries: { attempts: 2, perTryTimeout: '61s' } }), { request: '1m', backendRequest: '1m' }, 'compared as durations');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '1m', retries: { attempts: 2, perTryTimeout: '60s' } }), { request: '1m', backendRequest: '60s' }, 'equal is allowed');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '0s', retries: { attempts: 2, perTryTimeout: '3s' } }), { request: '0s', backendRequest: '3s' }, 'request 0s is no timeout: nothing to clamp to');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '1.5s', retries: { attempts: 2, perTryTimeout: '0.25s' } }), { request: '1s500ms', backendRequest: '250ms' }, 'decimals rewritten');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '100000s', retries: { attempts: 2, perTryTimeout: '0.2ms' } }), { request: '27h46m40s', backendRequest: '1ms' }, 'six digits rewritten; below 1ms is 1ms, not 0s');
    assert.deepEqual(timeoutsOf({ port: 80, timeout: '1h30m' }), { request: '1h30m' }, 'a GEP-2257 duration is kept as written');
  });

  type CorsRule = { name?: string; filters?: { type: string; cors?: Record<string, unknown> }[] };
  const corsOf = (corsPolicy: Record<string, unknown>, analysis: Partial<Canary['spec']['analysis']> = {}, routes: Routes = weight(10)): (Record<string, unknown> | undefined)[] => {
    const subject = withStatus(canary('gatewayapi', { service: { port: 80, corsPolicy } }, analysis), 'r1');
    const [route] = routerFor(subject).build(subject, routes, lookup);
    return (route?.spec as { rules: CorsRule[] }).rules.map((rule) => rule.filters?.find((f) => f.type === 'CORS')?.cors);
  };

  test('gatewayapi: service.corsPolicy as one CORS filter on every rule', () => {
    const policy = {
      allowOrigins: [{ exact: 'https://example.com' }, { exact: 'http://localhost:3000' }],
      allowMethods: ['GET', 'POST', 'PUT'],
      allowHeaders: ['authorization', 'x-requested-with'],
      exposeHeaders: ['x-request-id'],
      maxAge: '24h',
      allowCredentials: true,
    };
    const expected = {
      allowOrigins: ['https://example.com', 'http://localhost:3000'],
      allowMethods: ['GET', 'POST', 'PUT'],
      allowHeaders: ['authorization', 'x-requested-with'],
      exposeHeaders: ['x-request-id'],
      maxAge: 86_400,
      allowCredentials: true,
    };
    assert.deepEqual(corsOf(policy), [expected]);
    assert.deepEqual(corsOf(policy, { sessionAffinity: { cookieName: 'c' } }), [expected, expected], 'session rule and weighted rule');
    assert.deepEqual(corsOf(policy, { stepWeight: undefined, iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] }, { canaryWeight: 0, match: true, mirror: false }), [expected, expected], 'A/B rule and default rule');

    const subject = canary('gatewayapi', { service: { ...featureService, corsPolicy: policy } }, { stepWeight: undefined, iterations: 2, mirror: true, mirrorWeight: 10 });
    const [mirrored] = routerFor(subject).build(subject, { canaryWeight: 0, match: false, mirror: true }, lookup);
    const filters = (mirrored?.spec as { rules: CorsRule[] }).rules[0]?.filters;
    assert.deepEqual(filters?.map((f) => f.type), ['RequestHeaderModifier', 'ResponseHeaderModifier', 'CORS', 'RequestMirror']);
    assert.equal(routerFor(subject).readRoutes(subject, [mirrored])?.mirror, true);

    assert.deepEqual(corsOf({ allowOrigin: ['https://example.com'], allowMethods: ['GET'] }), [{ allowOrigins: ['https://example.com'], allowMethods: ['GET'] }], 'the deprecated allowOrigin');
    assert.deepEqual(corsOf({ allowOrigins: [{ exact: 'https://new.example.com' }], allowOrigin: ['https://old.example.com'] }), [{ allowOrigins: ['https://new.example.com'] }], 'allowOrigins wins, as in Istio');
    assert.deepEqual(corsOf({ allowOrigins: [], allowOrigin: ['https://old.example.com'] }), [{ allowOrigins: ['https://old.example.com'] }], 'an empty allowOrigins is unset, as in Istio');
  });

  test('gatewayapi: corsPolicy parts Gateway API cannot carry are left out, never widened', () => {
    assert.deepEqual(corsOf({
      allowOrigins: [
        { exact: 'https://example.com' }, { prefix: 'https://app.' }, { regex: 'https://.*\\.example\\.com' },
        { exact: 'https://*.example.com' }, { exact: 'null' }, { exact: 'ftp://example.com' }, { exact: 'https://example.com/path' }, { exact: 'https://example.com' },
      ],
    }), [{ allowOrigins: ['https://example.com'] }], 'prefix, regex, literal-* and non-http(s) origins left out; duplicates once');
    assert.deepEqual(corsOf({ allowOrigins: [{ regex: '.*' }, { prefix: 'https://' }], allowMethods: ['GET'] }), [undefined], 'no origin left: no CORS filter');
    assert.deepEqual(corsOf({ allowMethods: ['GET'], maxAge: '1h' }), [undefined], 'no origins at all: no CORS filter');
    assert.deepEqual(corsOf({ allowOrigin: ['https://a.example.com', '*'] }), [{ allowOrigins: ['*'] }], '* among origins is * alone');
    const many = Array.from({ length: 70 }, (_, i) => `https://o${i}.example.com`);
    assert.deepEqual(corsOf({ allowOrigin: many })[0]?.allowOrigins, many.slice(0, 64), 'at most 64 origins');

    assert.deepEqual(corsOf({ allowOrigin: ['*'], allowMethods: ['GET', 'get', 'PROPFIND', 'PATCH', 'GET'], allowHeaders: ['X-A', 'x-a', 'bad header', ':authority', 'x'.repeat(257)], exposeHeaders: ['X-B', 7] }), [
      { allowOrigins: ['*'], allowMethods: ['GET', 'PATCH'], allowHeaders: ['X-A'], exposeHeaders: ['X-B'] },
    ], 'methods outside the enum, invalid header names and duplicates left out');

    const wild = { allowOrigin: ['*'], allowMethods: ['GET', '*'], allowHeaders: ['*'], exposeHeaders: ['*', 'x-request-id'] };
    assert.deepEqual(corsOf(wild), [{ allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], exposeHeaders: ['*'] }], 'without credentials * is a wildcard: alone');
    assert.deepEqual(corsOf({ ...wild, allowCredentials: true }), [{ allowOrigins: ['*'], allowMethods: ['GET'], exposeHeaders: ['x-request-id'], allowCredentials: true }], 'with credentials * is a literal name in Istio: left out');
    assert.deepEqual(corsOf({ allowOrigin: ['*'], allowCredentials: false }), [{ allowOrigins: ['*'] }], 'allowCredentials false is unset');

    const maxAge = (value: unknown): unknown => corsOf({ allowOrigin: ['*'], maxAge: value })[0]?.maxAge;
    assert.equal(maxAge('10m'), 600);
    assert.equal(maxAge('90.9s'), 90, 'whole seconds, truncated as Istio does');
    assert.equal(maxAge('500ms'), 1, 'below a second: the least the CRD accepts');
    assert.equal(maxAge('0s'), 1);
    assert.equal(maxAge('1000000h'), 2_147_483_647, 'int32');
    assert.equal(maxAge('forever'), undefined, 'not a duration: the gateway default');
    assert.equal(maxAge(600), undefined);

    assert.deepEqual(corsOf({ allowOrigin: ['*'], unmatchedPreflights: 'IGNORE' }), [{ allowOrigins: ['*'] }], 'unmatchedPreflights has no equivalent');
  });
});

test('routerLimitations names the set fields a router ignores or carries in part', () => {
  const spec = (provider: CanaryProvider, service: Partial<Canary['spec']['service']>, analysis: Partial<Canary['spec']['analysis']> = {}): Canary => ({
    apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'app', namespace: 'ns' },
    spec: { provider, targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' }, service: { port: 80, ...service }, analysis: { stepWeight: 10, ...analysis } },
  });
  const limits = (c: Canary) => routerLimitations(routerFor(c), c).map((l) => l.message);
  assert.deepEqual(limits(spec('istio', { headers: { request: { set: { a: 'b' } } }, retries: { attempts: 2 }, corsPolicy: { allowOrigins: [{ regex: '.*' }] } })), []);
  assert.deepEqual(limits(spec('nginx', { timeout: '5s', match: [] }, { mirror: false })), ['service.timeout: not used by provider nginx']);
  const gateway = limits(spec('gatewayapi', { retries: { attempts: 2 }, corsPolicy: { allowOrigin: ['https://a.example'] }, trafficPolicy: { tls: {} } }));
  assert.equal(gateway.length, 3);
  assert.match(gateway[0] ?? '', /^service\.corsPolicy: only exact/);
  assert.match(gateway[1] ?? '', /^service\.retries: only perTryTimeout is carried/);
  assert.equal(gateway[2], 'service.trafficPolicy: not used by provider gatewayapi');
  assert.deepEqual(limits(spec('linkerd', {}, { sessionAffinity: { cookieName: 'c' } })), ['analysis.sessionAffinity: not used by provider linkerd']);
});
