// Generic webhook: the event as JSON, in the shape of Flux's event
// (involvedObject, severity, reason, message, timestamp, metadata as a string
// map), so receivers written for Flux's generic provider work unchanged.
// A `token` in the provider's Secret is sent as a bearer token.

import type { ChatMessage } from '../message.ts';
import { postJson, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

export const REPORTING_CONTROLLER = 'sluice';

export function buildGenericPayload(message: ChatMessage): Record<string, unknown> {
  const { object } = message;
  return {
    involvedObject: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.namespace,
      name: object.name,
      ...(object.uid ? { uid: object.uid } : {}),
    },
    severity: message.severity,
    reason: message.reason,
    message: message.text,
    timestamp: message.timestamp.toISOString(),
    metadata: { ...message.metadata, title: message.title },
    reportingController: REPORTING_CONTROLLER,
  };
}

/** The generic JSON body, serialised once: generic-hmac signs exactly these bytes. */
export function genericBody(message: ChatMessage): string {
  return JSON.stringify(buildGenericPayload(message));
}

export const genericProvider: ChatProvider = {
  type: 'generic',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    const auth: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
    return postJson(target, genericBody(message), auth);
  },
};
