// Webhook authentication for Receivers: the Flux-compatible webhook path, and
// constant-time checks of HMAC signatures and shared tokens.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const WEBHOOK_PATH_PREFIX = '/hook/';

/**
 * The path a Receiver listens on: /hook/ + sha256(token + name + namespace),
 * exactly as Flux's notification-controller computes it, so webhooks moved
 * over from Flux keep their URLs. Unguessable without the token.
 */
export function webhookPath(token: string, name: string, namespace: string): string {
  return `${WEBHOOK_PATH_PREFIX}${createHash('sha256').update(token + name + namespace).digest('hex')}`;
}

/** Equal-time comparison of two secrets of any length (both are hashed first). */
export function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  const digest = (value: string | Buffer): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

const hmacAlgorithms = ['sha256', 'sha512'] as const;
export type HmacAlgorithm = (typeof hmacAlgorithms)[number];

/**
 * Checks a "<algorithm>=<hex>" signature header (GitHub's X-Hub-Signature-256,
 * generic-hmac's X-Signature) against the HMAC of the raw body.
 */
export function verifyHmacSignature(header: string | undefined, body: Buffer, token: string, allowed: readonly HmacAlgorithm[] = hmacAlgorithms): boolean {
  if (header === undefined) return false;
  const m = /^(sha256|sha512)=([0-9a-fA-F]+)$/.exec(header.trim());
  if (!m) return false;
  const algorithm = m[1] as HmacAlgorithm;
  if (!allowed.includes(algorithm)) return false;
  const expected = createHmac(algorithm, token).update(body).digest();
  const given = Buffer.from(m[2] ?? '', 'hex');
  // Length is not secret (it follows from the algorithm); the bytes are compared in constant time.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** "sha256=<hex>" for a body, as senders compute it. */
export function signBody(body: Buffer | string, token: string, algorithm: HmacAlgorithm = 'sha256'): string {
  return `${algorithm}=${createHmac(algorithm, token).update(body).digest('hex')}`;
}
