// The contract every chat provider implements: turn one ChatMessage into one
// HTTP request in that service's documented format. Sending, retries and
// secrets are the delivery queue's job, not the provider's.

import type { AlertProviderType } from '../../api/types.ts';
import type { ChatMessage } from '../message.ts';

/** Where and as whom to post, resolved from the AlertProvider and its Secret. */
export interface ProviderTarget {
  address: string;
  /** Secret key `token`: the HMAC key for generic-hmac, a bearer token for slack (chat.postMessage) and generic. */
  token?: string | undefined;
  /** Secret key `headers`: extra HTTP headers sent with every request. */
  headers: Readonly<Record<string, string>>;
  channel?: string | undefined;
  username?: string | undefined;
}

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A failure hidden in a successful HTTP answer (e.g. Slack's `{"ok":false}`). */
export interface ServiceFailure {
  retryable: boolean;
  message: string;
}

export interface ChatProvider {
  readonly type: AlertProviderType;
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest;
  /** Checks the body of a 2xx answer; undefined when it reports success. */
  checkResponse?(body: string): ServiceFailure | undefined;
}

/** A POST of an already serialised JSON body; the provider's own headers win over the user's. */
export function postJson(target: ProviderTarget, body: string, headers: Record<string, string> = {}): OutgoingRequest {
  return {
    url: target.address,
    headers: { ...target.headers, 'content-type': 'application/json; charset=utf-8', ...headers },
    body,
  };
}

/** A JSON POST of `payload` to the target. */
export function jsonRequest(target: ProviderTarget, payload: unknown, headers: Record<string, string> = {}): OutgoingRequest {
  return postJson(target, JSON.stringify(payload), headers);
}
