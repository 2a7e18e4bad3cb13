// Slack incoming webhooks (https://api.slack.com/messaging/webhooks) and,
// with a bot token, chat.postMessage. The colour bar by severity exists only
// on attachments, so the Block Kit blocks are sent inside one attachment;
// `text` is the notification fallback. Limits from the Block Kit reference:
// header text 150, section text 3000, 10 fields of 2000, 10 context elements.

import { severityColors, truncate, type ChatMessage } from '../message.ts';
import { jsonRequest, type ChatProvider, type OutgoingRequest, type ProviderTarget, type ServiceFailure } from './types.ts';

/** Slack mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function buildSlackPayload(message: ChatMessage, target: ProviderTarget): Record<string, unknown> {
  const fallback = truncate(`${message.title}: ${message.text}`, 3000);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(message.title, 150), emoji: false } },
    { type: 'section', text: { type: 'mrkdwn', text: truncate(escapeSlack(message.text), 3000) } },
  ];
  // A section holds at most 10 fields; more become further sections.
  for (let i = 0; i < message.fields.length; i += 10) {
    blocks.push({
      type: 'section',
      fields: message.fields.slice(i, i + 10).map((f) => ({
        type: 'mrkdwn',
        text: truncate(`*${escapeSlack(f.name)}*\n${escapeSlack(f.value)}`, 2000),
      })),
    });
  }
  const context: { type: 'mrkdwn'; text: string }[] = [];
  if (message.summary) context.push({ type: 'mrkdwn', text: truncate(escapeSlack(message.summary), 2000) });
  // Slack renders <!date^...> in the reader's time zone, with the ISO time as fallback.
  const epoch = Math.floor(message.timestamp.getTime() / 1000);
  context.push({ type: 'mrkdwn', text: `<!date^${epoch}^{date_short_pretty} {time}|${message.timestamp.toISOString()}>` });
  blocks.push({ type: 'context', elements: context });
  return {
    ...(target.channel ? { channel: target.channel } : {}),
    ...(target.username ? { username: target.username } : {}),
    text: fallback,
    attachments: [{ color: severityColors[message.severity].hex, fallback, blocks }],
  };
}

export const slackProvider: ChatProvider = {
  type: 'slack',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    // A bot token means the Web API (chat.postMessage), which authenticates by header.
    const auth: Record<string, string> = target.token ? { authorization: `Bearer ${target.token}` } : {};
    return jsonRequest(target, buildSlackPayload(message, target), auth);
  },
  checkResponse(body: string): ServiceFailure | undefined {
    // Webhooks answer "ok"; the Web API answers 200 with {"ok":false,"error":...} on failure.
    if (!body.trimStart().startsWith('{')) return undefined;
    try {
      const answer = JSON.parse(body) as { ok?: unknown; error?: unknown };
      if (answer.ok !== false) return undefined;
      const error = typeof answer.error === 'string' ? answer.error : 'unknown_error';
      return { retryable: error === 'ratelimited' || error === 'service_unavailable', message: `Slack answered ok=false: ${error}` };
    } catch {
      return undefined;
    }
  },
};
