import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { load } from 'js-yaml';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { CRD_DIR, applyDefaults, assertValid, crossFieldRules, validateObject } from './schema.ts';
import {
  API_GROUP,
  API_GROUP_VERSION,
  API_VERSION,
  AlertProviderTypes,
  CanaryAlertSeverities,
  CanaryPhases,
  CanaryProviders,
  ConditionStatuses,
  EventSeverities,
  MetricProviderTypes,
  MetricResults,
  OnNoDataPolicies,
  RESOURCE_PLURALS,
  ReceiverTypes,
  SLUICE_KINDS,
  WebhookTypes,
  type SluiceKind,
  type SluiceObject,
  type KubeObject,
} from './types.ts';

// Compile-time check: every sluice object can be handed to the kube layer as it is.
const _kubeCompatible = (obj: SluiceObject): KubeObject => obj;

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function get(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof key === 'number') current = Array.isArray(current) ? (current as unknown[])[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

/** Sets (or, with undefined, deletes) the field at a path like `spec.analysis.metrics[0].name`. */
function setPath(obj: Json, fieldPath: string, value: unknown): Json {
  const keys = fieldPath
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  const last = keys.pop();
  const parent = get(obj, ...keys);
  if (last === undefined || (typeof parent !== 'object' || parent === null)) {
    throw new Error(`no parent object at ${fieldPath}`);
  }
  const container = parent as Record<string | number, unknown>;
  if (value === undefined) delete container[last];
  else container[last] = value;
  return obj;
}

interface CrdFile {
  file: string;
  doc: Json;
}

function readCrds(): CrdFile[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const doc = load(readFileSync(path.join(CRD_DIR, file), 'utf8'));
      assert.ok(isRecord(doc), `${file} is a YAML map`);
      return { file, doc };
    });
}

function crdOf(kind: SluiceKind): Json {
  const found = readCrds().find((c) => get(c.doc, 'spec', 'names', 'kind') === kind);
  assert.ok(found, `CRD for ${kind}`);
  return found.doc;
}

function openAPISchema(crd: Json): Json {
  const schema = get(crd, 'spec', 'versions', 0, 'schema', 'openAPIV3Schema');
  assert.ok(isRecord(schema));
  return schema;
}

/** The schema node at a dotted schema path, with `[*]` for array items. */
function schemaAt(kind: SluiceKind, schemaPath: string): Json {
  let node: unknown = openAPISchema(crdOf(kind));
  for (const part of schemaPath.split('.')) {
    const [name, ...stars] = part.split('[*]');
    node = get(node, 'properties', name ?? '');
    for (let i = 0; i < stars.length; i++) node = get(node, 'items');
  }
  assert.ok(isRecord(node), `schema node ${kind} ${schemaPath}`);
  return node;
}

interface CelRule {
  path: string;
  rule: string;
  message: string;
}

function collectCelRules(node: unknown, at: string, out: CelRule[]): CelRule[] {
  if (!isRecord(node)) return out;
  const rules = node['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules as unknown[]) out.push({ path: at, rule: String(get(r, 'rule')), message: String(get(r, 'message')) });
  }
  const properties = node.properties;
  if (isRecord(properties)) {
    for (const [key, child] of Object.entries(properties)) collectCelRules(child, at === '' ? key : `${at}.${key}`, out);
  }
  if (node.items !== undefined) collectCelRules(node.items, `${at}[*]`, out);
  if (isRecord(node.additionalProperties)) collectCelRules(node.additionalProperties, `${at}[*]`, out);
  return out;
}

// ---------------------------------------------------------------------------
// Example objects, one valid object of each kind.

const meta = (name: string): Json => ({ name, namespace: 'apps' });

function examples(): Record<SluiceKind, Json> {
  return {
    GitRepository: {
      apiVersion: API_GROUP_VERSION,
      kind: 'GitRepository',
      metadata: meta('podinfo'),
      spec: {
        url: 'https://github.com/stefanprodan/podinfo',
        ref: { branch: 'master', commit: '0123456789abcdef0123456789abcdef01234567' },
        interval: '5m',
        secretRef: { name: 'git-token' },
        ignore: '/*\n!/kustomize\n',
        maxSizeBytes: 10485760,
      },
      status: {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Succeeded',
            message: 'stored artifact for revision master@sha1:0123456789ab',
            lastTransitionTime: '2024-05-01T10:00:00Z',
            observedGeneration: 1,
          },
        ],
        artifact: {
          revision: 'master@sha1:0123456789abcdef0123456789abcdef01234567',
          digest: 'sha256:4a5b',
          lastUpdateTime: '2024-05-01T10:00:00.123Z',
          size: 2048,
        },
      },
    },
    Sync: {
      apiVersion: API_GROUP_VERSION,
      kind: 'Sync',
      metadata: meta('podinfo'),
      spec: {
        sourceRef: { kind: 'GitRepository', name: 'podinfo' },
        path: './kustomize',
        interval: '10m',
        retryInterval: '1m30s',
        timeout: '2m',
        prune: true,
        wait: true,
        healthChecks: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo', namespace: 'apps' }],
        dependsOn: [{ name: 'infrastructure', namespace: 'infra' }],
        targetNamespace: 'apps',
      },
      status: {
        lastAppliedRevision: 'master@sha1:0123456789ab',
        inventory: { entries: [{ id: 'apps_podinfo_apps_Deployment', v: 'v1' }] },
      },
    },
    Receiver: {
      apiVersion: API_GROUP_VERSION,
      kind: 'Receiver',
      metadata: meta('github'),
      spec: {
        type: 'github',
        events: ['push', 'ping'],
        secretRef: { name: 'webhook-token' },
        resources: [
          { kind: 'GitRepository', name: 'podinfo' },
          { kind: 'Sync', name: '*', matchLabels: { team: 'web' } },
        ],
      },
      status: { webhookPath: '/hook/0123456789abcdef' },
    },
    Canary: {
      apiVersion: API_GROUP_VERSION,
      kind: 'Canary',
      metadata: meta('podinfo'),
      spec: {
        provider: 'nginx',
        targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        ingressRef: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name: 'podinfo' },
        autoscalerRef: {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          name: 'podinfo',
          primaryScalerReplicas: { minReplicas: 2, maxReplicas: 4 },
        },
        service: {
          port: 80,
          targetPort: 'http',
          portName: 'http',
          apex: { annotations: { 'example.com/owner': 'web' } },
        },
        analysis: {
          interval: '30s',
          threshold: 3,
          maxWeight: 50,
          stepWeight: 10,
          metrics: [
            { name: 'request-success-rate', thresholdRange: { min: 99 }, interval: '1m' },
            {
              name: 'error-rate',
              templateRef: { name: 'error-rate', namespace: 'monitoring' },
              templateVariables: { route: '/api' },
              thresholdRange: { max: 1.5 },
              onNoData: 'hold',
              maxHoldChecks: 3,
            },
          ],
          webhooks: [
            { name: 'gate', type: 'confirm-promotion', url: 'http://gate.apps/approve' },
            { name: 'notify', type: 'event', url: 'https://hooks.example.com/x', muteAlert: true },
          ],
          alerts: [{ name: 'on-call', severity: 'error', providerRef: { name: 'slack' } }],
        },
      },
      status: {
        phase: 'Progressing',
        canaryWeight: 20,
        failedChecks: 1,
        iterations: 0,
        lastAppliedSpec: '5d8f7b',
        lastTransitionTime: '2024-05-01T10:02:00Z',
        trackedConfigs: { 'configmap/podinfo-config': 'a1b2' },
        observedGeneration: 3,
        conditions: [
          {
            type: 'Ready',
            status: 'Unknown',
            reason: 'Progressing',
            message: 'Advancing canary weight 20',
            lastTransitionTime: '2024-05-01T10:02:00Z',
          },
        ],
        metrics: [{ name: 'error-rate', result: 'NoData', message: 'no data, holding (1/3)', time: '2024-05-01T10:02:00Z' }],
        history: [{ time: '2024-05-01T10:01:00Z', phase: 'Progressing', weight: 10, message: 'weight 10' }],
        failedRevision: { revision: '7c9e1a', images: ['ghcr.io/stefanprodan/podinfo:6.0.1'], reason: 'failed checks' },
      },
    },
    MetricTemplate: {
      apiVersion: API_GROUP_VERSION,
      kind: 'MetricTemplate',
      metadata: meta('error-rate'),
      spec: {
        provider: { type: 'prometheus', address: 'http://prometheus.monitoring:9090', headers: { 'X-Scope-OrgID': 'apps' } },
        query: 'sum(rate(http_requests_total{namespace="{{ namespace }}",status=~"5.."}[{{ interval }}]))',
      },
    },
    AlertProvider: {
      apiVersion: API_GROUP_VERSION,
      kind: 'AlertProvider',
      metadata: meta('slack'),
      spec: { type: 'slack', channel: 'deploys', username: 'sluice', secretRef: { name: 'slack-url' } },
    },
    Alert: {
      apiVersion: API_GROUP_VERSION,
      kind: 'Alert',
      metadata: meta('rollouts'),
      spec: {
        providerRef: { name: 'slack' },
        eventSources: [
          { kind: 'Canary', name: '*' },
          { kind: 'Sync', name: '*', namespace: 'apps', matchLabels: { team: 'web' } },
        ],
        eventSeverity: 'error',
        exclusionList: ['.*no changes.*'],
        summary: 'prod-eu',
      },
    },
  };
}

function example(kind: SluiceKind, ...changes: [string, unknown][]): Json {
  const obj = examples()[kind];
  for (const [p, v] of changes) setPath(obj, p, v);
  return obj;
}

// The apiserver adds this when a type, required, enum or size error stops it
// from evaluating the CEL rules; the validator does the same.
const RULES_SKIPPED =
  '<root>: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

function issuesOf(obj: unknown): string[] {
  return validateObject(obj).issues.map((i) => `${i.path}: ${i.message}`);
}

// A Canary written for Flagger, in the shape of Flagger's podinfo tutorial.
const flaggerPodinfoYaml = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  autoscalerRef:
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    name: podinfo
  service:
    port: 9898
    targetPort: 9898
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
      interval: 1m
    - name: request-duration
      thresholdRange:
        max: 500
      interval: 30s
    webhooks:
      - name: acceptance-test
        type: pre-rollout
        url: http://flagger-loadtester.test/
        timeout: 30s
        metadata:
          type: bash
          cmd: "curl -sd 'test' http://podinfo-canary:9898/token | grep token"
      - name: load-test
        type: rollout
        url: http://flagger-loadtester.test/
        metadata:
          cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"
`;

// ---------------------------------------------------------------------------

describe('CRD files', () => {
  const crds = readCrds();

  test('there is one file per kind, named after its plural', () => {
    assert.deepEqual(
      crds.map((c) => c.file),
      SLUICE_KINDS.map((k) => `${RESOURCE_PLURALS[k]}.yaml`).sort(),
    );
  });

  for (const { file, doc } of crds) {
    test(`${file} is a namespaced ${API_GROUP}/${API_VERSION} CRD with status and printer columns`, () => {
      const kind = get(doc, 'spec', 'names', 'kind');
      assert.ok(typeof kind === 'string' && (SLUICE_KINDS as readonly string[]).includes(kind));
      const plural = RESOURCE_PLURALS[kind as SluiceKind];
      assert.equal(doc.apiVersion, 'apiextensions.k8s.io/v1');
      assert.equal(doc.kind, 'CustomResourceDefinition');
      assert.equal(get(doc, 'metadata', 'name'), `${plural}.${API_GROUP}`);
      assert.equal(get(doc, 'spec', 'group'), API_GROUP);
      assert.equal(get(doc, 'spec', 'scope'), 'Namespaced');
      assert.equal(get(doc, 'spec', 'names', 'plural'), plural);
      assert.equal(get(doc, 'spec', 'names', 'singular'), kind.toLowerCase());
      assert.equal(get(doc, 'spec', 'names', 'listKind'), `${kind}List`);
      assert.deepEqual(get(doc, 'spec', 'names', 'categories'), ['sluice']);

      const versions = get(doc, 'spec', 'versions');
      assert.ok(Array.isArray(versions) && versions.length === 1);
      const version: unknown = versions[0];
      assert.equal(get(version, 'name'), API_VERSION);
      assert.equal(get(version, 'served'), true);
      assert.equal(get(version, 'storage'), true);
      assert.deepEqual(get(version, 'subresources'), { status: {} });

      const columns = get(version, 'additionalPrinterColumns');
      assert.ok(Array.isArray(columns));
      const byName = new Map((columns as unknown[]).map((c) => [get(c, 'name'), c]));
      assert.equal(get(byName.get('Ready'), 'jsonPath'), '.status.conditions[?(@.type=="Ready")].status');
      assert.equal(get(byName.get('Status'), 'jsonPath'), '.status.conditions[?(@.type=="Ready")].message');
      assert.equal(get(byName.get('Age'), 'jsonPath'), '.metadata.creationTimestamp');
      assert.equal(get(byName.get('Age'), 'type'), 'date');
      const specific: Record<string, string[]> = {
        GitRepository: ['URL', 'Revision'],
        Sync: ['Source', 'Revision'],
        Canary: ['Phase', 'Weight', 'FailedChecks', 'LastTransition'],
      };
      for (const name of specific[kind] ?? []) assert.ok(byName.has(name), `${file} has printer column ${name}`);
    });

    test(`${file} describes every field and gives every node a type`, () => {
      const missing: string[] = [];
      const walk = (node: unknown, at: string): void => {
        if (!isRecord(node)) return;
        if (node.type === undefined && node['x-kubernetes-int-or-string'] !== true) missing.push(`${at}: type`);
        const properties = node.properties;
        if (isRecord(properties)) {
          for (const [key, child] of Object.entries(properties)) {
            const childAt = at === '' ? key : `${at}.${key}`;
            if (childAt !== 'metadata' && typeof get(child, 'description') !== 'string') missing.push(`${childAt}: description`);
            walk(child, childAt);
          }
        }
        walk(node.items, `${at}[*]`);
        walk(node.additionalProperties, `${at}[*]`);
      };
      walk(get(doc, 'spec', 'versions', 0, 'schema', 'openAPIV3Schema'), '');
      assert.deepEqual(missing, []);
    });

    test(`${file} conditions follow metav1.Condition as a map list keyed by type`, () => {
      const conditions = get(doc, 'spec', 'versions', 0, 'schema', 'openAPIV3Schema', 'properties', 'status', 'properties', 'conditions');
      assert.equal(get(conditions, 'x-kubernetes-list-type'), 'map');
      assert.deepEqual(get(conditions, 'x-kubernetes-list-map-keys'), ['type']);
      assert.deepEqual(
        new Set(get(conditions, 'items', 'required') as string[]),
        new Set(['type', 'status', 'lastTransitionTime', 'reason', 'message']),
      );
      assert.deepEqual(get(conditions, 'items', 'properties', 'status', 'enum'), [...ConditionStatuses]);
      assert.equal(get(conditions, 'items', 'properties', 'lastTransitionTime', 'format'), 'date-time');
    });
  }

  test('enum lists in types.ts match the CRDs', () => {
    const enumAt = (kind: SluiceKind, schemaPath: string): unknown => schemaAt(kind, schemaPath).enum;
    assert.deepEqual(enumAt('Receiver', 'spec.type'), [...ReceiverTypes]);
    assert.deepEqual(enumAt('Canary', 'spec.provider'), [...CanaryProviders]);
    assert.deepEqual(enumAt('Canary', 'status.phase'), [...CanaryPhases]);
    assert.deepEqual(enumAt('Canary', 'status.history[*].phase'), [...CanaryPhases]);
    assert.deepEqual(enumAt('Canary', 'spec.analysis.webhooks[*].type'), [...WebhookTypes]);
    assert.deepEqual(enumAt('Canary', 'spec.analysis.metrics[*].onNoData'), [...OnNoDataPolicies]);
    assert.deepEqual(enumAt('Canary', 'spec.analysis.alerts[*].severity'), [...CanaryAlertSeverities]);
    assert.deepEqual(enumAt('Canary', 'status.metrics[*].result'), [...MetricResults]);
    assert.deepEqual(enumAt('MetricTemplate', 'spec.provider.type'), [...MetricProviderTypes]);
    assert.deepEqual(enumAt('AlertProvider', 'spec.type'), [...AlertProviderTypes]);
    assert.deepEqual(enumAt('Alert', 'spec.eventSeverity'), [...EventSeverities]);
  });

  test('every CEL rule has a TypeScript twin with the same path and message, and no twin is stale', () => {
    for (const kind of SLUICE_KINDS) {
      const cel = collectCelRules(openAPISchema(crdOf(kind)), '', []).map((r) => `${r.path}: ${r.message}`);
      const ts = crossFieldRules[kind].map((r) => `${r.path}: ${r.message}`);
      assert.deepEqual([...ts].sort(), [...cel].sort(), `cross-field rules of ${kind}`);
      assert.equal(new Set(cel).size, cel.length, `${kind} rule messages are unique per path`);
    }
  });
});

describe('validateObject', () => {
  for (const kind of SLUICE_KINDS) {
    test(`a valid ${kind} passes`, () => {
      assert.deepEqual(validateObject(examples()[kind]), { valid: true, issues: [] });
    });
  }

  test('a minimal object of each kind passes once required fields are set', () => {
    const minimal: Record<SluiceKind, Json> = {
      GitRepository: { url: 'http://git.local/repo.git' },
      Sync: { sourceRef: { kind: 'GitRepository', name: 'repo' }, interval: '5m', prune: false },
      Receiver: { type: 'generic', secretRef: { name: 's' }, resources: [{ kind: 'Sync', name: 'apps' }] },
      Canary: { targetRef: { kind: 'Deployment', name: 'app' }, service: { port: 8080 }, analysis: { iterations: 10 } },
      MetricTemplate: { provider: {}, query: 'up' },
      AlertProvider: { type: 'generic', address: 'https://hooks.example.com/' },
      Alert: { providerRef: { name: 'p' }, eventSources: [{ kind: 'GitRepository', name: '*' }] },
    };
    for (const kind of SLUICE_KINDS) {
      const obj = { apiVersion: API_GROUP_VERSION, kind, metadata: { name: 'x' }, spec: minimal[kind] };
      assert.deepEqual(issuesOf(obj), [], kind);
    }
  });

  const invalid: { name: string; obj: () => unknown; expect: string[] }[] = [
    {
      name: 'wrong type',
      obj: () => example('Canary', ['spec.service.port', '9898']),
      expect: ['spec.service.port: Invalid value: "9898": must be of type integer, not string', RULES_SKIPPED],
    },
    {
      name: 'number where an integer is required',
      obj: () => example('Canary', ['spec.analysis.threshold', 2.5]),
      expect: ['spec.analysis.threshold: Invalid value: 2.5: must be of type integer, not number', RULES_SKIPPED],
    },
    {
      name: 'object where a string is required',
      obj: () => example('Sync', ['spec.interval', { minutes: 5 }]),
      expect: ['spec.interval: Invalid value: "object": must be of type string, not object', RULES_SKIPPED],
    },
    {
      name: 'above maximum',
      obj: () => example('Canary', ['spec.analysis.stepWeight', 150]),
      expect: ['spec.analysis.stepWeight: Invalid value: 150: must be less than or equal to 100'],
    },
    {
      name: 'below minimum',
      obj: () => example('Canary', ['spec.service.port', 0]),
      expect: ['spec.service.port: Invalid value: 0: must be greater than or equal to 1'],
    },
    {
      name: 'out of range inside a list',
      obj: () => example('Canary', ['spec.analysis.stepWeight', undefined], ['spec.analysis.stepWeights', [5, 10, 101]]),
      expect: ['spec.analysis.stepWeights[2]: Invalid value: 101: must be less than or equal to 100'],
    },
    {
      name: 'enum',
      obj: () => example('Canary', ['spec.provider', 'contour']),
      expect: [
        'spec.provider: Unsupported value: "contour": supported values: "kubernetes", "nginx", "istio", "linkerd", "smi", "smi:v1alpha4", "gatewayapi", "gatewayapi:v1"',
        RULES_SKIPPED,
      ],
    },
    {
      name: 'enum inside a list',
      obj: () => example('Canary', ['spec.analysis.webhooks[0].type', 'pre-promotion']),
      expect: [
        'spec.analysis.webhooks[0].type: Unsupported value: "pre-promotion": supported values: "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "event"',
        RULES_SKIPPED,
      ],
    },
    {
      name: 'missing required field',
      obj: () => example('Canary', ['spec.service.port', undefined]),
      expect: ['spec.service.port: Required value', RULES_SKIPPED],
    },
    {
      name: 'missing required field in a list item',
      obj: () => example('Canary', ['spec.analysis.webhooks[1].url', undefined]),
      expect: ['spec.analysis.webhooks[1].url: Required value', RULES_SKIPPED],
    },
    {
      name: 'missing spec',
      obj: () => example('Sync', ['spec', undefined]),
      expect: ['spec: Required value', RULES_SKIPPED],
    },
    {
      name: 'null for a required field is pruned, then reported missing',
      obj: () => example('Sync', ['spec.prune', null]),
      expect: ['spec.prune: Required value', RULES_SKIPPED],
    },
    {
      name: 'ssh:// URL',
      obj: () => example('GitRepository', ['spec.url', 'ssh://git@github.com/org/repo.git']),
      expect: [
        'spec.url: Invalid value: "ssh://git@github.com/org/repo.git": must be an https:// or http:// URL; SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token in spec.secretRef',
      ],
    },
    {
      name: 'scp-style git@ URL',
      obj: () => example('GitRepository', ['spec.url', 'git@github.com:org/repo.git']),
      expect: [
        'spec.url: Invalid value: "git@github.com:org/repo.git": must be an https:// or http:// URL; SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token in spec.secretRef',
      ],
    },
    {
      name: 'stepWeight and stepWeights together',
      obj: () => example('Canary', ['spec.analysis.stepWeights', [10, 20, 40]]),
      expect: ['spec.analysis.stepWeight: Forbidden: stepWeight and stepWeights are mutually exclusive'],
    },
    {
      name: 'unknown kind',
      obj: () => ({ apiVersion: API_GROUP_VERSION, kind: 'Rollout', metadata: { name: 'x' }, spec: {} }),
      expect: [
        'kind: Unsupported value: "Rollout": supported values: "GitRepository", "Sync", "Receiver", "Canary", "MetricTemplate", "AlertProvider", "Alert"',
      ],
    },
    {
      name: 'another API group',
      obj: () => example('Canary', ['apiVersion', 'flagger.app/v1beta1']),
      expect: ['apiVersion: Unsupported value: "flagger.app/v1beta1": supported values: "sluice.dev/v1alpha1"'],
    },
    {
      name: 'no apiVersion or kind',
      obj: () => ({ metadata: { name: 'x' } }),
      expect: ['apiVersion: Required value', 'kind: Required value'],
    },
    {
      name: 'not an object',
      obj: () => 'kind: Canary',
      expect: ['<root>: Invalid value: "kind: Canary": must be an object'],
    },
    {
      name: 'unknown field',
      obj: () => example('Canary', ['spec.analysis.stepWieght', 5]),
      expect: ['spec.analysis.stepWieght: Unknown field: it is not in the schema'],
    },
    {
      name: 'pattern (duration)',
      obj: () => example('Canary', ['spec.analysis.interval', '1 minute']),
      expect: ['spec.analysis.interval: Invalid value: "1 minute": must be a duration such as 30s, 5m or 1h30m'],
    },
    {
      name: 'pattern (raw)',
      obj: () => example('GitRepository', ['spec.ref', { commit: 'abc123' }]),
      expect: ['spec.ref.commit: Invalid value: "abc123": must match \'^[0-9a-f]{40}([0-9a-f]{24})?$\''],
    },
    {
      name: 'minLength',
      obj: () => example('MetricTemplate', ['spec.query', '']),
      expect: ['spec.query: Invalid value: "": must be at least 1 character long'],
    },
    {
      name: 'maxLength',
      obj: () => example('Alert', ['spec.summary', 'x'.repeat(256)]),
      expect: ['spec.summary: Too long: may not be more than 255 characters', RULES_SKIPPED],
    },
    {
      name: 'minItems',
      obj: () => example('Receiver', ['spec.resources', []]),
      expect: ['spec.resources: Invalid value: 0: must have at least 1 item'],
    },
    {
      name: 'maxItems',
      obj: () =>
        example('Canary', [
          'status.history',
          Array.from({ length: 51 }, () => ({ time: '2024-05-01T10:00:00Z', phase: 'Progressing' })),
        ]),
      expect: ['status.history: Too many: 51: must have at most 50 items', RULES_SKIPPED],
    },
    {
      name: 'duplicate key in a map list',
      obj: () => example('Canary', ['spec.analysis.metrics[1].name', 'request-success-rate']),
      expect: ['spec.analysis.metrics[1]: Duplicate value: {"name":"request-success-rate"}'],
    },
    {
      name: 'date-time',
      obj: () => example('Canary', ['status.lastTransitionTime', 'yesterday']),
      expect: ['status.lastTransitionTime: Invalid value: "yesterday": must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z'],
    },
    {
      name: 'int-or-string',
      obj: () => example('Canary', ['spec.service.targetPort', 80.5]),
      expect: ['spec.service.targetPort: Invalid value: 80.5: must be an integer or a string', RULES_SKIPPED],
    },
    {
      name: 'map values',
      obj: () => example('Canary', ['spec.analysis.metrics[1].templateVariables', { route: 5 }]),
      expect: ['spec.analysis.metrics[1].templateVariables[route]: Invalid value: 5: must be of type string, not integer', RULES_SKIPPED],
    },
    {
      name: 'condition status',
      obj: () => example('GitRepository', ['status.conditions[0].status', true]),
      expect: ['status.conditions[0].status: Invalid value: true: must be of type string, not boolean', RULES_SKIPPED],
    },
    {
      name: 'missing metadata.name',
      obj: () => example('Alert', ['metadata', { namespace: 'apps' }]),
      expect: ['metadata.name: Required value: name or generateName is required'],
    },
    {
      name: 'invalid metadata.name',
      obj: () => example('Alert', ['metadata.name', 'Rollouts']),
      expect: [
        'metadata.name: Invalid value: "Rollouts": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character',
      ],
    },
    {
      name: 'several issues at once are all reported',
      obj: () =>
        example('Canary', ['spec.service.port', 70000], ['spec.targetRef.kind', 'DaemonSet'], ['spec.analysis.maxWeight', 0]),
      expect: [
        'spec.targetRef.kind: Unsupported value: "DaemonSet": supported values: "Deployment"',
        'spec.service.port: Invalid value: 70000: must be less than or equal to 65535',
        'spec.analysis.maxWeight: Invalid value: 0: must be greater than or equal to 1',
        RULES_SKIPPED,
      ],
    },
  ];

  for (const c of invalid) {
    test(`rejects: ${c.name}`, () => {
      const result = validateObject(c.obj());
      assert.equal(result.valid, false);
      assert.deepEqual(
        result.issues.map((i) => `${i.path}: ${i.message}`),
        c.expect,
      );
    });
  }

  test('unknown fields can be ignored instead, like the apiserver pruning them', () => {
    const obj = example('Canary', ['spec.analysis.stepWieght', 5]);
    assert.deepEqual(validateObject(obj, { rejectUnknownFields: false }).issues, []);
  });

  test('fields under x-kubernetes-preserve-unknown-fields accept anything', () => {
    const obj = example(
      'Canary',
      ['spec.service.corsPolicy', { allowOrigins: [{ exact: 'https://example.com' }], maxAge: '24h' }],
      ['spec.service.trafficPolicy', { tls: { mode: 'ISTIO_MUTUAL' } }],
      ['spec.analysis.match', [{ headers: { 'x-canary': { exact: 'insider' } } }]],
    );
    assert.deepEqual(issuesOf(obj), []);
  });
});

describe('cross-field rules', () => {
  const cases: { kind: SluiceKind; rule: string; changes: [string, unknown][]; expect: string }[] = [
    {
      kind: 'GitRepository',
      rule: 'spec.url',
      changes: [['spec.url', 'ftp://example.com/repo']],
      expect:
        'spec.url: Invalid value: "ftp://example.com/repo": must be an https:// or http:// URL; SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token in spec.secretRef',
    },
    {
      kind: 'GitRepository',
      rule: 'spec.ref',
      changes: [['spec.ref', { branch: 'main', tag: 'v1.0.0' }]],
      expect: 'spec.ref: Invalid value: set at most one of branch, tag and semver',
    },
    {
      kind: 'GitRepository',
      rule: 'spec.ref',
      changes: [['spec.ref', { semver: '>=1.0.0', commit: '0123456789abcdef0123456789abcdef01234567' }]],
      expect: 'spec.ref: Invalid value: commit can only be combined with branch, not with tag or semver',
    },
    {
      kind: 'Sync',
      rule: 'spec.path',
      changes: [['spec.path', './apps/../../etc']],
      expect:
        'spec.path: Invalid value: "./apps/../../etc": must not contain \'..\' segments; the path is relative to the root of the source',
    },
    {
      kind: 'Receiver',
      rule: 'spec.resources[*]',
      changes: [['spec.resources[0].matchLabels', { team: 'web' }]],
      expect: "spec.resources[0].matchLabels: Forbidden: matchLabels requires name to be '*'",
    },
    {
      kind: 'Canary',
      rule: 'spec.autoscalerRef.primaryScalerReplicas',
      changes: [['spec.autoscalerRef.primaryScalerReplicas', { minReplicas: 5, maxReplicas: 2 }]],
      expect:
        'spec.autoscalerRef.primaryScalerReplicas.minReplicas: Invalid value: minReplicas must not be greater than maxReplicas',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis',
      changes: [['spec.analysis.stepWeights', [10, 20]]],
      expect: 'spec.analysis.stepWeight: Forbidden: stepWeight and stepWeights are mutually exclusive',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis',
      changes: [['spec.analysis.stepWeight', undefined]],
      expect:
        'spec.analysis.stepWeight: Required value: set iterations (blue/green, A/B testing) or stepWeight/stepWeights (progressive traffic shifting)',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis',
      changes: [['spec.analysis.iterations', 10]],
      expect: 'spec.analysis.iterations: Forbidden: iterations cannot be combined with stepWeight or stepWeights',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.stepWeights',
      changes: [['spec.analysis.stepWeight', undefined], ['spec.analysis.stepWeights', [10, 50, 20]]],
      expect: 'spec.analysis.stepWeights: Invalid value: stepWeights must be in ascending order',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.metrics[*].thresholdRange',
      changes: [['spec.analysis.metrics[0].thresholdRange', {}]],
      expect: 'spec.analysis.metrics[0].thresholdRange: Invalid value: thresholdRange must set min, max or both',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.metrics[*].thresholdRange',
      changes: [['spec.analysis.metrics[0].thresholdRange', { min: 99, max: 95 }]],
      expect: 'spec.analysis.metrics[0].thresholdRange.min: Invalid value: thresholdRange min must not be greater than max',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.metrics[*]',
      changes: [['spec.analysis.metrics[1].query', 'sum(up)']],
      expect: 'spec.analysis.metrics[1].query: Forbidden: templateRef and query are mutually exclusive',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.metrics[*]',
      changes: [['spec.analysis.metrics[1].templateRef', undefined]],
      expect:
        'spec.analysis.metrics[1].templateRef: Required value: metrics other than request-success-rate and request-duration need a templateRef (or the deprecated inline query)',
    },
    {
      kind: 'Canary',
      rule: 'spec.analysis.metrics[*]',
      changes: [['spec.analysis.metrics[1].onNoData', 'pass']],
      expect: 'spec.analysis.metrics[1].maxHoldChecks: Forbidden: maxHoldChecks can only be set when onNoData is hold',
    },
    {
      kind: 'AlertProvider',
      rule: 'spec',
      changes: [['spec.secretRef', undefined]],
      expect: 'spec.address: Required value: set address, or secretRef to a Secret with an address key',
    },
    {
      kind: 'AlertProvider',
      rule: 'spec',
      changes: [['spec.type', 'generic-hmac'], ['spec.secretRef', undefined], ['spec.address', 'https://hooks.example.com/']],
      expect: 'spec.secretRef: Required value: type generic-hmac needs secretRef to a Secret with a token key (the HMAC key)',
    },
    {
      kind: 'Alert',
      rule: 'spec.eventSources[*]',
      changes: [['spec.eventSources[0]', { kind: 'Canary', name: 'podinfo', matchLabels: { team: 'web' } }]],
      expect: "spec.eventSources[0].matchLabels: Forbidden: matchLabels requires name to be '*'",
    },
  ];

  for (const c of cases) {
    test(`${c.kind} ${c.expect.slice(0, c.expect.indexOf(':'))}: ${c.expect.slice(c.expect.indexOf(':') + 2, 80)}`, () => {
      assert.deepEqual(issuesOf(example(c.kind, ...c.changes)), [c.expect]);
    });
  }

  test('every rule is exercised by a case above', () => {
    for (const kind of SLUICE_KINDS) {
      for (const rule of crossFieldRules[kind]) {
        assert.ok(
          cases.some((c) => c.kind === kind && c.rule === rule.path && c.expect.includes(rule.message)),
          `no failing case for ${kind} ${rule.path}: ${rule.message}`,
        );
      }
    }
  });

  test('rules are skipped after a type, required, enum or size error, as the apiserver does', () => {
    // Otherwise the wrongly typed stepWeight would also trip the analysis rules.
    assert.deepEqual(issuesOf(example('Canary', ['spec.analysis.stepWeight', 'ten'], ['spec.analysis.stepWeights', [1]])), [
      'spec.analysis.stepWeight: Invalid value: "ten": must be of type integer, not string',
      RULES_SKIPPED,
    ]);
  });

  test('rules still run after range, pattern and duplicate errors, as the apiserver does', () => {
    assert.deepEqual(
      issuesOf(example('Canary', ['spec.analysis.stepWeight', 150], ['spec.analysis.stepWeights', [1]])),
      [
        'spec.analysis.stepWeight: Invalid value: 150: must be less than or equal to 100',
        'spec.analysis.stepWeight: Forbidden: stepWeight and stepWeights are mutually exclusive',
      ],
    );
  });

  test('commit may be combined with branch', () => {
    assert.deepEqual(
      issuesOf(example('GitRepository', ['spec.ref', { branch: 'main', commit: '0123456789abcdef0123456789abcdef01234567' }])),
      [],
    );
  });
});

describe('applyDefaults', () => {
  test('fills defaults of present objects, including inside lists, as the apiserver does', () => {
    const canary = applyDefaults({
      apiVersion: API_GROUP_VERSION,
      kind: 'Canary',
      metadata: { name: 'podinfo' },
      spec: {
        targetRef: { kind: 'Deployment', name: 'podinfo' },
        service: { port: 9898, gatewayRefs: [{ name: 'public' }] },
        analysis: {
          stepWeight: 10,
          metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
          webhooks: [{ name: 'load-test', url: 'http://loadtester/' }],
          alerts: [{ name: 'chat', providerRef: { name: 'slack' } }],
        },
      },
    });
    assert.deepEqual(canary.spec, {
      targetRef: { kind: 'Deployment', name: 'podinfo' },
      progressDeadlineSeconds: 600,
      service: { port: 9898, gatewayRefs: [{ name: 'public', group: 'gateway.networking.k8s.io', kind: 'Gateway' }] },
      analysis: {
        interval: '1m',
        threshold: 5,
        stepWeight: 10,
        primaryReadyThreshold: 100,
        canaryReadyThreshold: 100,
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 }, onNoData: 'fail' }],
        webhooks: [{ name: 'load-test', url: 'http://loadtester/', type: 'rollout', timeout: '60s' }],
        alerts: [{ name: 'chat', providerRef: { name: 'slack' }, severity: 'info' }],
      },
    });
  });

  test('leaves absent optional objects absent and keeps values that are set', () => {
    const canary = applyDefaults(example('Canary'));
    const analysis = get(canary, 'spec', 'analysis');
    assert.equal(get(analysis, 'sessionAffinity'), undefined);
    assert.equal(get(analysis, 'interval'), '30s');
    assert.equal(get(analysis, 'threshold'), 3);
    assert.equal(get(analysis, 'metrics', 1, 'onNoData'), 'hold');
    const withAffinity = applyDefaults(example('Canary', ['spec.analysis.sessionAffinity', { cookieName: 'canary' }]));
    assert.deepEqual(get(withAffinity, 'spec', 'analysis', 'sessionAffinity'), { cookieName: 'canary', maxAge: 86400 });
  });

  test('defaults of the other kinds', () => {
    const spec = (kind: SluiceKind, s: Json): unknown =>
      get(applyDefaults({ apiVersion: API_GROUP_VERSION, kind, metadata: { name: 'x' }, spec: s }), 'spec');
    assert.deepEqual(spec('GitRepository', { url: 'https://git.local/r' }), {
      url: 'https://git.local/r',
      interval: '1m',
      timeout: '60s',
    });
    assert.deepEqual(spec('Sync', { interval: '5m' }), { interval: '5m', path: './' });
    assert.deepEqual(spec('MetricTemplate', { provider: {}, query: 'up' }), { provider: { type: 'prometheus' }, query: 'up' });
    assert.deepEqual(spec('AlertProvider', { type: 'slack' }), { type: 'slack', timeout: '15s' });
    assert.deepEqual(spec('Alert', { providerRef: { name: 'p' } }), { providerRef: { name: 'p' }, eventSeverity: 'info' });
  });

  test('replaces null with the default, like apiserver pruning of non-nullable nulls', () => {
    const repo = applyDefaults(example('GitRepository', ['spec.interval', null]));
    assert.equal(get(repo, 'spec', 'interval'), '1m');
  });

  test('does not modify its argument, and leaves foreign objects unchanged', () => {
    const input = example('Sync', ['spec.path', undefined]);
    const before = JSON.stringify(input);
    const output = applyDefaults(input);
    assert.equal(JSON.stringify(input), before);
    assert.equal(get(output, 'spec', 'path'), './');
    const foreign = { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 1 } };
    assert.deepEqual(applyDefaults(foreign), foreign);
  });
});

describe('assertValid', () => {
  test('returns the defaulted object when valid', () => {
    const canary = assertValid(example('Canary', ['spec.progressDeadlineSeconds', undefined]));
    assert.equal(canary.kind, 'Canary');
    if (canary.kind === 'Canary') assert.equal(canary.spec.progressDeadlineSeconds, 600);
  });

  test('throws SPEC_INVALID listing every issue and how to find the allowed values', () => {
    const obj = example('Canary', ['spec.analysis.stepWeight', 150], ['spec.service.port', undefined]);
    assert.throws(
      () => assertValid(obj),
      (error: unknown) => {
        assert.ok(error instanceof SluiceError);
        assert.equal(error.code, ErrorCodes.SpecInvalid);
        assert.equal(
          error.message,
          [
            'Canary "apps/podinfo" is invalid (3 problems):',
            '  - spec.service.port: Required value',
            '  - spec.analysis.stepWeight: Invalid value: 150: must be less than or equal to 100',
            `  - ${RULES_SKIPPED}`,
            'Fix the fields listed above and apply again; for the allowed values see `kubectl explain canary.spec.service --api-version=sluice.dev/v1alpha1`, `kubectl explain canary.spec.analysis --api-version=sluice.dev/v1alpha1`.',
          ].join('\n'),
        );
        return true;
      },
    );
  });

  test('an unknown kind names the supported kinds', () => {
    assert.throws(
      () => assertValid({ apiVersion: 'flagger.app/v1beta1', kind: 'Canary', metadata: { name: 'podinfo' } }),
      (error: unknown) =>
        error instanceof SluiceError &&
        error.code === ErrorCodes.SpecInvalid &&
        error.message.includes('apiVersion: Unsupported value: "flagger.app/v1beta1"') &&
        error.message.includes('use apiVersion sluice.dev/v1alpha1 and one of the kinds GitRepository, Sync,'),
    );
  });
});

describe('migrating from Flagger', () => {
  test('the podinfo tutorial Canary validates after changing only apiVersion', () => {
    const flagger = load(flaggerPodinfoYaml);
    assert.ok(isRecord(flagger));
    assert.deepEqual(issuesOf(flagger), [
      'apiVersion: Unsupported value: "flagger.app/v1beta1": supported values: "sluice.dev/v1alpha1"',
    ]);

    const migrated = { ...flagger, apiVersion: API_GROUP_VERSION };
    assert.deepEqual(validateObject(migrated), { valid: true, issues: [] });
    const canary = assertValid(migrated);
    assert.equal(canary.kind, 'Canary');
    if (canary.kind !== 'Canary') return;
    // Flagger's implicit defaults become explicit ones.
    assert.equal(canary.spec.analysis.webhooks?.[1]?.type, 'rollout');
    assert.equal(canary.spec.analysis.webhooks?.[1]?.timeout, '60s');
    assert.equal(canary.spec.analysis.metrics?.[0]?.onNoData, 'fail');
    assert.equal(canary.spec.service.targetPort, 9898);
  });
});
