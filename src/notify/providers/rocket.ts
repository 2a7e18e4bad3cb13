// Rocket.Chat incoming webhook (https://docs.rocket.chat/use-rocket.chat/workspace-administration/integrations):
// a Slack-like body with `alias` for the sender name and attachments whose
// `color` draws the severity bar and `fields` hold {short, title, value}.

import { severityColors, truncate, type ChatMessage } from '../message.ts';
import { jsonRequest, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

export function buildRocketPayload(message: ChatMessage, target: ProviderTarget): Record<string, unknown> {
  return {
    ...(target.channel ? { channel: target.channel } : {}),
    ...(target.username ? { alias: target.username } : {}),
    text: truncate(message.title, 1000),
    attachments: [{
      title: truncate(message.title, 1000),
      text: truncate(message.text, 5000),
      color: severityColors[message.severity].hex,
      fields: message.fields.map((f) => ({ short: f.value.length <= 40, title: f.name, value: truncate(f.value, 2000) })),
      ts: message.timestamp.toISOString(),
      ...(message.summary ? { author_name: message.summary } : {}),
    }],
  };
}

export const rocketProvider: ChatProvider = {
  type: 'rocket',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    return jsonRequest(target, buildRocketPayload(message, target));
  },
};
