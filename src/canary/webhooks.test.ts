import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Canary, CanaryWebhook } from '../api/types.ts';
import { callWebhook, evaluateGate, rollbackRequested, webhookCheck, type WebhookContext } from './webhooks.ts';

const context: WebhookContext = { phase: 'Progressing', checksum: 'abc', canaryWeight: 20, canaryImages: ['web:2'], primaryImages: ['web:1'] };

const canary = (webhooks: CanaryWebhook[]): Canary => ({
  apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web', namespace: 'shop' },
  spec: { targetRef: { kind: 'Deployment', name: 'web' }, service: { port: 80 }, analysis: { stepWeight: 10, webhooks } },
});

describe('webhooks', () => {
  let server: http.Server;
  let base = '';
  const bodies: unknown[] = [];
  let flaky = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
      req.on('end', () => {
        bodies.push(JSON.parse(body));
        if (req.url === '/ok') res.writeHead(200).end();
        else if (req.url === '/deny') res.writeHead(403).end('not approved yet');
        else if (req.url === '/flaky') res.writeHead(flaky++ < 2 ? 503 : 200).end();
        else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 2_000);
        else res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('POSTs the Flagger payload plus weight and images', async () => {
    bodies.length = 0;
    const hook: CanaryWebhook = { name: 'load', type: 'rollout', url: `${base}/ok`, metadata: { cmd: 'hey' } };
    const call = await callWebhook(canary([hook]), hook, context);
    assert.equal(call.ok, true);
    assert.deepEqual(bodies[0], {
      name: 'web', namespace: 'shop', phase: 'Progressing', checksum: 'abc', type: 'rollout',
      canaryWeight: 20, canaryImages: ['web:2'], primaryImages: ['web:1'], metadata: { cmd: 'hey' },
    });
  });

  test('retries, then succeeds; a timeout is reported as such', async () => {
    const flakyHook: CanaryWebhook = { name: 'flaky', url: `${base}/flaky`, retries: 2 };
    assert.equal((await callWebhook(canary([flakyHook]), flakyHook, context)).ok, true);
    const slow: CanaryWebhook = { name: 'slow', url: `${base}/slow`, timeout: '200ms' };
    const call = await callWebhook(canary([slow]), slow, context);
    assert.equal(call.ok, false);
    assert.match(call.message, /timed out after 200 ms/);
  });

  test('gates, checks and rollback hooks', async () => {
    const subject = canary([
      { name: 'approve', type: 'confirm-promotion', url: `${base}/deny` },
      { name: 'smoke', type: 'pre-rollout', url: `${base}/ok` },
      { name: 'test', type: 'rollout', url: `${base}/deny` },
      { name: 'panic', type: 'rollback', url: `${base}/ok` },
    ]);
    const gate = await evaluateGate(subject, 'confirm-promotion', context);
    assert.deepEqual(gate, { open: false, webhook: 'approve', message: 'approve answered 403: not approved yet' });
    assert.equal((await evaluateGate(subject, 'confirm-rollout', context)).open, true, 'no hooks: open');
    assert.equal((await webhookCheck(subject, 'pre-rollout', context)).outcome, 'pass');
    const failed = await webhookCheck(subject, 'rollout', context);
    assert.equal(failed.outcome, 'fail');
    assert.equal(failed.failing?.name, 'test');
    assert.equal(await rollbackRequested(subject, context), 'panic');
    assert.equal(await rollbackRequested(canary([]), context), undefined);
  });
});
