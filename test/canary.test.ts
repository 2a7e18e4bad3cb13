// The Canary controller against the real local cluster (kube-controller-manager,
// scheduler and kwok roll Deployments out), with the real Gateway API, Istio
// and SMI CRDs: full rollouts with each router, weights read back from the
// router objects at every step, webhooks, rollback, progress deadline,
// restart mid-rollout, manual promote/abort/retry, pause/resume, and abort
// during a promotion (the primary gets its previous spec back).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { API_GROUP_VERSION, type Canary, type CanaryAnalysis, type CanarySpec } from '../src/api/types.ts';
import { PREVIOUS_PRIMARY_ANNOTATION } from '../src/canary/previous-primary.ts';
import { routerFor } from '../src/canary/routers/factory.ts';
import type { ObservedRoutes } from '../src/canary/routers/router.ts';
import type { Stage } from '../src/canary/state.ts';
import { weightPlan } from '../src/canary/state.ts';
import type { Deployment } from '../src/canary/workloads.ts';
import type { KubeClient } from '../src/kube/client.ts';
import { Informer } from '../src/kube/informer.ts';
import { applyDeployment, canaryObject, canaryTestLogger, everyTick, getCanary, startController, targetDeploymentYaml, waitForPhase } from './env/canary.ts';
import { createTestNamespace, eventually, kubectlOk, testKubeClient } from './env/cluster.ts';

async function readRoutes(client: KubeClient, canary: Canary): Promise<ObservedRoutes | undefined> {
  const router = routerFor(canary);
  const objects = await Promise.all(router.routedObjects(canary).map((ref) => client.find(ref)));
  return router.readRoutes(canary, objects);
}

async function deployment(client: KubeClient, namespace: string, name: string): Promise<Deployment | undefined> {
  return client.find<Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name });
}

/**
 * Watches the rollout: every 100 ms reads the Canary and its router object,
 * and records each change of the weight as the router object says it, with
 * the status weight seen at that moment.
 */
function recordWeights(client: KubeClient, namespace: string, name: string): { stop(): Promise<{ router: number[]; status: number[] }> } {
  const router: number[] = [];
  const status: number[] = [];
  const ticks = everyTick(async () => {
    const canary = await getCanary(client, namespace, name);
    const routes = await readRoutes(client, canary);
    if (routes && router[router.length - 1] !== routes.canaryWeight) router.push(routes.canaryWeight);
    const weight = canary.status?.canaryWeight;
    if (weight !== undefined && status[status.length - 1] !== weight) status.push(weight);
  });
  return {
    async stop() {
      await ticks.stop();
      return { router, status };
    },
  };
}

interface HookServer {
  url: string;
  calls: { path: string; body: Record<string, unknown> }[];
  answer: Map<string, number>;
  close(): Promise<void>;
}

async function startHookServer(): Promise<HookServer> {
  const calls: HookServer['calls'] = [];
  const answer = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
    req.on('end', () => {
      calls.push({ path: req.url ?? '', body: JSON.parse(body || '{}') as Record<string, unknown> });
      res.writeHead(answer.get(req.url ?? '') ?? 200).end('answer');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, answer, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Init → new image → full rollout → Succeeded; returns the recorded weights. */
async function fullRollout(client: KubeClient, namespace: string, canary: Canary, setup?: () => Promise<void>) {
  const name = canary.metadata.name;
  await applyDeployment(namespace, targetDeploymentYaml(name, 'example.com/app:1'));
  await setup?.();
  const harness = await startController(client, namespace);
  try {
    await client.apply(canary);
    const initialized = await waitForPhase(client, namespace, name, 'Initialized');
    assert.equal(initialized.status?.lastPromotedSpec, initialized.status?.lastAppliedSpec);
    const primary = await deployment(client, namespace, `${name}-primary`);
    assert.equal(primary?.spec.template.spec.containers?.[0]?.image, 'example.com/app:1');
    assert.equal(primary?.spec.replicas, 2);
    await eventually(async () => ((await deployment(client, namespace, name))?.spec.replicas === 0 ? true : undefined), { what: 'target scaled to zero' });
    const apex = await client.get<{ spec: { selector: Record<string, string> } } & Canary>({ apiVersion: 'v1', kind: 'Service', namespace, name });
    assert.deepEqual(apex.spec.selector, { app: `${name}-primary` });

    const recorder = recordWeights(client, namespace, name);
    await applyDeployment(namespace, targetDeploymentYaml(name, 'example.com/app:2'));
    const done = await waitForPhase(client, namespace, name, 'Succeeded', 90_000);
    const weights = await recorder.stop();
    const promoted = await deployment(client, namespace, `${name}-primary`);
    assert.equal(promoted?.spec.template.spec.containers?.[0]?.image, 'example.com/app:2');
    await eventually(async () => ((await deployment(client, namespace, name))?.spec.replicas === 0 ? true : undefined), { what: 'canary scaled to zero' });
    const routes = await readRoutes(client, done);
    assert.equal(routes?.canaryWeight, 0);
    assert.equal(routes?.primaryWeight, 100);
    assert.equal(done.status?.lastPromotedSpec, done.status?.lastAppliedSpec);
    return { weights, done, stages: harness.stages };
  } finally {
    await harness.stop();
  }
}

describe('Canary controller', () => {
  let client: KubeClient;
  before(() => {
    client = testKubeClient();
  });
  after(() => client.close());

  for (const provider of ['gatewayapi', 'istio', 'smi'] as const) {
    test(`${provider}: full rollout, weights read back from the router object follow the plan`, async () => {
      const namespace = await createTestNamespace(`canary-${provider}`);
      const analysis: CanaryAnalysis = { stepWeight: 20, maxWeight: 60 };
      const extra: Partial<CanarySpec> = provider === 'gatewayapi' ? { service: { port: 80, targetPort: 8080, gatewayRefs: [{ name: 'public', namespace: 'gateways' }] } } : {};
      const { weights, done, stages } = await fullRollout(client, namespace, canaryObject(namespace, 'app', provider, analysis, extra));
      const plan = weightPlan(analysis);
      assert.deepEqual(weights.router, [...plan, 0], 'router weights');
      assert.deepEqual(weights.status, [...plan, 0], 'status weights');
      const history = (done.status?.history ?? []).filter((h) => /^canary weight/.test(h.message ?? '')).map((h) => h.weight);
      assert.deepEqual(history, plan.slice(1), 'one history entry per step, no duplicates');
      const kinds = stages.map((s) => s.kind);
      for (const kind of ['Initialized', 'NewRevision', 'WeightAdvanced', 'PromotionStarted', 'Promoted'] as const) assert.ok(kinds.includes(kind), `stage ${kind} in ${kinds.join(',')}`);
      assert.equal(kinds.filter((k) => k === 'Promoted').length, 1);
    });
  }

  test('nginx: generated canary Ingress with weights; the user Ingress is untouched', async () => {
    const namespace = await createTestNamespace('canary-nginx');
    const ingress = {
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace },
      spec: { ingressClassName: 'nginx', rules: [{ host: 'app.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }] },
    };
    const analysis: CanaryAnalysis = { stepWeights: [5, 25, 50] };
    const { weights } = await fullRollout(client, namespace, canaryObject(namespace, 'app', 'nginx', analysis, { ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'web' } }), async () => {
      await kubectlOk(['apply', '-f', '-'], { namespace, input: JSON.stringify(ingress) });
    });
    assert.deepEqual(weights.router, [0, 5, 25, 50, 0]);
    const user = await client.get<typeof ingress & Canary>({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name: 'web' });
    assert.equal(user.metadata.annotations?.['nginx.ingress.kubernetes.io/canary'], undefined);
    assert.equal(user.spec.rules[0]?.http.paths[0]?.backend.service.name, 'app');
    const generated = await client.get<typeof ingress & Canary>({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name: 'web-canary' });
    assert.equal(generated.spec.rules[0]?.http.paths[0]?.backend.service.name, 'app-canary');
    assert.equal(generated.metadata.annotations?.['nginx.ingress.kubernetes.io/canary'], 'true');
  });

  test('kubernetes Blue/Green: the apex Service switches to the canary during promotion', async () => {
    const namespace = await createTestNamespace('canary-bg');
    const { weights, done } = await fullRollout(client, namespace, canaryObject(namespace, 'app', 'kubernetes', { iterations: 2 }));
    assert.deepEqual(weights.router, [0, 100, 0]);
    assert.equal(done.status?.iterations, 2);
  });

  test('gatewayapi A/B and mirrored Blue/Green complete', async () => {
    const namespace = await createTestNamespace('canary-ab');
    const service = { port: 80, targetPort: 8080, gatewayRefs: [{ name: 'public' }] };
    await applyDeployment(namespace, targetDeploymentYaml('ab', 'example.com/app:1'));
    await applyDeployment(namespace, targetDeploymentYaml('bg', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'ab', 'gatewayapi', { iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] }, { service }));
      await client.apply(canaryObject(namespace, 'bg', 'gatewayapi', { iterations: 2, mirror: true, mirrorWeight: 50 }, { service }));
      await waitForPhase(client, namespace, 'ab', 'Initialized');
      await waitForPhase(client, namespace, 'bg', 'Initialized');
      await applyDeployment(namespace, targetDeploymentYaml('ab', 'example.com/app:2'));
      await applyDeployment(namespace, targetDeploymentYaml('bg', 'example.com/app:2'));
      await eventually(async () => {
        const route = await client.find<Canary & { spec: { rules: { matches?: { headers?: { name: string; value: string }[] }[]; filters?: { type: string; requestMirror?: { percent?: number } }[] }[] } }>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace, name: 'ab' });
        return route?.spec.rules[0]?.matches?.[0]?.headers?.[0]?.value === 'insider' ? true : undefined;
      }, { what: 'A/B header match on the HTTPRoute' });
      await eventually(async () => {
        const route = await client.find<Canary & { spec: { rules: { filters?: { type: string; requestMirror?: { percent?: number } }[] }[] } }>({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace, name: 'bg' });
        return route?.spec.rules[0]?.filters?.[0]?.requestMirror?.percent === 50 ? true : undefined;
      }, { what: 'RequestMirror filter on the HTTPRoute' });
      await waitForPhase(client, namespace, 'ab', 'Succeeded');
      const bg = await waitForPhase(client, namespace, 'bg', 'Succeeded');
      const routes = await readRoutes(client, bg);
      assert.deepEqual(routes, { primaryWeight: 100, canaryWeight: 0, mirror: false, match: false });
    } finally {
      await harness.stop();
    }
  });

  test('a failing rollout webhook rolls back after threshold checks; retry re-runs the same revision', async () => {
    const namespace = await createTestNamespace('canary-fail');
    const hooks = await startHookServer();
    hooks.answer.set('/check', 500);
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', {
        stepWeight: 25, threshold: 3,
        webhooks: [{ name: 'load-test', type: 'rollout', url: `${hooks.url}/check`, timeout: '5s' }],
      }));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      const failed = await waitForPhase(client, namespace, 'app', 'Failed', 60_000);
      assert.equal(failed.status?.failedChecks, 3);
      assert.equal(failed.status?.canaryWeight, 0);
      assert.equal(failed.status?.failedRevision?.revision, failed.status?.lastAppliedSpec);
      assert.deepEqual(failed.status?.failedRevision?.images, ['example.com/app:2']);
      assert.match(failed.status?.failedRevision?.reason ?? '', /load-test answered 500/);
      const declared = failed.status?.conditions?.find((c) => c.type === 'FailedRevisionDeclared');
      assert.equal(declared?.status, 'True');
      const checks = hooks.calls.filter((c) => c.path === '/check');
      assert.equal(checks.length, 3, 'one rollout webhook call per check');
      assert.equal(checks[0]?.body.name, 'app');
      assert.equal(checks[0]?.body.phase, 'Progressing');
      assert.deepEqual(checks[0]?.body.canaryImages, ['example.com/app:2']);
      assert.deepEqual(checks[0]?.body.primaryImages, ['example.com/app:1']);
      assert.equal(checks[0]?.body.checksum, failed.status?.lastAppliedSpec);
      assert.equal(typeof checks[0]?.body.canaryWeight, 'number');
      const primary = await deployment(client, namespace, 'app-primary');
      assert.equal(primary?.spec.template.spec.containers?.[0]?.image, 'example.com/app:1');
      await eventually(async () => ((await deployment(client, namespace, 'app'))?.spec.replicas === 0 ? true : undefined), { what: 'canary scaled to zero' });
      assert.ok(harness.stages.some((s) => s.kind === 'RolledBack' && /load-test answered 500/.test(s.message)));
      const routes = await readRoutes(client, failed);
      assert.equal(routes?.canaryWeight, 0);

      // Fix the webhook and retry the same revision without touching the Deployment.
      hooks.answer.set('/check', 200);
      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/retry=retry-1'], { namespace });
      const succeeded = await waitForPhase(client, namespace, 'app', 'Succeeded', 60_000);
      assert.equal(succeeded.status?.requests?.retry?.id, 'retry-1');
      assert.equal(succeeded.status?.failedRevision, undefined);
      assert.equal(succeeded.status?.conditions?.find((c) => c.type === 'FailedRevisionDeclared'), undefined);
      assert.equal((await deployment(client, namespace, 'app-primary'))?.spec.template.spec.containers?.[0]?.image, 'example.com/app:2');
    } finally {
      await harness.stop();
      await hooks.close();
    }
  });

  test('fields the router does not carry are named in a RouterLimitations condition and an Event; an A/B test on smi is refused', async () => {
    const namespace = await createTestNamespace('canary-limits');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    await applyDeployment(namespace, targetDeploymentYaml('split', 'example.com/split:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50 }, {
        service: { port: 80, targetPort: 8080, trafficPolicy: { connectionPool: { tcp: { maxConnections: 10 } } }, retries: { attempts: 3 } },
      }));
      const limited = await eventually(async () => {
        const canary = await getCanary(client, namespace, 'app');
        return canary.status?.phase === 'Initialized' ? canary.status.conditions?.find((c) => c.type === 'RouterLimitations') : undefined;
      }, { what: 'RouterLimitations on the gatewayapi Canary' });
      assert.equal(limited.status, 'True');
      assert.match(limited.message, /^provider gatewayapi does not carry everything this Canary sets: service\.retries: only perTryTimeout is carried .*; service\.trafficPolicy: not used by provider gatewayapi$/);
      await eventually(async () => {
        const events = await client.list<{ apiVersion: string; kind: string; metadata: { name: string }; reason?: string; note?: string }>('events.k8s.io/v1', 'Event', { namespace });
        return events.items.filter((e) => e.reason === 'CanaryRouterLimitations').length === 1 ? true : undefined;
      }, { what: 'one CanaryRouterLimitations Event' });
      // Dropping the fields clears the condition.
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50 }));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.conditions?.some((c) => c.type === 'RouterLimitations') ? undefined : true), { what: 'condition cleared' });

      await client.apply(canaryObject(namespace, 'split', 'smi', { iterations: 2, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] }));
      const stalled = await eventually(async () => (await getCanary(client, namespace, 'split')).status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True'), { what: 'smi A/B Stalled' });
      assert.equal(stalled.reason, 'SpecInvalid');
      assert.match(stalled.message, /provider smi cannot route by header or cookie/);
    } finally {
      await harness.stop();
    }
  });

  test('a canary that never becomes ready rolls back after the progress deadline', async () => {
    const namespace = await createTestNamespace('canary-deadline');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50 }, { progressDeadlineSeconds: 6 }));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      // No node matches this selector, so the canary's pods stay Pending.
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2', { nodeSelector: { 'sluice.dev/no-such-node': 'true' } }));
      const progressing = await waitForPhase(client, namespace, 'app', 'Progressing');
      const started = Date.parse(progressing.status?.rolloutStartTime ?? '');
      const failed = await waitForPhase(client, namespace, 'app', 'Failed', 30_000);
      const failedAt = Date.parse(failed.status?.failedRevision?.time ?? '');
      assert.ok(failedAt - started >= 6_000, `rolled back ${failedAt - started} ms after the start`);
      assert.match(failed.status?.failedRevision?.reason ?? '', /progressDeadlineSeconds 6/);
      assert.equal(failed.status?.canaryWeight, 0);
      assert.ok(harness.stages.some((s) => s.kind === 'ProgressDeadlineExceeded'));
    } finally {
      await harness.stop();
    }
  });

  test('a controller restarted at Progressing and at Promoting finishes once, with no duplicate step', async () => {
    const namespace = await createTestNamespace('canary-restart');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const analysis: CanaryAnalysis = { stepWeight: 20, maxWeight: 60, interval: '3s' };
    let harness = await startController(client, namespace);
    const allStages: Stage[] = [];
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', analysis));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      const recorder = recordWeights(client, namespace, 'app');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.canaryWeight === 20 ? true : undefined), { what: 'weight 20' });
      allStages.push(...harness.stages);
      await harness.stop();
      harness = await startController(client, namespace);
      await waitForPhase(client, namespace, 'app', 'Promoting', 60_000);
      allStages.push(...harness.stages);
      await harness.stop();
      harness = await startController(client, namespace);
      const done = await waitForPhase(client, namespace, 'app', 'Succeeded', 60_000);
      allStages.push(...harness.stages);
      const weights = await recorder.stop();
      assert.deepEqual(weights.router, [0, 20, 40, 60, 0]);
      const steps = (done.status?.history ?? []).filter((h) => /^canary weight/.test(h.message ?? '')).map((h) => h.weight);
      assert.deepEqual(steps, [20, 40, 60], 'history has each step once');
      const kinds = allStages.map((s) => s.kind);
      assert.equal(kinds.filter((k) => k === 'Promoted').length, 1);
      assert.equal(kinds.filter((k) => k === 'PromotionStarted').length, 1);
      assert.equal(kinds.filter((k) => k === 'WeightAdvanced').length, 3);
      assert.equal((done.status?.history ?? []).filter((h) => h.phase === 'Succeeded').length, 1);
    } finally {
      await harness.stop();
    }
  });

  test('manual promote skips the remaining steps; manual abort rolls back', async () => {
    const namespace = await createTestNamespace('canary-manual');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      // A long interval: only a manual request can move the rollout on in time.
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 10, interval: '1h' }));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.canaryWeight === 10 ? true : undefined), { what: 'first step' });
      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/abort=abort-1'], { namespace });
      const failed = await waitForPhase(client, namespace, 'app', 'Failed');
      assert.equal(failed.status?.requests?.abort?.id, 'abort-1');
      assert.equal(failed.status?.requests?.abort?.by, 'kubectl-annotate', 'who asked, from the annotation\'s field manager');
      assert.match(failed.status?.failedRevision?.reason ?? '', /aborted by request abort-1/);

      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:3'));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.canaryWeight === 10 ? true : undefined), { what: 'first step of app:3' });
      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/promote=promote-1'], { namespace });
      await waitForPhase(client, namespace, 'app', 'Promoting');
      // Promoting paces on the (1h) interval; the promoted primary is already rolled out.
      await eventually(async () => ((await deployment(client, namespace, 'app-primary'))?.spec.template.spec.containers?.[0]?.image === 'example.com/app:3' ? true : undefined), { what: 'primary promoted' });
      const canary = await getCanary(client, namespace, 'app');
      assert.equal(canary.status?.requests?.promote?.id, 'promote-1');
      assert.ok(harness.stages.some((s) => s.kind === 'ManualPromote'));
      assert.ok(harness.stages.some((s) => s.kind === 'ManualAbort'));
    } finally {
      await harness.stop();
    }
  });

  test('webhook gates hold the rollout and are shown in status; hooks get Flagger payloads; stages become Events', async () => {
    const namespace = await createTestNamespace('canary-gates');
    const hooks = await startHookServer();
    hooks.answer.set('/confirm-rollout', 403);
    hooks.answer.set('/confirm-promotion', 403);
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      const webhooks = (['confirm-rollout', 'pre-rollout', 'confirm-promotion', 'post-rollout', 'event'] as const)
        .map((type) => ({ name: type, type, url: `${hooks.url}/${type}`, timeout: '5s', metadata: { team: 'shop' } }));
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50, webhooks }));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      const waiting = await waitForPhase(client, namespace, 'app', 'Waiting');
      assert.equal(waiting.status?.gate?.type, 'confirm-rollout');
      assert.equal(waiting.status?.gate?.webhook, 'confirm-rollout');
      assert.match(waiting.status?.gate?.message ?? '', /403/);
      assert.match(waiting.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '', /held by confirm-rollout/);
      // Held: no traffic moves while the gate is closed.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.equal((await getCanary(client, namespace, 'app')).status?.phase, 'Waiting');

      hooks.answer.set('/confirm-rollout', 200);
      const held = await waitForPhase(client, namespace, 'app', 'WaitingPromotion', 60_000);
      assert.equal(held.status?.canaryWeight, 100);
      assert.equal(held.status?.gate?.type, 'confirm-promotion');
      hooks.answer.set('/confirm-promotion', 200);
      const done = await waitForPhase(client, namespace, 'app', 'Succeeded', 60_000);
      assert.equal(done.status?.gate, undefined);

      const called = (path: string) => hooks.calls.filter((c) => c.path === path);
      assert.equal(called('/pre-rollout').length, 1);
      assert.equal(called('/post-rollout').length, 1);
      const confirm = called('/confirm-rollout')[0]?.body;
      assert.equal(confirm?.name, 'app');
      assert.equal(confirm?.namespace, namespace);
      assert.deepEqual(confirm?.metadata, { team: 'shop' });
      assert.equal(confirm?.checksum, done.status?.lastAppliedSpec);
      const events = called('/event').map((c) => c.body.metadata as Record<string, string>);
      assert.ok(events.some((m) => m.eventReason === 'CanaryPromoted' && /promoted example.com\/app:2/.test(m.eventMessage ?? '')), JSON.stringify(events));

      // The notifier records Events asynchronously.
      const wanted = ['CanaryInitialized', 'CanaryNewRevision', 'CanaryWaitingApproval', 'CanaryWeightAdvanced', 'CanaryPromotionStarted', 'CanaryPromoted'];
      await eventually(async () => {
        const list = await client.list<Canary & { reason: string; regarding: { name: string; kind: string } }>('events.k8s.io/v1', 'Event', { namespace });
        const reasons = list.items.filter((e) => e.regarding.kind === 'Canary' && e.regarding.name === 'app').map((e) => e.reason);
        return wanted.every((r) => reasons.includes(r)) ? true : undefined;
      }, { timeoutMs: 10_000, what: `Events ${wanted.join(', ')}` });
    } finally {
      await harness.stop();
      await hooks.close();
    }
  });

  test('referenced ConfigMaps are copied as -primary and a config change is a new revision', async () => {
    const namespace = await createTestNamespace('canary-config');
    await kubectlOk(['create', 'configmap', 'app-config', '--from-literal=MODE=one'], { namespace });
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1', { configMap: 'app-config' }));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50 }));
      const initialized = await waitForPhase(client, namespace, 'app', 'Initialized');
      assert.ok(initialized.status?.trackedConfigs?.['ConfigMap/app-config']);
      const primary = await deployment(client, namespace, 'app-primary');
      assert.deepEqual(primary?.spec.template.spec.containers?.[0]?.envFrom, [{ configMapRef: { name: 'app-config-primary' } }]);
      const copy = await client.get<Canary & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'app-config-primary' });
      assert.deepEqual(copy.data, { MODE: 'one' });

      await kubectlOk(['create', 'configmap', 'app-config', '--from-literal=MODE=two', '--dry-run=client', '-o', 'yaml'], { namespace }).then((yaml) => kubectlOk(['apply', '-f', '-'], { namespace, input: yaml }));
      const progressing = await waitForPhase(client, namespace, 'app', 'Progressing');
      assert.notEqual(progressing.status?.lastAppliedSpec, initialized.status?.lastAppliedSpec);
      await waitForPhase(client, namespace, 'app', 'Succeeded', 60_000);
      const updated = await client.get<Canary & { data: Record<string, string> }>({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'app-config-primary' });
      assert.deepEqual(updated.data, { MODE: 'two' });
      assert.equal((await deployment(client, namespace, 'app-primary'))?.spec.template.spec.containers?.[0]?.image, 'example.com/app:1');
    } finally {
      await harness.stop();
    }
  });

  test('revertOnDeletion: deleting the Canary gives the target back its replicas and the apex Service', async () => {
    const namespace = await createTestNamespace('canary-revert');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 50 }, { revertOnDeletion: true }));
      const initialized = await waitForPhase(client, namespace, 'app', 'Initialized');
      assert.ok(initialized.metadata.finalizers?.includes('sluice.dev/revert-on-deletion'));
      await eventually(async () => ((await deployment(client, namespace, 'app'))?.spec.replicas === 0 ? true : undefined), { what: 'target scaled to zero' });
      // A watch sees every status write, also the short-lived last one before the finalizer goes.
      const phases: string[] = [];
      const watch = new Informer<Canary>(client, { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, logger: canaryTestLogger });
      watch.on((event) => {
        const phase = event.object.status?.phase;
        if (event.object.metadata.name === 'app' && phase && phases[phases.length - 1] !== phase) phases.push(phase);
      });
      watch.start();
      await watch.waitForSync(AbortSignal.timeout(20_000));
      await client.delete({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'app' });
      await eventually(async () => ((await client.find({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name: 'app' })) ? undefined : true), { timeoutMs: 30_000, what: 'Canary gone' });
      await eventually(() => Promise.resolve(phases.includes('Terminated') ? true : undefined), { timeoutMs: 5_000, what: `phase Terminated in ${phases.join(', ')}` });
      await watch.stop();
      assert.deepEqual(phases.slice(-2), ['Terminating', 'Terminated'], 'Terminated is written after the revert, before the finalizer goes');
      const target = await deployment(client, namespace, 'app');
      assert.equal(target?.spec.replicas, 2);
      assert.ok((target?.status?.availableReplicas ?? 0) >= 2, 'the target was ready before traffic moved back');
      const apex = await client.get<Canary & { spec: { selector: Record<string, string> } }>({ apiVersion: 'v1', kind: 'Service', namespace, name: 'app' });
      assert.deepEqual(apex.spec.selector, { app: 'app' });
      assert.equal(apex.metadata.ownerReferences, undefined);
      // The garbage collector removes what the Canary owned.
      await eventually(async () => ((await deployment(client, namespace, 'app-primary')) ? undefined : true), { timeoutMs: 30_000, what: 'primary garbage-collected' });
      await eventually(async () => ((await client.find({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', namespace, name: 'app' })) ? undefined : true), { timeoutMs: 30_000, what: 'HTTPRoute garbage-collected' });
    } finally {
      await harness.stop();
    }
  });

  test('pause holds the weight the router object carries for several intervals; resume continues to promotion', async () => {
    const namespace = await createTestNamespace('canary-pause');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 20, maxWeight: 60, interval: '1s' }));
      await waitForPhase(client, namespace, 'app', 'Initialized');
      const recorder = recordWeights(client, namespace, 'app');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.canaryWeight === 20 ? true : undefined), { what: 'weight 20' });
      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/pause=pause-1'], { namespace });
      const paused = await eventually(async () => {
        const canary = await getCanary(client, namespace, 'app');
        return canary.status?.requests?.pause?.id === 'pause-1' ? canary : undefined;
      }, { what: 'pause acknowledged' });
      assert.match(paused.status?.requests?.pause?.result ?? '', /^pause done: holding phase Progressing at canary weight \d+/);
      assert.equal(paused.status?.paused?.id, 'pause-1');
      assert.equal(paused.status?.paused?.by, 'kubectl-annotate');
      assert.equal(paused.status?.conditions?.find((c) => c.type === 'Paused')?.status, 'True');
      assert.match(paused.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '', /paused by kubectl-annotate/);
      const held = paused.status?.canaryWeight ?? -1;
      assert.ok(held === 20 || held === 40, `paused at weight ${held}`);
      // Three intervals: the router object keeps the weight, and the phase stays.
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const canary = await getCanary(client, namespace, 'app');
        assert.equal(canary.status?.phase, 'Progressing');
        assert.equal(canary.status?.canaryWeight, held);
        assert.equal((await readRoutes(client, canary))?.canaryWeight, held, 'weight on the HTTPRoute');
      }

      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/resume=resume-1'], { namespace });
      const done = await waitForPhase(client, namespace, 'app', 'Succeeded', 60_000);
      const weights = await recorder.stop();
      assert.deepEqual(weights.router, [0, 20, 40, 60, 0], 'no step skipped or repeated');
      assert.match(done.status?.requests?.resume?.result ?? '', /^resume done: phase Progressing continues at canary weight/);
      assert.equal(done.status?.paused, undefined);
      assert.equal(done.status?.conditions?.find((c) => c.type === 'Paused'), undefined);
      assert.equal((await deployment(client, namespace, 'app-primary'))?.spec.template.spec.containers?.[0]?.image, 'example.com/app:2');
      await eventually(async () => {
        const list = await client.list<Canary & { reason: string; regarding: { name: string; kind: string } }>('events.k8s.io/v1', 'Event', { namespace });
        const reasons = list.items.filter((e) => e.regarding.kind === 'Canary' && e.regarding.name === 'app').map((e) => e.reason);
        return reasons.includes('CanaryPaused') && reasons.includes('CanaryResumed') ? true : undefined;
      }, { timeoutMs: 10_000, what: 'Events CanaryPaused and CanaryResumed' });
    } finally {
      await harness.stop();
    }
  });

  test('abort during Promoting gives the primary back its previous spec and all traffic', async () => {
    const namespace = await createTestNamespace('canary-abort-promoting');
    await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:1'));
    const harness = await startController(client, namespace);
    try {
      // A long interval: the promotion stays in Promoting until the abort.
      await client.apply(canaryObject(namespace, 'app', 'gatewayapi', { stepWeight: 10, interval: '1h' }));
      const initialized = await waitForPhase(client, namespace, 'app', 'Initialized');
      const before = await deployment(client, namespace, 'app-primary');
      await applyDeployment(namespace, targetDeploymentYaml('app', 'example.com/app:2'));
      await eventually(async () => ((await getCanary(client, namespace, 'app')).status?.canaryWeight === 10 ? true : undefined), { what: 'first step' });
      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/promote=promote-1'], { namespace });
      await waitForPhase(client, namespace, 'app', 'Promoting');
      const promoted = await eventually(async () => {
        const primary = await deployment(client, namespace, 'app-primary');
        return primary?.spec.template.spec.containers?.[0]?.image === 'example.com/app:2' ? primary : undefined;
      }, { what: 'primary promoted' });
      assert.ok(promoted.metadata.annotations?.[PREVIOUS_PRIMARY_ANNOTATION], 'the previous spec is kept on the primary');

      await kubectlOk(['annotate', 'canary', 'app', 'sluice.dev/abort=abort-1'], { namespace });
      const failed = await waitForPhase(client, namespace, 'app', 'Failed');
      assert.match(failed.status?.requests?.abort?.result ?? '', /^abort done: phase Promoting → Failed; the primary is rolled back to revision/);
      assert.equal(failed.status?.lastPromotedSpec, initialized.status?.lastPromotedSpec);
      assert.match(failed.status?.failedRevision?.reason ?? '', /aborted by request abort-1 during Promoting/);
      const restored = await eventually(async () => {
        const primary = await deployment(client, namespace, 'app-primary');
        return primary?.spec.template.spec.containers?.[0]?.image === 'example.com/app:1' ? primary : undefined;
      }, { what: 'primary back on app:1' });
      assert.equal(restored.metadata.annotations?.['sluice.dev/revision'], initialized.status?.lastPromotedSpec);
      assert.equal(restored.metadata.annotations?.[PREVIOUS_PRIMARY_ANNOTATION], undefined);
      assert.deepEqual(restored.spec.template.metadata?.labels, before?.spec.template.metadata?.labels);
      const routes = await readRoutes(client, failed);
      assert.equal(routes?.canaryWeight, 0);
      assert.equal(routes?.primaryWeight, 100);
      await eventually(async () => ((await deployment(client, namespace, 'app'))?.spec.replicas === 0 ? true : undefined), { what: 'canary scaled to zero' });
      await eventually(async () => {
        const primary = await deployment(client, namespace, 'app-primary');
        return primary && (primary.status?.updatedReplicas ?? 0) >= 2 && (primary.status?.availableReplicas ?? 0) >= 2 && primary.status?.observedGeneration === primary.metadata.generation ? true : undefined;
      }, { timeoutMs: 30_000, what: 'restored primary rolled out' });
      assert.ok(harness.stages.some((s) => s.kind === 'ManualAbort'));
    } finally {
      await harness.stop();
    }
  });
});
