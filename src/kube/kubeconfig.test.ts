import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { chooseKubeconfig } from './kubeconfig.ts';

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
