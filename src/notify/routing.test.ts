import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Alert, AlertSpec } from '../api/types.ts';
import { eventFor, type SluiceEvent } from './event.ts';
import { AlertIndex, compileAlert, inlineRoutes, sourceMatches, WEIGHT_UPDATES_ANNOTATION } from './routing.ts';

function alert(name: string, spec: Partial<AlertSpec>, annotations?: Record<string, string>): Alert {
  return {
    apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert',
    metadata: { name, namespace: 'team', uid: `uid-${name}`, ...(annotations ? { annotations } : {}) },
    spec: { providerRef: { name: 'slack' }, eventSources: [{ kind: 'Canary', name: '*' }], ...spec },
  };
}

function event(kind: string, name: string, message = 'something happened', labels?: Record<string, string>, namespace = 'team'): SluiceEvent {
  return { object: { apiVersion: 'sluice.dev/v1alpha1', kind, namespace, name, labels }, severity: 'info', reason: 'SyncApplied', message };
}

const options = { weightUpdates: 'coalesce' as const };

describe('routing', () => {
  test('event sources match kind, name or *, namespace (default: the Alert\'s) and labels', () => {
    const obj = { apiVersion: 'v', kind: 'Sync', namespace: 'team', name: 'apps', labels: { tier: 'web', env: 'prod' } };
    assert.equal(sourceMatches({ kind: 'Sync', name: 'apps' }, 'team', obj), true);
    assert.equal(sourceMatches({ kind: 'Sync', name: 'other' }, 'team', obj), false);
    assert.equal(sourceMatches({ kind: 'Canary', name: '*' }, 'team', obj), false);
    assert.equal(sourceMatches({ kind: 'Sync', name: '*' }, 'elsewhere', obj), false);
    assert.equal(sourceMatches({ kind: 'Sync', name: '*', namespace: 'team' }, 'elsewhere', obj), true);
    assert.equal(sourceMatches({ kind: 'Sync', name: '*', matchLabels: { tier: 'web' } }, 'team', obj), true);
    assert.equal(sourceMatches({ kind: 'Sync', name: '*', matchLabels: { tier: 'db' } }, 'team', obj), false);
  });

  test('inclusion and exclusion lists filter on the message', () => {
    const index = new AlertIndex(options);
    index.upsert(alert('only-prod', { eventSources: [{ kind: 'Sync', name: '*' }], inclusionList: ['^prod:'], exclusionList: ['dry-run'] }));
    assert.equal(index.routesFor(event('Sync', 'a', 'prod: applied')).length, 1);
    assert.equal(index.routesFor(event('Sync', 'a', 'staging: applied')).length, 0);
    assert.equal(index.routesFor(event('Sync', 'a', 'prod: dry-run applied')).length, 0);
  });

  test('an invalid regex or annotation makes the Alert route nothing and says why', () => {
    const compiled = compileAlert(alert('bad', { inclusionList: ['('] }, { [WEIGHT_UPDATES_ANNOTATION]: 'sometimes' }), options);
    assert.equal(compiled.problems.length, 2);
    assert.match(compiled.problems[0] ?? '', /spec\.inclusionList\[0\] is not a valid regular expression/);
    assert.match(compiled.problems[1] ?? '', /must be "coalesce" or "every"/);
    const index = new AlertIndex(options);
    index.upsert(compiled.alert);
    assert.equal(index.routesFor(event('Canary', 'podinfo')).length, 0);
  });

  test('suspended Alerts route nothing; updates and deletes take effect', () => {
    const index = new AlertIndex(options);
    const a = alert('chat', {});
    index.upsert(a);
    assert.equal(index.routesFor(event('Canary', 'podinfo')).length, 1);
    index.upsert({ ...a, spec: { ...a.spec, suspend: true } });
    assert.equal(index.routesFor(event('Canary', 'podinfo')).length, 0);
    index.upsert({ ...a, spec: { ...a.spec, eventSources: [{ kind: 'Sync', name: '*' }] } });
    assert.equal(index.routesFor(event('Canary', 'podinfo')).length, 0);
    assert.equal(index.routesFor(event('Sync', 'apps')).length, 1);
    index.remove(a);
    assert.equal(index.routesFor(event('Sync', 'apps')).length, 0);
  });

  test('a route carries severity, summary, metadata, provider, owner and the weight mode', () => {
    const a = alert('chat', { eventSeverity: 'error', summary: 'cluster eu-1', eventMetadata: { env: 'prod' } }, { [WEIGHT_UPDATES_ANNOTATION]: 'every' });
    const { route } = compileAlert(a, options);
    assert.deepEqual(route, {
      key: 'Alert/team/chat', minSeverity: 'error', weightUpdates: 'every', provider: { namespace: 'team', name: 'slack' },
      summary: 'cluster eu-1', eventMetadata: { env: 'prod' },
      owner: { apiVersion: 'sluice.dev/v1alpha1', kind: 'Alert', namespace: 'team', name: 'chat', uid: 'uid-chat' },
    });
  });

  test('Canary analysis.alerts become routes with Flagger severities', () => {
    const canary = {
      apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'podinfo', namespace: 'team', uid: 'c1' },
      spec: { analysis: { alerts: [
        { name: 'on-call', severity: 'error', providerRef: { name: 'pager' } },
        { name: 'dev', severity: 'warn', providerRef: { name: 'chat', namespace: 'shared' } },
        { name: 'all', providerRef: { name: 'chat' } },
      ] } },
    };
    const e = eventFor(canary, 'CanaryPromoted', 'promoted');
    const routes = inlineRoutes(e, options);
    assert.deepEqual(routes.map((r) => [r.key, r.minSeverity, `${r.provider.namespace}/${r.provider.name}`]), [
      ['Canary/team/podinfo/alerts/on-call', 'error', 'team/pager'],
      ['Canary/team/podinfo/alerts/dev', 'warning', 'shared/chat'],
      ['Canary/team/podinfo/alerts/all', 'info', 'team/chat'],
    ]);
    assert.equal(routes[0]?.owner.name, 'podinfo');
    assert.equal(inlineRoutes(e, { ...options, allowCrossNamespace: false }).length, 2);
  });

  test('with cross-namespace references disabled an Alert may not listen elsewhere', () => {
    const compiled = compileAlert(alert('x', { eventSources: [{ kind: 'Sync', name: '*', namespace: 'other' }] }), { ...options, allowCrossNamespace: false });
    assert.match(compiled.problems.join(), /cross-namespace references are disabled/);
  });

  test('usingProvider finds the Alerts of a provider', () => {
    const index = new AlertIndex(options);
    index.upsert(alert('a', {}));
    index.upsert(alert('b', { providerRef: { name: 'teams' } }));
    assert.deepEqual(index.usingProvider('team', 'slack').map((c) => c.alert.metadata.name), ['a']);
  });
});
