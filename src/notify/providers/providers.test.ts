// Every provider's payload, checked against the documented schema fixtures in
// test/env/chat-receivers.ts, for an ordinary message and for an oversized one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertProviderTypes } from '../../api/types.ts';
import { headlineOf, validatePayload } from '../../../test/env/chat-receivers.ts';
import { eventFor } from '../event.ts';
import { renderMessage, type ChatMessage } from '../message.ts';
import { signBody, verifySignature } from './generic-hmac.ts';
import { providerFor } from './index.ts';
import { escapeSlack, slackProvider } from './slack.ts';
import type { ProviderTarget } from './types.ts';

const canary = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'podinfo', namespace: 'prod', uid: 'u-1' } };
const target: ProviderTarget = { address: 'https://chat.example.com/hooks/T0KEN', token: 'hmac-key', headers: { 'x-team': 'web' }, channel: '#deploys', username: 'sluice' };

function rollback(): ChatMessage {
  return renderMessage(eventFor(canary, 'CanaryRolledBack', 'Canary <podinfo> failed 5 checks & was rolled back', {
    timestamp: new Date('2025-03-01T12:00:00Z'),
    metadata: { revision: 'r2', weight: 20, failingCheck: { name: 'request-success-rate', value: 91, min: 99 } },
  }), { weightSteps: [10, 20] }, { summary: 'cluster eu-1' });
}

function huge(): ChatMessage {
  const long = 'x'.repeat(10_000);
  const extra: Record<string, string> = {};
  for (let i = 0; i < 40; i++) extra[`key-${i}-${'k'.repeat(300)}`] = long;
  return renderMessage(eventFor(canary, 'SyncFailed', long, { metadata: { errors: [long, long, long, long], extra } }), {}, { summary: long });
}

describe('chat payloads', () => {
  for (const type of AlertProviderTypes) {
    test(`${type}: a rollback message matches the documented payload, with the facts in it`, () => {
      const request = providerFor(type).build(rollback(), target);
      const body: unknown = JSON.parse(request.body);
      assert.deepEqual(validatePayload(type, body), []);
      assert.equal(request.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(request.headers['x-team'], 'web', 'headers from the Secret are sent');
      assert.match(headlineOf(type, body), /Canary prod\/podinfo: Rolled back/);
      assert.match(request.body, /request-success-rate: 91 \(threshold ≥ 99\)/);
      assert.match(request.body, /10% → 20%/);
    });

    test(`${type}: oversized messages are cut to the service's limits`, () => {
      const body: unknown = JSON.parse(providerFor(type).build(huge(), target).body);
      assert.deepEqual(validatePayload(type, body), []);
    });
  }

  test('slack: colour by severity, channel and username, escaped mrkdwn, bearer token for chat.postMessage', () => {
    const request = slackProvider.build(rollback(), target);
    const body = JSON.parse(request.body) as { channel: string; username: string; attachments: { color: string; blocks: { text?: { text: string } }[] }[] };
    assert.equal(body.channel, '#deploys');
    assert.equal(body.username, 'sluice');
    assert.equal(body.attachments[0]?.color, '#a30200');
    assert.equal(body.attachments[0]?.blocks[1]?.text?.text, 'Canary &lt;podinfo&gt; failed 5 checks &amp; was rolled back');
    assert.equal(request.headers.authorization, 'Bearer hmac-key');
    assert.equal(escapeSlack('<!channel>'), '&lt;!channel&gt;');
    assert.equal(slackProvider.checkResponse?.('ok'), undefined);
    assert.equal(slackProvider.checkResponse?.('{"ok":true}'), undefined);
    assert.deepEqual(slackProvider.checkResponse?.('{"ok":false,"error":"channel_not_found"}'), { retryable: false, message: 'Slack answered ok=false: channel_not_found' });
    assert.equal(slackProvider.checkResponse?.('{"ok":false,"error":"ratelimited"}')?.retryable, true);
  });

  test('msteams: an Adaptive Card whose title colour follows severity', () => {
    const body = JSON.parse(providerFor('msteams').build(rollback(), target).body) as { attachments: { content: { body: { color?: string }[] } }[] };
    assert.equal(body.attachments[0]?.content.body[0]?.color, 'Attention');
  });

  test('discord: severity colour as a number, mentions disabled', () => {
    const body = JSON.parse(providerFor('discord').build(rollback(), target).body) as { embeds: { color: number }[]; allowed_mentions: { parse: string[] } };
    assert.equal(body.embeds[0]?.color, 0xa30200);
    assert.deepEqual(body.allowed_mentions.parse, []);
  });

  test('googlechat: one thread per object, via threadKey and messageReplyOption', () => {
    const request = providerFor('googlechat').build(rollback(), { ...target, address: 'https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t' });
    const url = new URL(request.url);
    assert.equal(url.searchParams.get('messageReplyOption'), 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    assert.equal(url.searchParams.get('token'), 't', 'the original query is kept');
    assert.equal((JSON.parse(request.body) as { thread: { threadKey: string } }).thread.threadKey, 'sluice-canary-prod-podinfo');
  });

  test('generic: the Flux-shaped event, bearer token when set', () => {
    const request = providerFor('generic').build(rollback(), target);
    const body = JSON.parse(request.body) as Record<string, unknown>;
    assert.deepEqual(body.involvedObject, { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace: 'prod', name: 'podinfo', uid: 'u-1' });
    assert.equal(body.severity, 'error');
    assert.equal(body.reason, 'CanaryRolledBack');
    assert.equal((body.metadata as Record<string, string>).summary, 'cluster eu-1');
    assert.equal(request.headers.authorization, 'Bearer hmac-key');
    assert.equal(providerFor('generic').build(rollback(), { ...target, token: undefined }).headers.authorization, undefined);
  });

  test('generic-hmac: X-Signature is HMAC-SHA256 of the exact body with the token', () => {
    const request = providerFor('generic-hmac').build(rollback(), target);
    const signature = request.headers['x-signature'];
    assert.match(signature ?? '', /^sha256=[0-9a-f]{64}$/);
    assert.equal(verifySignature(request.body, signature, 'hmac-key'), true);
    assert.equal(verifySignature(request.body, signature, 'other-key'), false);
    assert.equal(verifySignature(`${request.body} `, signature, 'hmac-key'), false);
    assert.equal(verifySignature(request.body, undefined, 'hmac-key'), false);
    // Known answer (RFC 4231 test case 2), so the scheme is HMAC-SHA256 and not something that merely round-trips.
    assert.equal(signBody('what do ya want for nothing?', 'Jefe'), 'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    assert.throws(() => providerFor('generic-hmac').build(rollback(), { ...target, token: undefined }), /needs a token/);
  });
});
