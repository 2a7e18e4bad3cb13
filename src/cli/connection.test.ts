import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { chooseKubeconfig, explainError } from './connection.ts';

const kubeconfig = (current: string | undefined, contexts: [string, string][] = [['dev', 'dev-cluster']], clusters = ['dev-cluster']) => `apiVersion: v1
kind: Config
clusters:
${clusters.map((c) => `- name: ${c}\n  cluster:\n    server: https://127.0.0.1:6443`).join('\n')}
users:
- name: me
  user:
    token: t
contexts:
${contexts.map(([name, cluster]) => `- name: ${name}\n  context:\n    cluster: ${cluster}\n    user: me`).join('\n')}
${current === undefined ? '' : `current-context: ${current}`}
`;

/** The error chooseKubeconfig throws, as the one line the CLI prints. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SluiceError && error.code === ErrorCodes.KubeConfigInvalid, String(error));
    const line = error.describe();
    assert.doesNotMatch(line, /\n/, 'one line');
    return line;
  }
  assert.fail('no error');
}

describe('chooseKubeconfig', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kubeconfig-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--kubeconfig, then KUBECONFIG (merged, first current-context), then ~/.kube/config', () => {
    const good = file('good', kubeconfig('dev'));
    assert.deepEqual(chooseKubeconfig({ kubeconfig: good }, {}), { files: [good], origin: '--kubeconfig', context: 'dev' });
    const other = file('other', kubeconfig('prod', [['prod', 'prod-cluster']], ['prod-cluster']));
    assert.deepEqual(chooseKubeconfig({}, { KUBECONFIG: `${good}${path.delimiter}${other}` }), { files: [good, other], origin: 'KUBECONFIG', context: 'dev' });
    assert.equal(chooseKubeconfig({ context: 'prod' }, { KUBECONFIG: `${good}${path.delimiter}${other}` }).context, 'prod');
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
    fs.copyFileSync(good, path.join(home, '.kube', 'config'));
    assert.equal(chooseKubeconfig({}, {}, home).origin, '~/.kube/config');
    // In a Pod without a kubeconfig: the ServiceAccount.
    assert.deepEqual(chooseKubeconfig({}, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, path.join(dir, 'nohome')), { files: [], origin: 'in-cluster', context: undefined });
  });

  test('a missing, unreadable or malformed kubeconfig is one line that names the file', () => {
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: path.join(dir, 'missing') }, {})), /^kubeconfig \S+missing \(--kubeconfig\) does not exist; pass --kubeconfig/);
    assert.match(failure(() => chooseKubeconfig({}, { KUBECONFIG: path.join(dir, 'gone') })), /gone \(KUBECONFIG\) does not exist/);
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: dir }, {})), /is a directory/);
    const broken = file('broken', 'clusters: [\n  - name: x\n');
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: broken }, {})), /^kubeconfig \S+broken \(--kubeconfig\) is not valid YAML: .* at line \d+, column \d+; /);
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: file('text', 'hello') }, {})), /is not a kubeconfig/);
    assert.match(failure(() => chooseKubeconfig({}, {}, path.join(dir, 'nohome'))), /^no kubeconfig: --kubeconfig is not given, KUBECONFIG is not set and \S+ does not exist; pass --kubeconfig FILE or set KUBECONFIG$/);
  });

  test('an unknown or missing context lists the contexts there are', () => {
    const good = file('two', kubeconfig('dev', [['dev', 'dev-cluster'], ['staging', 'dev-cluster']]));
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: good, context: 'prod' }, {})), /^--context "prod" is not defined in kubeconfig \S+two; use one of its contexts: "dev", "staging" \(kubectl config get-contexts\)$/);
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: file('stale', kubeconfig('old')) }, {})), /^current-context "old" is not defined in kubeconfig/);
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: file('none', kubeconfig(undefined)) }, {})), /sets no current-context; pass --context NAME; its contexts: "dev"$/);
    assert.match(failure(() => chooseKubeconfig({ kubeconfig: file('dangling', kubeconfig('dev', [['dev', 'elsewhere']])) }, {})), /context "dev" in kubeconfig \S+ names cluster "elsewhere", which is not defined there; its clusters: "dev-cluster"/);
  });
});

describe('explainError', () => {
  const where = { server: 'https://10.1.2.3:6443', context: 'dev', namespace: 'team' };

  test('a refused connection names the server and the context', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:6443'), { code: 'ECONNREFUSED' });
    const error = new SluiceError(ErrorCodes.KubeUnavailable, 'get Sync team/apps: ECONNREFUSED connect ECONNREFUSED', { cause, retryable: true });
    const explained = explainError(error, where);
    assert.ok(explained instanceof SluiceError);
    assert.equal(explained.describe(), 'cannot reach the API server at https://10.1.2.3:6443 (context "dev"): connection refused; check that the cluster is running and that the kubeconfig points at it (kubectl cluster-info)');
    // A 503 from a reachable server is the server's own answer.
    const unavailable = new SluiceError(ErrorCodes.KubeUnavailable, 'get Sync team/apps: etcd is down', { status: 503 });
    assert.equal(explainError(unavailable, where), unavailable);
  });

  test('a missing object says where it was looked for', () => {
    const explained = explainError(new SluiceError(ErrorCodes.KubeNotFound, 'get Sync team/nope: syncs.sluice.dev "nope" not found', { status: 404 }), where);
    assert.ok(explained instanceof SluiceError);
    assert.equal(explained.describe(), 'get Sync team/nope: syncs.sluice.dev "nope" not found; check the name and the namespace (looked in "team"; pass -n NAMESPACE for another)');
    const other = new Error('boom');
    assert.equal(explainError(other, where), other);
  });
});
