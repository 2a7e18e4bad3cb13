// The Sync controller against the real local cluster: artifacts are put into
// an ArtifactStore directly (the GitRepository controller is tested on its
// own, and end to end in sync-git.test.ts), so each test controls exactly
// which revision the Sync sees.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Sync, SyncSpec } from '../src/api/types.ts';
import { parseConfig } from '../src/config.ts';
import type { ControllerDeps } from '../src/controllers.ts';
import { recorderNotifier } from '../src/notify/recorder-notifier.ts';
import { ArtifactStore } from '../src/gitops/source/artifact.ts';
import { SYNC_FINALIZER, SyncController } from '../src/gitops/sync/controller.ts';
import { KubeClient } from '../src/kube/client.ts';
import { connect } from '../src/kube/config.ts';
import { EventRecorder } from '../src/kube/events.ts';
import { RestClient, type RequestSpec } from '../src/kube/rest.ts';
import type { KubeObject } from '../src/kube/types.ts';
import { createTestNamespace, eventually, kubectlOk, testCluster, testKubeClient } from './env/cluster.ts';
import { deploymentYaml as deployment } from './env/manifests.ts';

const logger = pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' });
const encoder = new TextEncoder();

/** Counts the requests that could change the cluster: every non-GET that is not a dry-run. */
class CountingRestClient extends RestClient {
  writes: string[] = [];
  override async request<T>(spec: RequestSpec): Promise<T> {
    if (spec.method !== 'GET' && spec.query?.dryRun === undefined) this.writes.push(spec.what ?? `${spec.method} ${spec.path}`);
    return super.request<T>(spec);
  }
}

interface Harness {
  namespace: string;
  artifacts: ArtifactStore;
  rest: CountingRestClient;
  controller: SyncController;
  stop(): Promise<void>;
}

async function startHarness(namespace: string, artifacts = new ArtifactStore()): Promise<Harness> {
  const rest = new CountingRestClient(connect({ kubeconfig: testCluster().kubeconfig }));
  const client = new KubeClient(rest);
  const config = { ...parseConfig([], {}), namespaces: [namespace] };
  const events = new EventRecorder(client, { logger });
  const deps: ControllerDeps = { config, client, logger, artifacts, events, notifier: recorderNotifier(events) };
  const controller = new SyncController(deps, { healthIntervalMs: 250, dependencyRequeueMs: 1_000 });
  controller.start();
  await controller.controller.waitForSync();
  return {
    namespace, artifacts, rest, controller,
    async stop() {
      await controller.stop();
      client.close();
    },
  };
}

let revisionCounter = 0;
/** Publishes files as a new revision of GitRepository `source`; returns the revision. */
function publish(artifacts: ArtifactStore, namespace: string, source: string, files: Record<string, string>): string {
  const sha = createHash('sha1').update(`${++revisionCounter}${randomBytes(4).toString('hex')}`).digest('hex');
  const revision = `main@sha1:${sha}`;
  const contents = new Map(Object.entries(files).map(([path, text]) => [path, encoder.encode(text)]));
  const digest = createHash('sha256');
  for (const [path, bytes] of [...contents].sort(([a], [b]) => a.localeCompare(b))) digest.update(path).update(bytes);
  artifacts.set(namespace, source, {
    revision, digest: `sha256:${digest.digest('hex')}`, files: contents,
    size: [...contents.values()].reduce((n, b) => n + b.length, 0), fetchedAt: new Date(),
  });
  return revision;
}

async function createSync(namespace: string, name: string, spec: Partial<SyncSpec> & { sourceRef?: SyncSpec['sourceRef'] }): Promise<void> {
  const sync = {
    apiVersion: 'sluice.dev/v1alpha1', kind: 'Sync', metadata: { name, namespace },
    spec: { sourceRef: { kind: 'GitRepository', name: 'repo' }, interval: '1m', prune: true, ...spec },
  };
  await kubectlOk(['apply', '--server-side', '--field-manager=test-user', '-f', '-'], { input: JSON.stringify(sync) });
}

const reader = (() => {
  let client: KubeClient | undefined;
  return () => (client ??= testKubeClient());
})();

async function getSync(namespace: string, name: string): Promise<Sync> {
  return reader().get<Sync>({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Sync', namespace, name });
}

function ready(sync: Sync): { status: string; reason: string; message: string } | undefined {
  return sync.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Waits until the Sync is Ready=True at `revision`. */
async function waitApplied(namespace: string, name: string, revision: string, timeoutMs = 60_000): Promise<Sync> {
  return eventually(async () => {
    const sync = await getSync(namespace, name);
    return ready(sync)?.status === 'True' && sync.status?.lastAppliedRevision === revision ? sync : undefined;
  }, { timeoutMs, what: `Sync ${namespace}/${name} to apply ${revision}` });
}

async function waitReadyFalse(namespace: string, name: string, revision: string, reason?: string): Promise<Sync> {
  return eventually(async () => {
    const sync = await getSync(namespace, name);
    const condition = ready(sync);
    return condition?.status === 'False' && sync.status?.lastAttemptedRevision === revision && (!reason || condition.reason === reason) ? sync : undefined;
  }, { timeoutMs: 60_000, what: `Sync ${namespace}/${name} to fail at ${revision}` });
}

async function find(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
  return reader().find({ apiVersion, kind, namespace, name });
}


const service = (name: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: ${name}}
  ports:
    - port: 80
      targetPort: 8080
`;

const configMap = (name: string, data: Record<string, string>, extra = '') => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
${extra}data:
${Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`).join('\n')}
`;

async function eventsFor(namespace: string, name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const list = await reader().list<KubeObject & { reason: string; note: string; type: string; regarding: { name: string; kind: string } }>('events.k8s.io/v1', 'Event', { namespace });
  return list.items.filter((e) => e.regarding.kind === 'Sync' && e.regarding.name === name).map((e) => ({ reason: e.reason, note: e.note, type: e.type }));
}

after(() => reader().close());

describe('Sync: apply, update, prune', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(await createTestNamespace('sync-basic'));
  });
  after(() => h.stop());

  test('a Deployment and a Service appear; the Deployment becomes Available; inventory, labels and an Event record it', async () => {
    const rev = publish(h.artifacts, h.namespace, 'repo', { 'app/deploy.yaml': deployment('web', 'web:1'), 'app/svc.yaml': service('web') });
    await createSync(h.namespace, 'web', { path: './app', wait: true, timeout: '90s' });
    const sync = await waitApplied(h.namespace, 'web', rev, 90_000);
    assert.match(ready(sync)?.message ?? '', /Applied revision main@sha1:[0-9a-f]{40}: 2 created, 0 configured, 0 unchanged, 0 pruned/);
    assert.deepEqual(sync.status?.inventory?.entries, [
      { id: `${h.namespace}_web__Service`, v: 'v1' },
      { id: `${h.namespace}_web_apps_Deployment`, v: 'v1' },
    ]);
    assert.equal(sync.status?.observedGeneration, sync.metadata.generation);
    assert.deepEqual(sync.status?.lastChangeSet, {
      revision: rev,
      entries: [
        { id: `${h.namespace}_web__Service`, v: 'v1', action: 'created' },
        { id: `${h.namespace}_web_apps_Deployment`, v: 'v1', action: 'created' },
      ],
      unchanged: 0,
    }, 'the change set of an unrequested run names no request');
    assert.ok(sync.metadata.finalizers?.includes(SYNC_FINALIZER), 'prune: true adds the finalizer');
    const deploy = await find('apps/v1', 'Deployment', h.namespace, 'web');
    const available = (deploy?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.find((c) => c.type === 'Available');
    assert.equal(available?.status, 'True', 'wait: true returned only after the Deployment was Available');
    assert.deepEqual(deploy?.metadata.labels, { 'sluice.dev/name': 'web', 'sluice.dev/namespace': h.namespace });
    assert.ok(await find('v1', 'Service', h.namespace, 'web'));
    const events = await eventsFor(h.namespace, 'web');
    const applied = events.find((e) => e.reason === 'Applied');
    assert.ok(applied, `an Applied event; got ${JSON.stringify(events)}`);
    assert.match(applied.note, new RegExp(`Deployment/${h.namespace}/web created`));
    assert.match(applied.note, new RegExp(`Service/${h.namespace}/web created`));
  });

  test('an image change updates the Deployment and only it', async () => {
    const rev = publish(h.artifacts, h.namespace, 'repo', { 'app/deploy.yaml': deployment('web', 'web:2'), 'app/svc.yaml': service('web') });
    const sync = await waitApplied(h.namespace, 'web', rev, 90_000);
    const deploy = await find('apps/v1', 'Deployment', h.namespace, 'web');
    const image = (deploy?.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image;
    assert.equal(image, 'web:2');
    assert.match(ready(sync)?.message ?? '', /0 created, 1 configured, 1 unchanged, 0 pruned/);
    assert.deepEqual(sync.status?.lastChangeSet, { revision: rev, entries: [{ id: `${h.namespace}_web_apps_Deployment`, v: 'v1', action: 'configured' }], unchanged: 1 });
  });

  test('a deleted file prunes its objects and the inventory follows; sluice.dev/prune: disabled keeps one', async () => {
    let rev = publish(h.artifacts, h.namespace, 'repo', {
      'app/deploy.yaml': deployment('web', 'web:2'), 'app/svc.yaml': service('web'),
      'app/keep.yaml': configMap('keep', { a: '1' }, '  annotations:\n    sluice.dev/prune: disabled\n'),
    });
    await waitApplied(h.namespace, 'web', rev, 90_000);
    rev = publish(h.artifacts, h.namespace, 'repo', { 'app/deploy.yaml': deployment('web', 'web:2') });
    const sync = await waitApplied(h.namespace, 'web', rev, 90_000);
    await eventually(async () => ((await find('v1', 'Service', h.namespace, 'web')) ? undefined : true), { what: 'Service to be pruned' });
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'keep'), 'the protected ConfigMap stays');
    assert.deepEqual(sync.status?.inventory?.entries, [{ id: `${h.namespace}_web_apps_Deployment`, v: 'v1' }]);
    assert.match(ready(sync)?.message ?? '', /1 pruned/);
    assert.match(ready(sync)?.message ?? '', /not pruned: ConfigMap .*\/keep has sluice.dev\/prune: disabled/);
    const pruned = (await eventsFor(h.namespace, 'web')).find((e) => e.reason === 'Pruned');
    assert.match(pruned?.note ?? '', new RegExp(`Service/${h.namespace}/web pruned`));
  });

  test('a revision with one broken file applies nothing, names file and line, and keeps the last revision; fixing it applies', async () => {
    const good = publish(h.artifacts, h.namespace, 'repo', { 'app/deploy.yaml': deployment('web', 'web:2'), 'app/cm.yaml': configMap('settings', { level: 'one' }) });
    await waitApplied(h.namespace, 'web', good);
    const cmBefore = await find('v1', 'ConfigMap', h.namespace, 'settings');
    const deployBefore = await find('apps/v1', 'Deployment', h.namespace, 'web');

    const broken = publish(h.artifacts, h.namespace, 'repo', {
      'app/deploy.yaml': deployment('web', 'web:3'),
      'app/cm.yaml': configMap('settings', { level: 'two' }),
      'app/new.yaml': configMap('brand-new', { a: '1' }),
      'app/broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oops\ndata:\n  key: [unclosed\n',
    });
    const failed = await waitReadyFalse(h.namespace, 'web', broken, 'BuildFailed');
    const message = ready(failed)?.message ?? '';
    assert.match(message, /app\/broken\.yaml:\d+: invalid YAML/);
    assert.equal(failed.status?.lastAppliedRevision, good);
    assert.equal(failed.status?.conditions?.find((c) => c.type === 'Stalled')?.status, 'True');
    assert.equal((await find('v1', 'ConfigMap', h.namespace, 'settings'))?.metadata.resourceVersion, cmBefore?.metadata.resourceVersion, 'ConfigMap untouched');
    assert.equal((await find('apps/v1', 'Deployment', h.namespace, 'web'))?.metadata.generation, deployBefore?.metadata.generation, 'Deployment untouched');
    assert.equal(await find('v1', 'ConfigMap', h.namespace, 'brand-new'), undefined, 'nothing new created');
    assert.ok((await eventsFor(h.namespace, 'web')).some((e) => e.type === 'Warning' && /app\/broken\.yaml:\d+/.test(e.note)));

    const fixed = publish(h.artifacts, h.namespace, 'repo', {
      'app/deploy.yaml': deployment('web', 'web:3'),
      'app/cm.yaml': configMap('settings', { level: 'two' }),
      'app/new.yaml': configMap('brand-new', { a: '1' }),
    });
    const sync = await waitApplied(h.namespace, 'web', fixed);
    assert.equal(sync.status?.conditions?.find((c) => c.type === 'Stalled'), undefined);
    assert.equal(((await find('v1', 'ConfigMap', h.namespace, 'settings')) as { data?: Record<string, string> }).data?.level, 'two');
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'brand-new'));
  });

  test('a server-side validation failure in one object applies nothing and names the object', async () => {
    const before = await getSync(h.namespace, 'web');
    const bad = publish(h.artifacts, h.namespace, 'repo', {
      'app/deploy.yaml': deployment('web', 'web:4'),
      'app/cm.yaml': configMap('settings', { level: 'two' }),
      'app/new.yaml': configMap('brand-new', { a: '1' }),
      'app/bad-svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n    - port: 999999\n',
      'app/unknown.yaml': 'apiVersion: nowhere.example.com/v1\nkind: Gizmo\nmetadata:\n  name: g\n',
    });
    const failed = await waitReadyFalse(h.namespace, 'web', bad);
    const message = ready(failed)?.message ?? '';
    assert.match(message, /app\/unknown\.yaml:1: Gizmo g: the cluster does not serve kind Gizmo/);
    // Unknown kinds stop the revision before the dry-run; fix that and the dry-run names the Service.
    const bad2 = publish(h.artifacts, h.namespace, 'repo', {
      'app/deploy.yaml': deployment('web', 'web:4'),
      'app/cm.yaml': configMap('settings', { level: 'two' }),
      'app/new.yaml': configMap('brand-new', { a: '1' }),
      'app/bad-svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports:\n    - port: 999999\n',
    });
    const failed2 = await waitReadyFalse(h.namespace, 'web', bad2, 'ValidationFailed');
    assert.match(ready(failed2)?.message ?? '', new RegExp(`app/bad-svc\\.yaml:1: Service ${h.namespace}/bad: dry-run failed: .*port`));
    assert.equal(failed2.status?.lastAppliedRevision, before.status?.lastAppliedRevision);
    const deploy = await find('apps/v1', 'Deployment', h.namespace, 'web');
    assert.equal((deploy?.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]?.image, 'web:3', 'the valid Deployment change was not applied');
  });
});

describe('Sync: drift, ignored fields, no-op re-syncs', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(await createTestNamespace('sync-drift'));
  });
  after(() => h.stop());

  test('kubectl scale and kubectl edit drift are reverted on the next interval', async () => {
    const rev = publish(h.artifacts, h.namespace, 'repo', { 'd.yaml': deployment('drifty', 'app:1', 2), 'cm.yaml': configMap('conf', { mode: 'git' }) });
    await createSync(h.namespace, 'drift', { interval: '2s' });
    await waitApplied(h.namespace, 'drift', rev);
    await kubectlOk(['scale', 'deployment/drifty', '--replicas=5'], { namespace: h.namespace });
    await kubectlOk(['patch', 'configmap/conf', '--type=merge', '-p', '{"data":{"mode":"edited"}}'], { namespace: h.namespace });
    await eventually(async () => {
      const d = await find('apps/v1', 'Deployment', h.namespace, 'drifty');
      const c = await find('v1', 'ConfigMap', h.namespace, 'conf');
      return (d?.spec as { replicas: number }).replicas === 2 && (c as { data?: Record<string, string> }).data?.mode === 'git' ? true : undefined;
    }, { timeoutMs: 20_000, what: 'drift to be reverted' });
    const sync = await getSync(h.namespace, 'drift');
    assert.match(ready(sync)?.message ?? '', /[12] configured/, 'the correction is reported');
    assert.equal(sync.status?.lastChangeSet?.drift, true);
    assert.equal(sync.status?.lastChangeSet?.revision, rev);
    assert.ok(sync.status?.lastChangeSet?.entries.every((e) => e.action === 'configured'));
    const notes = (await eventsFor(h.namespace, 'drift')).filter((e) => e.reason === 'DriftCorrected').map((e) => e.note).join('\n');
    assert.match(notes, new RegExp(`Deployment/${h.namespace}/drifty configured`));
    assert.match(notes, new RegExp(`ConfigMap/${h.namespace}/conf configured`));
  });

  test('fields handed to another controller (sluice.dev/ignore-fields on the live object) are not reverted', async () => {
    // What the Canary controller does: a merge patch through sluice's own client (field manager
    // "sluice", operation Update, so not the Sync's Apply set) that sets replicas and marks the field.
    await reader().patchMerge({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'drifty' }, {
      metadata: { annotations: { 'sluice.dev/ignore-fields': 'spec.replicas' } },
      spec: { replicas: 0 },
    });
    // Several intervals pass; replicas stays where the other controller put it.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const d = await find('apps/v1', 'Deployment', h.namespace, 'drifty');
    assert.equal((d?.spec as { replicas: number }).replicas, 0);
    assert.equal(ready(await getSync(h.namespace, 'drift'))?.status, 'True');
  });

  test('spec.replicas of a Deployment scaled by an HPA in the same revision is left to the HPA', async () => {
    const hpa = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scaled
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scaled}
  minReplicas: 1
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
`;
    const rev = publish(h.artifacts, h.namespace, 'hpa-repo', { 'd.yaml': deployment('scaled', 'app:1', 2), 'hpa.yaml': hpa });
    await createSync(h.namespace, 'hpa', { interval: '1s', sourceRef: { kind: 'GitRepository', name: 'hpa-repo' } });
    await waitApplied(h.namespace, 'hpa', rev);
    await kubectlOk(['scale', 'deployment/scaled', '--replicas=4'], { namespace: h.namespace });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const d = await find('apps/v1', 'Deployment', h.namespace, 'scaled');
    assert.equal((d?.spec as { replicas: number }).replicas, 4, 'no replica fight with the autoscaler');
  });
});

describe('Sync: an unchanged re-sync', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(await createTestNamespace('sync-quiet'));
  });
  after(() => h.stop());

  test('an unchanged cluster re-synced every interval writes nothing, also after a controller restart', async () => {
    const rev = publish(h.artifacts, h.namespace, 'repo', {
      'd.yaml': deployment('quiet', 'app:1'), 'svc.yaml': service('quiet'),
      'cm.yaml': configMap('quiet-conf', { mode: 'git' }),
      'secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: hunter2-do-not-leak\n',
    });
    await createSync(h.namespace, 'quiet', { interval: '1s', wait: true, timeout: '60s' });
    await waitApplied(h.namespace, 'quiet', rev);
    // Let the Deployment settle (status updates come from the deployment controller, not from sluice).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const syncRv = (await getSync(h.namespace, 'quiet')).metadata.resourceVersion;
    h.rest.writes = [];
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.deepEqual(h.rest.writes, [], 'no writes for the unchanged Sync');
    assert.equal(h.controller.lastRun(h.namespace, 'quiet')?.outcome, 'applied');
    assert.equal((await getSync(h.namespace, 'quiet')).metadata.resourceVersion, syncRv, 'status untouched');

    // A fresh controller has no memory of what it applied: every object goes through the dry-run compare.
    await h.stop();
    h = await startHarness(h.namespace, h.artifacts);
    await eventually(() => (h.controller.lastRun(h.namespace, 'quiet') ? true : undefined), { what: 'first reconcile after restart' });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const changes = h.controller.lastRun(h.namespace, 'quiet')?.changes ?? [];
    assert.deepEqual(changes.map((c) => c.action), ['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    assert.deepEqual(h.rest.writes, []);

    const sync = await getSync(h.namespace, 'quiet');
    assert.doesNotMatch(JSON.stringify(sync.status), /hunter2/);
    assert.doesNotMatch(JSON.stringify(await eventsFor(h.namespace, 'quiet')), /hunter2/);
  });

  test('a requested reconcile that changes nothing still records its request id in lastChangeSet', async () => {
    const before = await getSync(h.namespace, 'quiet');
    assert.equal(before.status?.lastChangeSet?.entries.length, 4, 'the change set of the run that created the objects is kept by the no-op re-syncs');
    const requestedAt = new Date().toISOString();
    await kubectlOk(['annotate', '--overwrite', 'sync/quiet', `sluice.dev/requestedAt=${requestedAt}`], { namespace: h.namespace });
    const handled = await eventually(async () => {
      const sync = await getSync(h.namespace, 'quiet');
      return sync.status?.lastChangeSet?.reconcileRequest === requestedAt ? sync : undefined;
    }, { timeoutMs: 30_000, what: 'the request to be recorded' });
    assert.equal(handled.status?.lastHandledReconcileAt, requestedAt);
    assert.deepEqual(handled.status?.lastChangeSet, { revision: before.status?.lastAppliedRevision, reconcileRequest: requestedAt, entries: [], unchanged: 4 });
    // And the run after it, unrequested and unchanged, writes nothing again.
    const rv = handled.metadata.resourceVersion;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal((await getSync(h.namespace, 'quiet')).metadata.resourceVersion, rv);
  });
});

describe('Sync: deletion', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(await createTestNamespace('sync-gc'));
  });
  after(() => h.stop());

  const syncGone = (name: string) => eventually(async () => ((await reader().find({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Sync', namespace: h.namespace, name })) ? undefined : true), {
    timeoutMs: 60_000, what: `Sync ${name} to be gone`,
  });

  test('prune: true deletes the inventory with the Sync, except protected objects and objects another Sync took over', async () => {
    const rev = publish(h.artifacts, h.namespace, 'gc-repo', {
      'a.yaml': configMap('gc-a', { a: '1' }), 'svc.yaml': service('gc-web'),
      'keep.yaml': configMap('gc-keep', { a: '1' }, '  annotations:\n    sluice.dev/prune: disabled\n'),
      'adopted.yaml': configMap('gc-adopted', { a: '1' }),
    });
    await createSync(h.namespace, 'gc', { sourceRef: { kind: 'GitRepository', name: 'gc-repo' } });
    const sync = await waitApplied(h.namespace, 'gc', rev);
    assert.deepEqual(sync.metadata.finalizers, [SYNC_FINALIZER]);
    // Another Sync took this one over (its labels say so): not ours to delete.
    await kubectlOk(['label', '--overwrite', 'configmap/gc-adopted', 'sluice.dev/name=other'], { namespace: h.namespace });
    await kubectlOk(['delete', 'sync/gc', '--wait=false'], { namespace: h.namespace });
    await syncGone('gc');
    assert.equal(await find('v1', 'ConfigMap', h.namespace, 'gc-a'), undefined);
    assert.equal(await find('v1', 'Service', h.namespace, 'gc-web'), undefined);
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'gc-keep'), 'sluice.dev/prune: disabled is kept');
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'gc-adopted'), 'an object another Sync owns is kept');
    const collected = (await eventsFor(h.namespace, 'gc')).find((e) => e.reason === 'GarbageCollected');
    assert.match(collected?.note ?? '', new RegExp(`ConfigMap/${h.namespace}/gc-a pruned`));
  });

  test('prune: false has no finalizer (a leftover one is removed) and deleting the Sync leaves its objects', async () => {
    const rev = publish(h.artifacts, h.namespace, 'keep-repo', { 'cm.yaml': configMap('kept-cm', { a: '1' }) });
    const sync = {
      apiVersion: 'sluice.dev/v1alpha1', kind: 'Sync', metadata: { name: 'keep', namespace: h.namespace, finalizers: [SYNC_FINALIZER] },
      spec: { sourceRef: { kind: 'GitRepository', name: 'keep-repo' }, interval: '1m', prune: false },
    };
    await kubectlOk(['apply', '--server-side', '--field-manager=test-user', '-f', '-'], { input: JSON.stringify(sync) });
    await waitApplied(h.namespace, 'keep', rev);
    await eventually(async () => ((await getSync(h.namespace, 'keep')).metadata.finalizers?.includes(SYNC_FINALIZER) ? undefined : true), { what: 'the leftover finalizer to go' });
    await kubectlOk(['delete', 'sync/keep', '--wait=false'], { namespace: h.namespace });
    await syncGone('keep');
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'kept-cm'));
  });

  test('a suspended Sync is deleted without deleting its objects (as Flux)', async () => {
    const rev = publish(h.artifacts, h.namespace, 'sus-gc-repo', { 'cm.yaml': configMap('sus-gc', { a: '1' }) });
    await createSync(h.namespace, 'sus-gc', { sourceRef: { kind: 'GitRepository', name: 'sus-gc-repo' } });
    await waitApplied(h.namespace, 'sus-gc', rev);
    await createSync(h.namespace, 'sus-gc', { suspend: true, sourceRef: { kind: 'GitRepository', name: 'sus-gc-repo' } });
    await kubectlOk(['delete', 'sync/sus-gc', '--wait=false'], { namespace: h.namespace });
    await syncGone('sus-gc');
    assert.ok(await find('v1', 'ConfigMap', h.namespace, 'sus-gc'));
  });

  test('deleting the namespace of a Sync is not held up: objects in the terminating namespace count as gone', async () => {
    const ns = await createTestNamespace('sync-gc-ns');
    const own = await startHarness(ns);
    try {
      const rev = publish(own.artifacts, ns, 'repo', { 'cm.yaml': configMap('in-ns', { a: '1' }), 'd.yaml': deployment('in-ns', 'app:1') });
      await createSync(ns, 'apps', {});
      await waitApplied(ns, 'apps', rev);
      await kubectlOk(['delete', 'namespace', ns, '--wait=false']);
      await eventually(async () => ((await find('v1', 'Namespace', undefined, ns)) ? undefined : true), { timeoutMs: 120_000, what: `namespace ${ns} to be deleted` });
    } finally {
      await own.stop();
    }
  });
});

describe('Sync: stages, CRDs, namespaces, dependencies, force', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(await createTestNamespace('sync-stages'));
  });
  after(() => h.stop());

  test('a CRD and a custom resource of it in the same revision apply in one pass', async () => {
    const group = `s${randomBytes(3).toString('hex')}.test.sluice.dev`;
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, minimum: 1}
`;
    const cr = `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  size: 3\n`;
    const rev = publish(h.artifacts, h.namespace, 'crd-repo', { 'gadget.yaml': cr, 'crd.yaml': crd });
    await createSync(h.namespace, 'crd', { sourceRef: { kind: 'GitRepository', name: 'crd-repo' } });
    const sync = await waitApplied(h.namespace, 'crd', rev);
    assert.ok(await find(`${group}/v1`, 'Gadget', h.namespace, 'g1'));
    assert.match(ready(sync)?.message ?? '', /2 created/);
    // One pass: the only failure-free run applied both; no earlier attempt failed.
    assert.ok(!(await eventsFor(h.namespace, 'crd')).some((e) => e.type === 'Warning'));
    // The custom resource was dry-run against the new CRD's schema before it was applied.
    const invalid = publish(h.artifacts, h.namespace, 'crd-repo', { 'gadget.yaml': cr.replace('size: 3', 'size: 0'), 'crd.yaml': crd });
    const failed = await waitReadyFalse(h.namespace, 'crd', invalid, 'ValidationFailed');
    assert.match(ready(failed)?.message ?? '', /gadget\.yaml:1: Gadget .*\/g1: dry-run failed: .*size/);
    await kubectlOk(['delete', 'crd', `gadgets.${group}`, '--wait=false']);
  });

  test('a Namespace and objects in it apply in one revision; targetNamespace moves namespaced objects', async () => {
    const ns = `${h.namespace}-extra`;
    const rev = publish(h.artifacts, h.namespace, 'ns-repo', {
      'ns.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`,
      'cm.yaml': configMap('inside', { a: '1' }).replace('metadata:\n', `metadata:\n  namespace: ${ns}\n`),
    });
    await createSync(h.namespace, 'ns', { sourceRef: { kind: 'GitRepository', name: 'ns-repo' } });
    await waitApplied(h.namespace, 'ns', rev);
    assert.ok(await find('v1', 'ConfigMap', ns, 'inside'));

    const target = `${h.namespace}-target`;
    await kubectlOk(['create', 'namespace', target]);
    const rev2 = publish(h.artifacts, h.namespace, 'target-repo', { 'cm.yaml': configMap('moved', { a: '1' }).replace('metadata:\n', 'metadata:\n  namespace: elsewhere\n') });
    await createSync(h.namespace, 'target', { targetNamespace: target, sourceRef: { kind: 'GitRepository', name: 'target-repo' } });
    const sync = await waitApplied(h.namespace, 'target', rev2);
    assert.ok(await find('v1', 'ConfigMap', target, 'moved'));
    assert.deepEqual(sync.status?.inventory?.entries, [{ id: `${target}_moved__ConfigMap`, v: 'v1' }]);
  });

  test('dependsOn: a Sync waits until its dependency is Ready at the same revision', async () => {
    const ns = `${h.namespace}-dep`;
    const rev = publish(h.artifacts, h.namespace, 'dep-repo', {
      'infra/ns.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`,
      'apps/cm.yaml': configMap('app-config', { a: '1' }).replace('metadata:\n', `metadata:\n  namespace: ${ns}\n`),
    });
    const source = { kind: 'GitRepository' as const, name: 'dep-repo' };
    await createSync(h.namespace, 'apps', { path: 'apps', sourceRef: source, dependsOn: [{ name: 'infra' }] });
    const waiting = await eventually(async () => {
      const sync = await getSync(h.namespace, 'apps');
      return ready(sync)?.reason === 'DependencyNotReady' ? sync : undefined;
    }, { what: 'apps to wait for infra' });
    assert.match(ready(waiting)?.message ?? '', new RegExp(`Sync ${h.namespace}/infra \\(not found\\)`));
    assert.equal(await find('v1', 'ConfigMap', ns, 'app-config'), undefined);

    await createSync(h.namespace, 'infra', { path: 'infra', sourceRef: source });
    await waitApplied(h.namespace, 'infra', rev);
    await waitApplied(h.namespace, 'apps', rev);
    assert.ok(await find('v1', 'ConfigMap', ns, 'app-config'));
  });

  test('an immutable field change fails validation without force and recreates the object with force', async () => {
    const job = (image: string) => `apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: run
          image: ${image}
`;
    const rev = publish(h.artifacts, h.namespace, 'job-repo', { 'job.yaml': job('task:1') });
    await createSync(h.namespace, 'job', { sourceRef: { kind: 'GitRepository', name: 'job-repo' } });
    await waitApplied(h.namespace, 'job', rev);
    const uid = (await find('batch/v1', 'Job', h.namespace, 'once'))?.metadata.uid;

    const rev2 = publish(h.artifacts, h.namespace, 'job-repo', { 'job.yaml': job('task:2') });
    const failed = await waitReadyFalse(h.namespace, 'job', rev2, 'ValidationFailed');
    assert.match(ready(failed)?.message ?? '', /immutable.*set spec\.force/);

    await createSync(h.namespace, 'job', { force: true, sourceRef: { kind: 'GitRepository', name: 'job-repo' } });
    const sync = await waitApplied(h.namespace, 'job', rev2);
    assert.match(ready(sync)?.message ?? '', /1 recreated/);
    const recreated = await find('batch/v1', 'Job', h.namespace, 'once');
    assert.notEqual(recreated?.metadata.uid, uid);
  });

  test('a newer revision cancels a health wait that is still running', async () => {
    const stuck = deployment('waits', 'app:1').replace('    spec:\n      containers:', '    spec:\n      nodeSelector: {no-such-node: "true"}\n      containers:');
    const rev = publish(h.artifacts, h.namespace, 'wait-repo', { 'd.yaml': stuck });
    await createSync(h.namespace, 'waits', { wait: true, timeout: '5m', sourceRef: { kind: 'GitRepository', name: 'wait-repo' } });
    await eventually(async () => ((await getSync(h.namespace, 'waits')).status?.lastAttemptedRevision === rev ? true : undefined), { what: 'first revision attempted' });
    await eventually(async () => (await find('apps/v1', 'Deployment', h.namespace, 'waits')) ?? undefined, { what: 'stuck Deployment applied' });
    const started = Date.now();
    const fixed = publish(h.artifacts, h.namespace, 'wait-repo', { 'd.yaml': deployment('waits', 'app:2') });
    await waitApplied(h.namespace, 'waits', fixed, 60_000);
    assert.ok(Date.now() - started < 60_000, 'did not sit out the 5 minute timeout of the old revision');
  });

  test('suspend stops applying; resuming applies the latest revision', async () => {
    const rev = publish(h.artifacts, h.namespace, 'sus-repo', { 'cm.yaml': configMap('sus', { v: '1' }) });
    await createSync(h.namespace, 'sus', { sourceRef: { kind: 'GitRepository', name: 'sus-repo' } });
    await waitApplied(h.namespace, 'sus', rev);
    await createSync(h.namespace, 'sus', { suspend: true, sourceRef: { kind: 'GitRepository', name: 'sus-repo' } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rev2 = publish(h.artifacts, h.namespace, 'sus-repo', { 'cm.yaml': configMap('sus', { v: '2' }) });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(((await find('v1', 'ConfigMap', h.namespace, 'sus')) as { data?: Record<string, string> }).data?.v, '1');
    await createSync(h.namespace, 'sus', { suspend: false, sourceRef: { kind: 'GitRepository', name: 'sus-repo' } });
    await waitApplied(h.namespace, 'sus', rev2);
    assert.equal(((await find('v1', 'ConfigMap', h.namespace, 'sus')) as { data?: Record<string, string> }).data?.v, '2');
  });

  test('a health check that does not pass within timeout makes the Sync not Ready, naming the object', async () => {
    const rev = publish(h.artifacts, h.namespace, 'health-repo', {
      // Nothing ever schedules onto a node with this selector.
      'd.yaml': deployment('stuck', 'app:1').replace('    spec:\n      containers:', '    spec:\n      nodeSelector: {no-such-node: "true"}\n      containers:'),
    });
    await createSync(h.namespace, 'health', { timeout: '4s', healthChecks: [{ kind: 'Deployment', name: 'stuck' }], sourceRef: { kind: 'GitRepository', name: 'health-repo' } });
    const failed = await waitReadyFalse(h.namespace, 'health', rev, 'HealthCheckFailed');
    assert.match(ready(failed)?.message ?? '', new RegExp(`Deployment ${h.namespace}/stuck not healthy: 0 of 1 replicas available`));
    assert.ok(failed.status?.inventory?.entries?.some((e) => e.id.includes('_stuck_apps_Deployment')), 'applied objects are in the inventory');
    assert.notEqual(failed.status?.lastAppliedRevision, rev);
  });
});
