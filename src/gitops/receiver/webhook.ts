// What one webhook call does, per Receiver type, independent of the HTTP
// server: authenticate (signature or token, constant time), filter by event,
// answer GitHub's ping, and otherwise trigger the Receiver's resources.
import type { IncomingHttpHeaders } from 'node:http';
import type { ReceiverType } from '../../api/types.ts';
import { sameSecret, verifyHmacSignature } from './signature.ts';

export interface TriggerResult {
  /** "Kind namespace/name" of each object asked to reconcile. */
  triggered: string[];
  /** Objects named in spec.resources that do not exist. */
  missing: string[];
  /** Objects the API server would not annotate (transient). */
  failed: string[];
}

/** A Receiver as the webhook server sees it. */
export interface WebhookEndpoint {
  namespace: string;
  name: string;
  type: ReceiverType;
  token: string;
  /** spec.events; empty means every event. */
  events: readonly string[];
  trigger(event: string | undefined): Promise<TriggerResult>;
}

export interface WebhookRequest {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type WebhookOutcome = 'triggered' | 'ignored' | 'pong' | 'unauthorized' | 'failed';

export interface WebhookResponse {
  status: number;
  /** Short text for the sender; never says why authentication failed. */
  body: string;
  outcome: WebhookOutcome;
  event?: string | undefined;
  result?: TriggerResult | undefined;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const unauthorized: WebhookResponse = { status: 401, body: 'unauthorized\n', outcome: 'unauthorized' };

/** Authenticates and, when the event is wanted, triggers. Never throws for a bad request. */
export async function handleWebhook(endpoint: WebhookEndpoint, request: WebhookRequest): Promise<WebhookResponse> {
  let event: string | undefined;
  switch (endpoint.type) {
    case 'github':
      if (!verifyHmacSignature(header(request.headers, 'x-hub-signature-256'), request.body, endpoint.token, ['sha256'])) return unauthorized;
      event = header(request.headers, 'x-github-event');
      if (event === 'ping') return { status: 200, body: 'pong\n', outcome: 'pong', event };
      break;
    case 'gitlab': {
      const token = header(request.headers, 'x-gitlab-token');
      if (token === undefined || !sameSecret(token, endpoint.token)) return unauthorized;
      event = header(request.headers, 'x-gitlab-event');
      break;
    }
    case 'generic-hmac':
      if (!verifyHmacSignature(header(request.headers, 'x-signature'), request.body, endpoint.token)) return unauthorized;
      break;
    case 'generic':
      // The unguessable path is the credential.
      break;
  }
  if (event !== undefined && endpoint.events.length > 0 && !endpoint.events.includes(event)) {
    // A correctly signed call for an event nobody asked for is not an error for the sender.
    return { status: 200, body: `event "${event}" ignored\n`, outcome: 'ignored', event };
  }
  const result = await endpoint.trigger(event);
  if (result.failed.length > 0) {
    return { status: 500, body: 'could not request a reconcile of every resource; try again\n', outcome: 'failed', event, result };
  }
  return { status: 200, body: `reconcile requested for ${result.triggered.length} object(s)\n`, outcome: 'triggered', event, result };
}
