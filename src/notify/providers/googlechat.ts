// Google Chat incoming webhook (https://developers.google.com/workspace/chat/quickstart/webhooks)
// with one cardsV2 card. Messages about one object share a thread
// (thread.threadKey + messageReplyOption), so a rollout reads as one
// conversation. Card text allows a small HTML subset; <font color> shows severity.

import { severityColors, truncate, type ChatMessage } from '../message.ts';
import { jsonRequest, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function threadKeyOf(message: ChatMessage): string {
  return `sluice-${message.object.kind}-${message.object.namespace}-${message.object.name}`.toLowerCase();
}

export function buildGoogleChatPayload(message: ChatMessage): Record<string, unknown> {
  const color = severityColors[message.severity].hex;
  const sections: unknown[] = [{
    widgets: [{ textParagraph: { text: `<font color="${color}">${escapeHtml(truncate(message.text, 4000))}</font>` } }],
  }];
  if (message.fields.length > 0) {
    sections.push({
      header: 'Details',
      widgets: message.fields.slice(0, 90).map((f) => ({
        decoratedText: { topLabel: escapeHtml(truncate(f.name, 200)), text: escapeHtml(truncate(f.value, 2000)), wrapText: true },
      })),
    });
  }
  return {
    cardsV2: [{
      cardId: `sluice-${message.reason}`.slice(0, 64),
      card: {
        header: { title: truncate(message.title, 200), subtitle: truncate(message.summary ?? message.timestamp.toISOString(), 200) },
        sections,
      },
    }],
    thread: { threadKey: threadKeyOf(message) },
  };
}

export const googleChatProvider: ChatProvider = {
  type: 'googlechat',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    const request = jsonRequest(target, buildGoogleChatPayload(message));
    // Without this option Google Chat ignores threadKey and starts a new thread each time.
    const url = new URL(target.address);
    url.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    return { ...request, url: url.toString() };
  },
};
