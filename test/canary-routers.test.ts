// The istio and gatewayapi routers against the real local cluster with the
// real Istio (istio.io/api v1.28.0) and Gateway API (v1.5.0, standard channel)
// CRDs: istio A/B and mirrored Blue/Green rollouts with the routes read back
// at every iteration; a weighted rollout with service headers, retries,
// timeout, CORS and session affinity on both routers; and every object the two
// routers build for every kind of routes, sent to the API server with strict
// field validation (an unknown field is an error, not silently pruned).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary, CanaryAnalysis, CanaryProvider, CanarySpec, KubeObject } from '../src/api/types.ts';
import { routerFor } from '../src/canary/routers/factory.ts';
import type { ObservedRoutes } from '../src/canary/routers/router.ts';
import type { Routes } from '../src/canary/state.ts';
import type { Deployment } from '../src/canary/workloads.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { prepareForApply } from '../src/kube/ssa.ts';
import type { ObjectRef } from '../src/kube/types.ts';
import { applyDeployment, canaryObject, everyTick, getCanary, startController, targetDeploymentYaml, waitForPhase } from './env/canary.ts';
import { createTestNamespace, testKubeClient } from './env/cluster.ts';

// Rollouts here run several iterations: a phase may take 90 s.
const PHASE_TIMEOUT_MS = 90_000;

async function routedObject(client: KubeClient, canary: Canary): Promise<KubeObject | undefined> {
  const [ref] = routerFor(canary).routedObjects(canary);
  return ref ? client.find(ref) : undefined;
}

function readBack(canary: Canary, object: KubeObject | undefined): ObservedRoutes | undefined {
  return routerFor(canary).readRoutes(canary, [object]);
}

/** The Canary as it was and its router object as it was for that status. */
interface Sample {
  canary: Canary;
  object: KubeObject;
}

const version = (object: KubeObject): number => Number(object.metadata.resourceVersion);

/**
 * Samples the Canary and its router object every 100 ms while the rollout
 * runs. The controller applies the routes of a tick before it writes that
 * tick's status, so a router object read after the Canary whose
 * resourceVersion is below the Canary's has not changed since that status was
 * written: it holds the routes for that status. Only such samples are kept
 * (resourceVersions come from the one etcd of the test cluster and increase);
 * a sample whose router object changed in between is dropped, never judged.
 */
function sampleRollout(client: KubeClient, namespace: string, name: string): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  const ticks = everyTick(async () => {
    const canary = await getCanary(client, namespace, name);
    const object = await routedObject(client, canary);
    if (object && version(object) < version(canary)) samples.push({ canary, object });
  });
  return {
    async stop() {
      await ticks.stop();
      return samples;
    },
  };
}

interface IstioRoute {
  name?: string;
  match?: Record<string, unknown>[];
  route: { destination: { host: string; port?: { number: number } }; weight: number; headers?: Record<string, unknown> }[];
  mirror?: { host: string; port?: { number: number } };
  mirrorPercentage?: { value: number };
  headers?: Record<string, unknown>;
  retries?: Record<string, unknown>;
  timeout?: string;
}
const istioHttp = (object: KubeObject): IstioRoute[] => (object.spec as { http: IstioRoute[] }).http;
const weights = (route: IstioRoute | undefined): [string, number][] | undefined => route?.route.map((d) => [d.destination.host, d.weight]);

/** Fails unless every field of `expected` is in `actual` with the same value (the API server may add defaults). */
function assertContains(actual: unknown, expected: unknown, at = '$'): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${at} is an array`);
    assert.equal(actual.length, expected.length, `${at} length`);
    expected.forEach((item, i) => assertContains(actual[i], item, `${at}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${at} is an object`);
    for (const [key, value] of Object.entries(expected)) assertContains((actual as Record<string, unknown>)[key], value, `${at}.${key}`);
  } else {
    assert.equal(actual, expected, at);
  }
}

/**
 * The controller's server-side apply (same body, same content type), as a
 * dry run: the API server checks the schema, the CEL rules and unknown fields
 * (server-side apply rejects those whatever fieldValidation says; Strict is
 * set so that this holds for any request path), and stores nothing. Resolves
 * with the error, if any.
 */
async function strictDryRun(client: KubeClient, object: KubeObject): Promise<Error | undefined> {
  const ref: ObjectRef = { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name };
  try {
    await client.rest.request({
      method: 'PATCH',
      path: await client.pathFor(ref),
      query: { fieldManager: 'sluice', force: true, dryRun: 'All', fieldValidation: 'Strict' },
      body: prepareForApply(object),
      contentType: 'application/apply-patch+yaml',
      what: `strict dry-run apply ${object.kind} ${object.metadata.name}`,
    });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

describe('Canary routers on the real CRDs', () => {
  let client: KubeClient;
  before(() => {
    client = testKubeClient();
  });
  after(() => client.close());

  test('istio A/B: at every iteration the match route goes to the canary and the default route to the primary; A/B rules gone after promotion', async () => {
    const namespace = await createTestNamespace('routers-istio-ab');
    await applyDeployment(namespace, targetDeploymentYaml('ab', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      const match = [{ headers: { 'x-canary': { exact: 'insider' } } }, { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' } } }];
      const iterations = 3;
      await client.apply(canaryObject(namespace, 'ab', 'istio', { iterations, match }));
      const initialized = await waitForPhase(client, namespace, 'ab', 'Initialized', PHASE_TIMEOUT_MS);
      assert.deepEqual(readBack(initialized, await routedObject(client, initialized)), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false });

      const sampler = sampleRollout(client, namespace, 'ab');
      await applyDeployment(namespace, targetDeploymentYaml('ab', 'example.com/app:2'));
      const done = await waitForPhase(client, namespace, 'ab', 'Succeeded', PHASE_TIMEOUT_MS);
      const samples = await sampler.stop();
      const revision = done.status?.lastAppliedSpec;
      assert.notEqual(revision, initialized.status?.lastAppliedSpec);

      const analysing = samples.filter((s) => s.canary.status?.phase === 'Progressing' && s.canary.status.lastAppliedSpec === revision);
      // Iteration 0 lasts only until the canary is ready (the first check is due at once) and may
      // fall between two samples; every later one lasts an interval. All samples are judged.
      const seen = new Set(analysing.map((s) => s.canary.status?.iterations ?? 0));
      for (let i = 1; i < iterations; i++) assert.ok(seen.has(i), `a sample after ${i} passed check(s) (seen ${[...seen].join(',')})`);
      for (const { canary, object } of analysing) {
        const at = `iteration ${canary.status?.iterations ?? 0}`;
        assert.deepEqual(readBack(canary, object), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: true }, at);
        const http = istioHttp(object);
        assert.equal(http.length, 2, at);
        assert.deepEqual(http[0]?.match, match, `${at}: the A/B route matches analysis.match`);
        assert.deepEqual(weights(http[0]), [['ab-primary', 0], ['ab-canary', 100]], `${at}: the A/B route goes to the canary`);
        assert.equal(http[1]?.match, undefined, `${at}: the default route matches everything`);
        assert.deepEqual(weights(http[1]), [['ab-primary', 100], ['ab-canary', 0]], `${at}: the default route goes to the primary`);
      }
      const promoting = samples.filter((s) => ['Promoting', 'Finalising', 'Succeeded'].includes(s.canary.status?.phase ?? ''));
      assert.ok(promoting.length > 0, 'samples after the analysis');
      for (const { canary, object } of promoting) assert.equal(readBack(canary, object)?.match, false, `no A/B route in ${canary.status?.phase ?? ''}`);

      const final = await routedObject(client, done);
      assert.deepEqual(readBack(done, final), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false });
      assert.equal(istioHttp(final as KubeObject).length, 1);
      assert.equal((await client.get<Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'ab-primary' })).spec.template.spec.containers?.[0]?.image, 'example.com/app:2');
    } finally {
      await harness.stop();
    }
  });

  test('istio Blue/Green with mirroring: mirror and mirrorPercentage during the analysis, gone after promotion', async () => {
    const namespace = await createTestNamespace('routers-istio-bg');
    await applyDeployment(namespace, targetDeploymentYaml('bg', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      const iterations = 3;
      await client.apply(canaryObject(namespace, 'bg', 'istio', { iterations, mirror: true, mirrorWeight: 30 }));
      await waitForPhase(client, namespace, 'bg', 'Initialized', PHASE_TIMEOUT_MS);
      const sampler = sampleRollout(client, namespace, 'bg');
      await applyDeployment(namespace, targetDeploymentYaml('bg', 'example.com/app:2'));
      const done = await waitForPhase(client, namespace, 'bg', 'Succeeded', PHASE_TIMEOUT_MS);
      const samples = await sampler.stop();

      const analysing = samples.filter((s) => s.canary.status?.phase === 'Progressing' && s.canary.status.lastAppliedSpec === done.status?.lastAppliedSpec);
      // Iteration 0 lasts only until the canary is ready (the first check is due at once) and may
      // fall between two samples; every later one lasts an interval. All samples are judged.
      const seen = new Set(analysing.map((s) => s.canary.status?.iterations ?? 0));
      for (let i = 1; i < iterations; i++) assert.ok(seen.has(i), `a sample after ${i} passed check(s) (seen ${[...seen].join(',')})`);
      for (const { canary, object } of analysing) {
        const at = `iteration ${canary.status?.iterations ?? 0}`;
        assert.deepEqual(readBack(canary, object), { primaryWeight: 100, canaryWeight: 0, mirror: true, match: false }, at);
        const [route] = istioHttp(object);
        assert.deepEqual(route?.mirror, { host: 'bg-canary', port: { number: 80 } }, at);
        assert.deepEqual(route?.mirrorPercentage, { value: 30 }, at);
        assert.deepEqual(weights(route), [['bg-primary', 100], ['bg-canary', 0]], `${at}: all live traffic on the primary`);
      }
      const final = await routedObject(client, done);
      assert.deepEqual(readBack(done, final), { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false });
      const [route] = istioHttp(final as KubeObject);
      assert.equal(route?.mirror, undefined, 'mirror removed');
      assert.equal(route?.mirrorPercentage, undefined, 'mirrorPercentage removed');
    } finally {
      await harness.stop();
    }
  });

  test('istio and gatewayapi: headers, retries, timeouts, CORS and session affinity in a weighted rollout, as built and as read back', async () => {
    const namespace = await createTestNamespace('routers-session');
    const service: CanarySpec['service'] = {
      port: 80, targetPort: 8080, timeout: '20s',
      retries: { attempts: 3, perTryTimeout: '5s', retryOn: 'gateway-error,connect-failure,503' },
      headers: {
        request: { set: { 'x-env': 'prod' }, add: { 'x-via': 'sluice' }, remove: ['x-debug'] },
        response: { set: { 'cache-control': 'no-store' }, add: { 'x-served-by': 'sluice' }, remove: ['server'] },
      },
    };
    const analysis: CanaryAnalysis = { stepWeight: 25, maxWeight: 50, sessionAffinity: { cookieName: 'sluice-canary', maxAge: 600 } };
    const edgeCors = { allowOrigins: [{ exact: 'https://shop.example.com' }, { regex: 'https://.*\\.example\\.org' }], allowMethods: ['GET', 'POST'], allowHeaders: ['authorization'], exposeHeaders: ['x-request-id'], maxAge: '12h', allowCredentials: true };
    const canaries = [
      canaryObject(namespace, 'mesh', 'istio', analysis, { service }),
      canaryObject(namespace, 'edge', 'gatewayapi', analysis, { service: { ...service, gatewayRefs: [{ name: 'public', namespace: 'gateways' }], corsPolicy: edgeCors } }),
    ];
    for (const canary of canaries) await applyDeployment(namespace, targetDeploymentYaml(canary.metadata.name, 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      for (const canary of canaries) await client.apply(canary);
      for (const canary of canaries) await waitForPhase(client, namespace, canary.metadata.name, 'Initialized', PHASE_TIMEOUT_MS);
      const samplers = canaries.map((canary) => sampleRollout(client, namespace, canary.metadata.name));
      for (const canary of canaries) await applyDeployment(namespace, targetDeploymentYaml(canary.metadata.name, 'example.com/app:2'));
      const done = await Promise.all(canaries.map((canary) => waitForPhase(client, namespace, canary.metadata.name, 'Succeeded', PHASE_TIMEOUT_MS)));
      const sampled = await Promise.all(samplers.map((s) => s.stop()));

      for (const [i, canary] of canaries.entries()) {
        const name = canary.metadata.name;
        const revision = done[i]?.status?.lastAppliedSpec ?? '';
        const split = (sampled[i] ?? []).filter((s) => s.canary.status?.phase === 'Progressing' && s.canary.status.lastAppliedSpec === revision && (s.canary.status.canaryWeight ?? 0) > 0);
        assert.deepEqual([...new Set(split.map((s) => s.canary.status?.canaryWeight))], [25, 50], `${name}: samples at each step`);
        for (const { canary: at, object } of split) {
          const weight = at.status?.canaryWeight ?? 0;
          assert.deepEqual(readBack(at, object), {
            primaryWeight: 100 - weight, canaryWeight: weight, mirror: false, match: false,
            session: { state: 'sticky', setCookie: `sluice-canary=${revision}; Max-Age=600; Path=/` },
          }, `${name} at ${weight}`);
          // What the router builds for this status is in the cluster field by field: nothing was dropped.
          assertContains(object.spec, routerFor(at).build(at, { canaryWeight: weight, match: false, mirror: false }, () => undefined)[0]?.spec, `${name} at ${weight}`);
        }
        const final = done[i] as Canary;
        const object = await routedObject(client, final);
        assert.deepEqual(readBack(final, object), {
          primaryWeight: 100, canaryWeight: 0, mirror: false, match: false,
          session: { state: 'expiring', setCookie: 'sluice-canary=; Max-Age=0; Path=/' },
        }, `${name} after promotion`);
        const built = routerFor(final).build(final, { canaryWeight: 0, match: false, mirror: false }, () => undefined)[0];
        assertContains(object?.spec, built?.spec, `${name} after promotion`);
        assert.ok(JSON.stringify(object?.spec).includes(`sluice-canary=${revision}`), `${name}: the expiring rule matches this rollout's cookie`);
      }

      // Field by field, for the record: Istio carries retries; Gateway API (standard channel) has no retry field,
      // only perTryTimeout as backendRequest, and CORS without the regex origin.
      const vs = await routedObject(client, done[0] as Canary);
      for (const route of istioHttp(vs as KubeObject)) {
        assert.deepEqual(route.retries, { attempts: 3, perTryTimeout: '5s', retryOn: 'gateway-error,connect-failure,503' });
        assert.equal(route.timeout, '20s');
        assert.deepEqual(route.headers, service.headers);
      }
      const httpRoute = await routedObject(client, done[1] as Canary);
      for (const rule of (httpRoute?.spec as { rules: { filters?: { type: string; cors?: unknown }[]; timeouts?: unknown }[] }).rules) {
        assert.deepEqual(rule.filters?.map((f) => f.type), ['RequestHeaderModifier', 'ResponseHeaderModifier', 'CORS']);
        assert.deepEqual(rule.filters?.[2]?.cors, {
          allowOrigins: ['https://shop.example.com'], allowMethods: ['GET', 'POST'], allowHeaders: ['authorization'], exposeHeaders: ['x-request-id'], maxAge: 43_200, allowCredentials: true,
        });
        assert.deepEqual(rule.timeouts, { request: '20s', backendRequest: '5s' });
      }
    } finally {
      await harness.stop();
    }
  });

  test('every object the istio and gatewayapi routers build passes strict server-side validation', async () => {
    const namespace = await createTestNamespace('routers-dry-run');
    const service: CanarySpec['service'] = {
      port: 9898, timeout: '15s', hosts: ['app.example.com'],
      retries: { attempts: 2, perTryTimeout: '3s', retryOn: '5xx,reset' },
      headers: {
        request: { set: { 'x-env': 'prod' }, add: { 'x-via': 'sluice' }, remove: ['x-debug'] },
        response: { set: { 'cache-control': 'no-store' }, add: { 'x-served-by': 'sluice' }, remove: ['server'] },
      },
    };
    const variants: { label: string; provider: CanaryProvider; service: CanarySpec['service']; analysis: CanaryAnalysis; routes: Routes[] }[] = [];
    const weighted: Routes[] = [{ canaryWeight: 0, match: false, mirror: false }, { canaryWeight: 30, match: false, mirror: false }, { canaryWeight: 100, match: false, mirror: false }];
    const istioService = { ...service, gateways: ['mesh', 'public'], match: [{ uri: { prefix: '/api' } }], rewrite: { uri: '/' }, corsPolicy: { allowOrigins: [{ exact: 'https://example.com' }], allowMethods: ['GET'] }, trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } };
    const gatewayCors = {
      allowOrigins: [{ exact: 'https://example.com' }, { exact: 'http://localhost:3000' }, { prefix: 'https://app.' }, { regex: 'https://.*\\.example\\.org' }, { exact: 'null' }],
      allowMethods: ['GET', 'POST', 'PUT', 'get', 'PROPFIND'], allowHeaders: ['authorization', 'x-requested-with', 'bad header'], exposeHeaders: ['x-request-id'],
      maxAge: '24h', allowCredentials: true, unmatchedPreflights: 'IGNORE',
    };
    const gatewayService = { ...service, gatewayRefs: [{ name: 'public', namespace: 'gateways', sectionName: 'https' }], match: [{ path: { type: 'PathPrefix', value: '/api' } }], corsPolicy: gatewayCors };
    // Durations the Canary accepts and Gateway API does not (rewritten), a perTryTimeout longer than the
    // timeout (clamped), and * everywhere without credentials (alone).
    const gatewayEdgeService: CanarySpec['service'] = {
      port: 8080, timeout: '1.5s', retries: { attempts: 1, perTryTimeout: '2.25s' },
      corsPolicy: { allowOrigin: ['https://a.example.com', '*'], allowMethods: ['GET', '*'], allowHeaders: ['*'], exposeHeaders: ['*'], maxAge: '0.5s' },
    };
    const ab: CanaryAnalysis = { iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }, { headers: { cookie: { regex: '^(.*?;)?(canary=always)(;.*)?$' }, 'x-region': { prefix: 'eu-' } } }] };
    const services: [CanaryProvider, [string, CanarySpec['service']][]][] = [
      ['istio', [['plain', { port: 80 }], ['all service fields', istioService]]],
      ['gatewayapi', [['plain', { port: 80 }], ['all service fields', gatewayService], ['rewritten timeouts and wildcard CORS', gatewayEdgeService]]],
    ];
    for (const [provider, labelled] of services) {
      for (const [label, svc] of labelled) {
        variants.push({ label: `${provider} canary, ${label}`, provider, service: svc, analysis: { stepWeight: 30, sessionAffinity: { cookieName: 'canary.session' } }, routes: weighted });
        variants.push({ label: `${provider} A/B, ${label}`, provider, service: svc, analysis: ab, routes: [{ canaryWeight: 0, match: true, mirror: false }] });
        variants.push({ label: `${provider} mirrored Blue/Green, ${label}`, provider, service: svc, analysis: { iterations: 2, mirror: true, mirrorWeight: 25 }, routes: [{ canaryWeight: 0, match: false, mirror: true }] });
      }
    }
    let checked = 0;
    for (const variant of variants) {
      const canary = canaryObject(namespace, 'app', variant.provider, variant.analysis, { service: variant.service });
      canary.metadata.uid = '00000000-0000-0000-0000-000000000001';
      canary.status = { lastAppliedSpec: '5d41402abc4b2a76' };
      for (const routes of variant.routes) {
        for (const object of routerFor(canary).build(canary, routes, () => undefined)) {
          const error = await strictDryRun(client, object);
          assert.equal(error, undefined, `${variant.label}, ${object.kind} for ${JSON.stringify(routes)}: ${error?.message ?? ''}`);
          checked++;
        }
      }
    }

    // istio: 3 objects (VirtualService, 2 DestinationRules) × (3 weights + A/B + mirror), two services;
    // gatewayapi: 1 HTTPRoute × 5, three services.
    assert.equal(checked, 2 * 3 * 5 + 3 * 1 * 5, 'objects checked');

    // What was checked has the new fields: the CORS filter and both timeouts, on every rule.
    type GatewayRule = { filters?: { type: string; cors?: unknown }[]; timeouts?: unknown };
    const gatewayRules = (svc: CanarySpec['service']): GatewayRule[] => {
      const subject = canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 30, sessionAffinity: { cookieName: 'canary.session' } }, { service: svc });
      subject.metadata.uid = '00000000-0000-0000-0000-000000000001';
      subject.status = { lastAppliedSpec: '5d41402abc4b2a76' };
      const [route] = routerFor(subject).build(subject, { canaryWeight: 30, match: false, mirror: false }, () => undefined);
      return (route?.spec as { rules: GatewayRule[] }).rules;
    };
    const full = gatewayRules(gatewayService);
    assert.equal(full.length, 2, 'session rule and weighted rule');
    for (const rule of full) {
      assert.deepEqual(rule.filters?.find((f) => f.type === 'CORS')?.cors, {
        allowOrigins: ['https://example.com', 'http://localhost:3000'], allowMethods: ['GET', 'POST', 'PUT'], allowHeaders: ['authorization', 'x-requested-with'],
        exposeHeaders: ['x-request-id'], maxAge: 86_400, allowCredentials: true,
      });
      assert.deepEqual(rule.timeouts, { request: '15s', backendRequest: '3s' });
    }
    for (const rule of gatewayRules(gatewayEdgeService)) {
      assert.deepEqual(rule.filters?.find((f) => f.type === 'CORS')?.cors, { allowOrigins: ['*'], allowMethods: ['*'], allowHeaders: ['*'], exposeHeaders: ['*'], maxAge: 1 });
      assert.deepEqual(rule.timeouts, { request: '1s500ms', backendRequest: '1s500ms' });
    }

    // The check has teeth: a field the standard-channel HTTPRoute does not have is an error.
    const canary = canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 10 }, { service: gatewayService });
    canary.metadata.uid = '00000000-0000-0000-0000-000000000001';
    const [route] = routerFor(canary).build(canary, { canaryWeight: 10, match: false, mirror: false }, () => undefined);
    const rules = (route?.spec as { rules: Record<string, unknown>[] }).rules;
    for (const rule of rules) rule.retry = { attempts: 2, codes: [503] };
    const rejected = await strictDryRun(client, route as KubeObject);
    assert.match(rejected?.message ?? 'accepted', /\.spec\.rules\[0\]\.retry: field not declared in schema/, 'rules[].retry is not in the v1.5.0 standard-channel HTTPRoute');

    // And what the router rewrites or leaves out would be rejected as written.
    const rejectedWith = async (change: (rule: Record<string, unknown>) => void): Promise<string> => {
      const [edited] = routerFor(canary).build(canary, { canaryWeight: 10, match: false, mirror: false }, () => undefined);
      for (const rule of (edited?.spec as { rules: Record<string, unknown>[] }).rules) change(rule);
      return (await strictDryRun(client, edited as KubeObject))?.message ?? 'accepted';
    };
    assert.match(await rejectedWith((rule) => { rule.timeouts = { request: '2s', backendRequest: '3s' }; }), /backendRequest timeout cannot be longer than request timeout/, 'backendRequest must be clamped');
    assert.match(await rejectedWith((rule) => { rule.timeouts = { request: '1.5s' }; }), /spec\.rules\[0\]\.timeouts\.request/, 'a decimal duration must be rewritten');
    const withCors = (cors: Record<string, unknown>) => (rule: Record<string, unknown>): void => { rule.filters = [{ type: 'CORS', cors }]; };
    assert.match(await rejectedWith(withCors({ allowOrigins: ['https://.*\\.example\\.org'] })), /allowOrigins\[0\]/, 'a regex origin is not a CORSOrigin');
    assert.match(await rejectedWith(withCors({ allowOrigins: ['*'], allowMethods: ['get'] })), /allowMethods\[0\]/, 'methods are an enum');
    assert.match(await rejectedWith(withCors({ allowOrigins: ['*'], allowMethods: ['GET', '*'] })), /AllowMethods cannot contain '\*' alongside other methods/, '* alone');
    assert.match(await rejectedWith(withCors({ allowOrigins: ['*'], maxAge: 0 })), /maxAge/, 'maxAge at least 1');
  });
});
