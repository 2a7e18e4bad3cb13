import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { redactAddress, redactText } from './redact.ts';

const slack = 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX';

describe('redaction', () => {
  test('an address keeps only scheme and host', () => {
    assert.equal(redactAddress(slack), 'https://hooks.slack.com/[redacted]');
    assert.equal(redactAddress('https://user:pw@chat.example.com:8443/hooks/x?token=y'), 'https://chat.example.com:8443/[redacted]');
    assert.equal(redactAddress('not a url'), '[redacted address]');
  });

  test('secrets are removed in every form they can take', () => {
    const token = 's3cr3t-t0ken';
    const text = `POST ${slack} failed; path /services/T000/B000/XXXXSECRETXXXX; key ${token}; encoded ${encodeURIComponent(`${token}/x`)}`;
    const out = redactText(text, [slack, token]);
    assert.doesNotMatch(out, /XXXXSECRETXXXX|s3cr3t-t0ken/);
    assert.match(out, /\[redacted\]/);
  });

  test('any URL left in a message is reduced to its host', () => {
    const out = redactText('got: request to https://discord.com/api/webhooks/123/abcDEF failed');
    assert.equal(out, 'got: request to https://discord.com/[redacted] failed');
    assert.equal(redactText('posting to https://x.example/a/b: refused.'), 'posting to https://x.example/[redacted]: refused.');
    assert.equal(redactText('from http://127.0.0.1:8080/[redacted]: HTTP 500'), 'from http://127.0.0.1:8080/[redacted]: HTTP 500');
  });

  test('empty and short secrets are ignored rather than blanking the text', () => {
    assert.equal(redactText('all good here', ['', undefined, 'a']), 'all good here');
  });
});
