// Generic webhook signed with HMAC-SHA256 over the exact body bytes, key =
// the Secret's `token`, sent as `X-Signature: sha256=<hex>` (Flux's
// generic-hmac scheme, so existing verifiers work).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { ChatMessage } from '../message.ts';
import { genericBody } from './generic.ts';
import { postJson, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

export const SIGNATURE_HEADER = 'x-signature';

export function signBody(body: string | Buffer, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

/** Checks an `X-Signature` header against the body, in constant time. */
export function verifySignature(body: string | Buffer, header: string | undefined, key: string): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(body, key));
  const actual = Buffer.from(header.trim());
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export const genericHmacProvider: ChatProvider = {
  type: 'generic-hmac',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    if (!target.token) {
      throw new SluiceError(ErrorCodes.ConfigInvalid, 'a generic-hmac AlertProvider needs a token key in its Secret (the HMAC key)');
    }
    const body = genericBody(message);
    return postJson(target, body, { [SIGNATURE_HEADER]: signBody(body, target.token) });
  },
};
