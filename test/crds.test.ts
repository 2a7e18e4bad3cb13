// The CRDs in crds/ against the real kube-apiserver: they install and become
// Established, accept a valid object of every kind with the defaults that
// src/api/schema.ts predicts, print useful columns, and reject invalid objects
// at the same field paths (and, for CEL rules, with the same messages) as the
// TypeScript validator.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { load } from 'js-yaml';
import { applyDefaults, CRD_DIR, validateObject } from '../src/api/schema.ts';
import { API_GROUP, API_GROUP_VERSION, RESOURCE_PLURALS, SLUICE_KINDS, type SluiceKind } from '../src/api/types.ts';
import { createTestNamespace, testCluster, type CommandResult } from './env/cluster.ts';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const NOW = '2024-05-01T10:00:00Z';
const readyCondition = (message: string): Json => ({
  type: 'Ready',
  status: 'True',
  reason: 'Succeeded',
  message,
  lastTransitionTime: NOW,
  observedGeneration: 1,
});

/** One valid spec of each kind, a status to patch in, and the printer columns to expect. */
const valid: Record<SluiceKind, { spec: Json; status: Json; columns: string[]; shown: string[] }> = {
  GitRepository: {
    spec: { url: 'https://github.com/stefanprodan/podinfo', ref: { branch: 'master' }, secretRef: { name: 'git-token' } },
    status: {
      conditions: [readyCondition('stored artifact for master@sha1:0123abcd')],
      artifact: { revision: 'master@sha1:0123abcd', lastUpdateTime: NOW, size: 1024 },
    },
    columns: ['NAME', 'URL', 'REVISION', 'READY', 'STATUS', 'AGE'],
    shown: ['https://github.com/stefanprodan/podinfo', 'master@sha1:0123abcd', 'True', 'stored artifact for'],
  },
  Sync: {
    spec: {
      sourceRef: { kind: 'GitRepository', name: 'podinfo' },
      interval: '10m',
      prune: true,
      healthChecks: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' }],
      dependsOn: [{ name: 'infrastructure' }],
    },
    status: {
      conditions: [readyCondition('applied revision master@sha1:0123abcd')],
      lastAppliedRevision: 'master@sha1:0123abcd',
      inventory: { entries: [{ id: 'apps_podinfo_apps_Deployment', v: 'v1' }] },
    },
    columns: ['NAME', 'SOURCE', 'REVISION', 'READY', 'STATUS', 'AGE'],
    shown: ['podinfo', 'master@sha1:0123abcd', 'True', 'applied revision'],
  },
  Receiver: {
    spec: {
      type: 'github',
      events: ['push'],
      secretRef: { name: 'webhook-token' },
      resources: [{ kind: 'GitRepository', name: '*', matchLabels: { team: 'web' } }],
    },
    status: { conditions: [readyCondition('receiver ready')], webhookPath: '/hook/abc' },
    columns: ['NAME', 'TYPE', 'READY', 'STATUS', 'AGE'],
    shown: ['github', 'True', 'receiver ready'],
  },
  Canary: {
    spec: {
      provider: 'nginx',
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
      ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' },
      service: { port: 9898, targetPort: 'http', gatewayRefs: [{ name: 'public' }] },
      analysis: {
        maxWeight: 50,
        stepWeight: 10,
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
          { name: 'error-rate', templateRef: { name: 'error-rate' }, thresholdRange: { max: 1.5 }, onNoData: 'hold', maxHoldChecks: 3 },
        ],
        webhooks: [{ name: 'load-test', url: 'http://loadtester.test/' }],
        alerts: [{ name: 'chat', providerRef: { name: 'slack' } }],
        match: [{ headers: { 'x-canary': { exact: 'insider' } } }],
        sessionAffinity: { cookieName: 'canary' },
      },
    },
    status: {
      phase: 'Progressing',
      canaryWeight: 20,
      failedChecks: 1,
      iterations: 0,
      lastTransitionTime: NOW,
      conditions: [readyCondition('advancing canary weight 20')],
      metrics: [{ name: 'error-rate', result: 'Hold', message: 'no data (1/3)', time: NOW }],
      history: [{ time: NOW, phase: 'Progressing', weight: 20 }],
    },
    columns: ['NAME', 'PHASE', 'WEIGHT', 'FAILEDCHECKS', 'LASTTRANSITION', 'READY', 'STATUS', 'AGE'],
    shown: ['Progressing', '20', 'True', 'advancing canary weight 20'],
  },
  MetricTemplate: {
    spec: { provider: { address: 'http://prometheus.monitoring:9090' }, query: 'sum(rate(http_requests_total[{{ interval }}]))' },
    status: { conditions: [readyCondition('template ready')] },
    columns: ['NAME', 'PROVIDER', 'READY', 'STATUS', 'AGE'],
    shown: ['prometheus', 'True', 'template ready'],
  },
  AlertProvider: {
    spec: { type: 'slack', channel: 'deploys', secretRef: { name: 'slack-url' } },
    status: { conditions: [readyCondition('provider ready')] },
    columns: ['NAME', 'TYPE', 'READY', 'STATUS', 'AGE'],
    shown: ['slack', 'True', 'provider ready'],
  },
  Alert: {
    spec: { providerRef: { name: 'slack' }, eventSources: [{ kind: 'Canary', name: '*' }] },
    status: { conditions: [readyCondition('alert ready')] },
    columns: ['NAME', 'PROVIDER', 'SEVERITY', 'READY', 'STATUS', 'AGE'],
    shown: ['slack', 'info', 'True', 'alert ready'],
  },
};

/**
 * Invalid objects, each with exactly one problem. The apiserver's error and
 * our validator's issue must name the same path and both contain `reason`.
 */
const invalid: { kind: SluiceKind; name: string; spec: (s: Json) => void; reason: string }[] = [
  {
    kind: 'GitRepository',
    name: 'ssh url',
    spec: (s) => { s.url = 'ssh://git@github.com/org/repo.git'; },
    reason: 'SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token',
  },
  {
    kind: 'GitRepository',
    name: 'scp-style url',
    spec: (s) => { s.url = 'git@github.com:org/repo.git'; },
    reason: 'SSH URLs (ssh://, git@host:path) are not supported',
  },
  { kind: 'GitRepository', name: 'branch and tag', spec: (s) => { s.ref = { branch: 'main', tag: 'v1' }; }, reason: 'set at most one of branch, tag and semver' },
  {
    kind: 'GitRepository',
    name: 'commit and semver',
    spec: (s) => { s.ref = { semver: '>=1.0.0', commit: '0123456789abcdef0123456789abcdef01234567' }; },
    reason: 'commit can only be combined with branch',
  },
  { kind: 'GitRepository', name: 'bad interval', spec: (s) => { s.interval = '1 minute'; }, reason: 'Invalid value: "1 minute"' },
  { kind: 'Sync', name: 'missing prune', spec: (s) => { delete s.prune; }, reason: 'Required value' },
  { kind: 'Sync', name: 'path escapes the source', spec: (s) => { s.path = './apps/../..'; }, reason: "must not contain '..' segments" },
  { kind: 'Sync', name: 'unknown source kind', spec: (s) => { s.sourceRef = { kind: 'Bucket', name: 'b' }; }, reason: 'Unsupported value: "Bucket"' },
  { kind: 'Receiver', name: 'unknown type', spec: (s) => { s.type = 'bitbucket'; }, reason: 'Unsupported value: "bitbucket"' },
  { kind: 'Receiver', name: 'no resources', spec: (s) => { s.resources = []; }, reason: 'at least 1 item' },
  {
    kind: 'Receiver',
    name: 'matchLabels without *',
    spec: (s) => { s.resources = [{ kind: 'Sync', name: 'apps', matchLabels: { a: 'b' } }]; },
    reason: "Forbidden: matchLabels requires name to be '*'",
  },
  { kind: 'Canary', name: 'stepWeight above 100', spec: (s) => { analysis(s).stepWeight = 150; }, reason: 'less than or equal to 100' },
  { kind: 'Canary', name: 'port 0', spec: (s) => { service(s).port = 0; }, reason: 'greater than or equal to 1' },
  { kind: 'Canary', name: 'port as string', spec: (s) => { service(s).port = '9898'; }, reason: 'must be of type integer' },
  { kind: 'Canary', name: 'DaemonSet target', spec: (s) => { s.targetRef = { kind: 'DaemonSet', name: 'x' }; }, reason: 'Unsupported value: "DaemonSet"' },
  {
    kind: 'Canary',
    name: 'stepWeight and stepWeights',
    spec: (s) => { analysis(s).stepWeights = [10, 20]; },
    reason: 'Forbidden: stepWeight and stepWeights are mutually exclusive',
  },
  {
    kind: 'Canary',
    name: 'neither iterations nor stepWeight',
    spec: (s) => { delete analysis(s).stepWeight; },
    reason: 'Required value: set iterations (blue/green, A/B testing) or stepWeight/stepWeights',
  },
  {
    kind: 'Canary',
    name: 'iterations and stepWeight',
    spec: (s) => { analysis(s).iterations = 10; },
    reason: 'Forbidden: iterations cannot be combined with stepWeight or stepWeights',
  },
  {
    kind: 'Canary',
    name: 'descending stepWeights',
    spec: (s) => { delete analysis(s).stepWeight; analysis(s).stepWeights = [50, 10]; },
    reason: 'stepWeights must be in ascending order',
  },
  {
    kind: 'Canary',
    name: 'empty thresholdRange',
    spec: (s) => { metric(s, 0).thresholdRange = {}; },
    reason: 'thresholdRange must set min, max or both',
  },
  {
    kind: 'Canary',
    name: 'thresholdRange min above max',
    spec: (s) => { metric(s, 0).thresholdRange = { min: 99, max: 95 }; },
    reason: 'thresholdRange min must not be greater than max',
  },
  {
    kind: 'Canary',
    name: 'templateRef and query',
    spec: (s) => { metric(s, 1).query = 'sum(up)'; },
    reason: 'Forbidden: templateRef and query are mutually exclusive',
  },
  {
    kind: 'Canary',
    name: 'custom metric without templateRef',
    spec: (s) => { delete metric(s, 1).templateRef; },
    reason: 'Required value: metrics other than request-success-rate and request-duration need a templateRef',
  },
  {
    kind: 'Canary',
    name: 'maxHoldChecks without hold',
    spec: (s) => { metric(s, 1).onNoData = 'fail'; },
    reason: 'Forbidden: maxHoldChecks can only be set when onNoData is hold',
  },
  {
    kind: 'Canary',
    name: 'primary min replicas above max',
    spec: (s) => { s.autoscalerRef = { kind: 'HorizontalPodAutoscaler', name: 'podinfo', primaryScalerReplicas: { minReplicas: 4, maxReplicas: 2 } }; },
    reason: 'minReplicas must not be greater than maxReplicas',
  },
  { kind: 'Canary', name: 'duplicate metric name', spec: (s) => { metric(s, 1).name = 'request-success-rate'; }, reason: 'Duplicate value' },
  { kind: 'MetricTemplate', name: 'empty query', spec: (s) => { s.query = ''; }, reason: 'at least 1 char' },
  { kind: 'MetricTemplate', name: 'unknown provider', spec: (s) => { s.provider = { type: 'datadog' }; }, reason: 'Unsupported value: "datadog"' },
  { kind: 'AlertProvider', name: 'unknown type', spec: (s) => { s.type = 'pagerduty'; }, reason: 'Unsupported value: "pagerduty"' },
  {
    kind: 'AlertProvider',
    name: 'neither address nor secretRef',
    spec: (s) => { delete s.secretRef; },
    reason: 'Required value: set address, or secretRef to a Secret with an address key',
  },
  {
    kind: 'AlertProvider',
    name: 'generic-hmac without secretRef',
    spec: (s) => { s.type = 'generic-hmac'; s.address = 'https://hooks.example.com/'; delete s.secretRef; },
    reason: 'Required value: type generic-hmac needs secretRef to a Secret with a token key',
  },
  { kind: 'Alert', name: 'no event sources', spec: (s) => { s.eventSources = []; }, reason: 'at least 1 item' },
  {
    kind: 'Alert',
    name: 'matchLabels without *',
    spec: (s) => { s.eventSources = [{ kind: 'Canary', name: 'podinfo', matchLabels: { a: 'b' } }]; },
    reason: "Forbidden: matchLabels requires name to be '*'",
  },
  { kind: 'Alert', name: 'unknown severity', spec: (s) => { s.eventSeverity = 'debug'; }, reason: 'Unsupported value: "debug"' },
];

function child(obj: Json, key: string): Json {
  const value = obj[key];
  assert.ok(isRecord(value), `${key} is an object`);
  return value;
}
const analysis = (spec: Json): Json => child(spec, 'analysis');
const service = (spec: Json): Json => child(spec, 'service');
function metric(spec: Json, index: number): Json {
  const metrics = analysis(spec).metrics;
  assert.ok(Array.isArray(metrics));
  const m: unknown = metrics[index];
  assert.ok(isRecord(m));
  return m;
}

function objectOf(kind: SluiceKind, name: string, spec: Json): Json {
  return { apiVersion: API_GROUP_VERSION, kind, metadata: { name }, spec };
}

const resource = (kind: SluiceKind): string => `${RESOURCE_PLURALS[kind]}.${API_GROUP}`;

async function kubectl(args: string[], options: { input?: string; namespace?: string } = {}): Promise<CommandResult> {
  // Right after a CRD is (re)established, kubectl's discovery may lag briefly.
  for (let attempt = 0; ; attempt++) {
    const result = await testCluster().kubectl(args, options);
    const discoveryLag = /no matches for kind|the server doesn't have a resource type|could not find the requested resource/.test(result.stderr);
    if (!discoveryLag || attempt >= 20) return result;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function kubectlOk(args: string[], options: { input?: string; namespace?: string } = {}): Promise<string> {
  const result = await kubectl(args, options);
  assert.equal(result.code, 0, `kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

describe('CRDs on the real kube-apiserver', () => {
  let namespace: string;

  before(async () => {
    const files = (await readdir(CRD_DIR)).filter((f) => f.endsWith('.yaml')).sort();
    assert.equal(files.length, SLUICE_KINDS.length);
    await kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=sluice-crds-test', '-f', CRD_DIR]);
    for (const file of files) {
      const name = (load(await readFile(path.join(CRD_DIR, file), 'utf8')) as { metadata: { name: string } }).metadata.name;
      await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${name}`]);
      const accepted = await kubectlOk(['get', `crd/${name}`, '-o', 'jsonpath={.status.conditions[?(@.type=="NamesAccepted")].status}']);
      assert.equal(accepted, 'True', `${name} names accepted`);
    }
    namespace = await createTestNamespace('crds');
  });

  for (const kind of SLUICE_KINDS) {
    test(`a valid ${kind} is accepted with the defaults the validator predicts, and kubectl get shows its columns`, async () => {
      const example = valid[kind];
      const name = `valid-${kind.toLowerCase()}`;
      const obj = objectOf(kind, name, structuredClone(example.spec));
      assert.deepEqual(validateObject(obj).issues, [], 'the TypeScript validator accepts it too');

      const created: unknown = JSON.parse(
        await kubectlOk(['create', '-f', '-', '-o', 'json'], { input: JSON.stringify(obj), namespace }),
      );
      assert.ok(isRecord(created));
      assert.deepEqual(created.spec, applyDefaults(obj).spec, 'apiserver defaulting matches applyDefaults');

      await kubectlOk(
        ['patch', resource(kind), name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: example.status })],
        { namespace },
      );
      const table = await kubectlOk(['get', resource(kind), name], { namespace });
      const [header = '', row = ''] = table.trimEnd().split('\n');
      assert.deepEqual(header.trim().split(/\s{2,}/), example.columns, `${kind} printer columns`);
      for (const value of example.shown) assert.ok(row.includes(value), `${kind} row shows ${value}: ${row}`);
    });
  }

  for (const [i, c] of invalid.entries()) {
    test(`an invalid ${c.kind} is rejected: ${c.name}`, async () => {
      const spec = structuredClone(valid[c.kind].spec);
      c.spec(spec);
      const obj = objectOf(c.kind, `invalid-${i}`, spec);
      const predicted = validateObject(obj).issues;
      // Besides the one problem, both sides may add that CEL rules were skipped.
      const [expected, ...notes] = predicted.filter((i) => i.path !== '<root>');
      const skipped = predicted.find((i) => i.path === '<root>');
      assert.ok(expected && notes.length === 0, `the case has exactly one problem: ${JSON.stringify(predicted)}`);

      const result = await kubectl(['create', '-f', '-'], { input: JSON.stringify(obj), namespace });
      assert.notEqual(result.code, 0, `apiserver accepted ${c.name}`);
      assert.match(result.stderr, /is invalid/);
      assert.ok(result.stderr.includes(`${expected.path}:`), `stderr names ${expected.path}: ${result.stderr}`);
      assert.ok(result.stderr.includes(c.reason), `stderr says "${c.reason}": ${result.stderr}`);
      assert.ok(expected.message.includes(c.reason), `the validator says "${c.reason}" too: ${expected.message}`);
      assert.equal(
        result.stderr.includes('some validation rules were not checked'),
        skipped !== undefined,
        `apiserver and validator agree on whether CEL rules ran: ${result.stderr}`,
      );
    });
  }

  test('an unknown field is rejected by strict field validation, as the validator reports it', async () => {
    const spec = structuredClone(valid.Canary.spec);
    analysis(spec).stepWieght = 10;
    const obj = objectOf('Canary', 'unknown-field', spec);
    assert.deepEqual(
      validateObject(obj).issues.map((i) => i.path),
      ['spec.analysis.stepWieght'],
    );
    const result = await kubectl(['create', '-f', '-'], { input: JSON.stringify(obj), namespace });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unknown field "spec\.analysis\.stepWieght"/);
  });

  test('an invalid status is rejected on the status subresource', async () => {
    const name = 'status-check';
    await kubectlOk(['create', '-f', '-'], { input: JSON.stringify(objectOf('Canary', name, structuredClone(valid.Canary.spec))), namespace });
    const result = await kubectl(
      ['patch', resource('Canary'), name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Paused', canaryWeight: 120 } })],
      { namespace },
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /status\.phase: Unsupported value: "Paused"/);
    assert.match(result.stderr, /status\.canaryWeight: Invalid value: 120/);
  });
});
