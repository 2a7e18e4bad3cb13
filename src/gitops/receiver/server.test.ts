// The webhook server with in-memory endpoints: routing, limits, and each
// Receiver type's authentication and event filtering.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { ReceiverType } from '../../api/types.ts';
import { startReceiverServer, type ReceiverServer } from './server.ts';
import { signBody, webhookPath } from './signature.ts';
import type { TriggerResult, WebhookEndpoint } from './webhook.ts';

const token = 'webhook-t0ken-value';
const calls: { receiver: string; event: string | undefined }[] = [];
let failNext = false;
let logText = '';

function endpoint(name: string, type: ReceiverType, events: string[] = []): [string, WebhookEndpoint] {
  return [webhookPath(token, name, 'ns'), {
    namespace: 'ns', name, type, token, events,
    trigger: (event): Promise<TriggerResult> => {
      calls.push({ receiver: name, event });
      if (failNext) {
        failNext = false;
        return Promise.resolve({ triggered: [], missing: [], failed: ['GitRepository ns/a'] });
      }
      return Promise.resolve({ triggered: ['GitRepository ns/a'], missing: [], failed: [] });
    },
  }];
}

const endpoints = new Map([
  endpoint('gh', 'github', ['push']),
  endpoint('gl', 'gitlab', ['Push Hook']),
  endpoint('plain', 'generic'),
  endpoint('hmac', 'generic-hmac'),
]);

describe('receiver webhook server', () => {
  let server: ReceiverServer;
  let base = '';
  before(async () => {
    const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, done) { logText += chunk.toString(); done(); } }));
    server = await startReceiverServer({ port: 0, address: '127.0.0.1', logger, lookup: (path) => endpoints.get(path), maxBodyBytes: 1024 });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  const post = (name: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${webhookPath(token, name, 'ns')}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  test('unknown paths are 404, other methods 405, big bodies 413', async () => {
    assert.equal((await fetch(`${base}/hook/${'0'.repeat(64)}`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${base}/hook/not-a-digest`, { method: 'POST' })).status, 404);
    assert.equal((await fetch(`${base}/`)).status, 404);
    const get = await fetch(`${base}${webhookPath(token, 'plain', 'ns')}`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await post('plain', 'x'.repeat(2048))).status, 413);
    assert.equal(calls.length, 0);
  });

  test('github: HMAC-SHA256 signature, ping, event filter', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const bad = await post('gh', body, { 'x-github-event': 'push', 'x-hub-signature-256': signBody(body, 'wrong') });
    assert.equal(bad.status, 401);
    assert.equal(await bad.text(), 'unauthorized\n');
    assert.equal((await post('gh', body, { 'x-github-event': 'push' })).status, 401);
    // A signature over another body (tampering) fails.
    assert.equal((await post('gh', body, { 'x-github-event': 'push', 'x-hub-signature-256': signBody('{}', token) })).status, 401);
    assert.equal(calls.length, 0);

    const ping = await post('gh', '{"zen":"x"}', { 'x-github-event': 'ping', 'x-hub-signature-256': signBody('{"zen":"x"}', token) });
    assert.equal(ping.status, 200);
    assert.equal(await ping.text(), 'pong\n');
    const ignored = await post('gh', body, { 'x-github-event': 'issues', 'x-hub-signature-256': signBody(body, token) });
    assert.equal(ignored.status, 200);
    assert.match(await ignored.text(), /ignored/);
    assert.equal(calls.length, 0);

    const ok = await post('gh', body, { 'x-github-event': 'push', 'x-hub-signature-256': signBody(body, token) });
    assert.equal(ok.status, 200);
    assert.deepEqual(calls.splice(0), [{ receiver: 'gh', event: 'push' }]);
  });

  test('gitlab: X-Gitlab-Token and event filter', async () => {
    assert.equal((await post('gl', '{}', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'nope' })).status, 401);
    assert.equal((await post('gl', '{}', { 'x-gitlab-event': 'Push Hook' })).status, 401);
    assert.equal((await post('gl', '{}', { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': token })).status, 200);
    assert.equal(calls.length, 0);
    assert.equal((await post('gl', '{}', { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': token })).status, 200);
    assert.deepEqual(calls.splice(0), [{ receiver: 'gl', event: 'Push Hook' }]);
  });

  test('generic: the path alone; generic-hmac: X-Signature', async () => {
    assert.equal((await post('plain', '')).status, 200);
    assert.deepEqual(calls.splice(0), [{ receiver: 'plain', event: undefined }]);
    const body = '{"any":"payload"}';
    assert.equal((await post('hmac', body, { 'x-signature': signBody(body, 'wrong') })).status, 401);
    assert.equal((await post('hmac', body)).status, 401);
    assert.equal(calls.length, 0);
    assert.equal((await post('hmac', body, { 'x-signature': signBody(body, token) })).status, 200);
    assert.equal((await post('hmac', body, { 'x-signature': signBody(body, token, 'sha512') })).status, 200);
    assert.equal(calls.splice(0).length, 2);
  });

  test('a failed trigger is a 500 the sender can retry; nothing secret is logged', async () => {
    failNext = true;
    assert.equal((await post('plain', '')).status, 500);
    calls.splice(0);
    assert.ok(!logText.includes(token), 'the token must not be logged');
    assert.ok(!logText.includes(webhookPath(token, 'plain', 'ns')), 'webhook paths must not be logged');
    assert.match(logText, /webhook refused: bad signature or token/);
  });
});
