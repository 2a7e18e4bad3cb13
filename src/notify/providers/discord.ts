// Discord "Execute Webhook" (https://discord.com/developers/docs/resources/webhook#execute-webhook)
// with one embed. Embed limits: title 256, description 4096, 25 fields of
// 256/1024, footer 2048, 6000 characters in all. Mentions are disabled so a
// message quoting "@everyone" cannot ping a server.

import { severityColors, truncate, type ChatMessage } from '../message.ts';
import { jsonRequest, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

const embedBudget = 6000;

export function buildDiscordPayload(message: ChatMessage, target: ProviderTarget): Record<string, unknown> {
  const title = truncate(message.title, 256);
  const footer = truncate(message.summary ?? 'sluice', 2048);
  let left = embedBudget - title.length - footer.length;
  const wanted = message.fields.slice(0, 25).map((f) => ({ name: truncate(f.name, 256), value: truncate(f.value, 1024) }));
  const fieldsSize = wanted.reduce((n, f) => n + f.name.length + f.value.length, 0);
  // Fields may take up to half of what is left; the description gets the rest.
  const description = truncate(message.text, Math.max(1, Math.min(4096, left - Math.min(fieldsSize, Math.floor(left / 2)))));
  left -= description.length;
  const fields: { name: string; value: string; inline: boolean }[] = [];
  for (const field of wanted) {
    const room = left - field.name.length;
    if (room < 2) break;
    const value = truncate(field.value, room);
    fields.push({ name: field.name, value, inline: value.length <= 40 });
    left -= field.name.length + value.length;
  }
  return {
    ...(target.username ? { username: truncate(target.username, 80) } : {}),
    embeds: [{
      title,
      description,
      color: severityColors[message.severity].rgb,
      fields,
      footer: { text: footer },
      timestamp: message.timestamp.toISOString(),
    }],
    allowed_mentions: { parse: [] },
  };
}

export const discordProvider: ChatProvider = {
  type: 'discord',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    return jsonRequest(target, buildDiscordPayload(message, target));
  },
};
