// Microsoft Teams through a Workflows (Power Automate) webhook, which takes a
// message activity with one Adaptive Card attachment
// (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook).
// Office 365 connector MessageCards are retired, so only Adaptive Cards are sent.
// Severity colours the title through the card's semantic colours.

import type { EventSeverity } from '../../api/types.ts';
import { truncate, type ChatMessage } from '../message.ts';
import { jsonRequest, type ChatProvider, type OutgoingRequest, type ProviderTarget } from './types.ts';

const titleColors: Readonly<Record<EventSeverity, string>> = { info: 'Good', warning: 'Warning', error: 'Attention' };

export function buildTeamsPayload(message: ChatMessage): Record<string, unknown> {
  const body: unknown[] = [
    { type: 'TextBlock', text: truncate(message.title, 400), weight: 'Bolder', size: 'Medium', color: titleColors[message.severity], wrap: true },
    { type: 'TextBlock', text: truncate(message.text, 4000), wrap: true },
  ];
  if (message.fields.length > 0) {
    body.push({ type: 'FactSet', facts: message.fields.map((f) => ({ title: truncate(f.name, 200), value: truncate(f.value, 2000) })) });
  }
  const context = [message.summary, message.timestamp.toISOString()].filter((t): t is string => Boolean(t)).join(' · ');
  body.push({ type: 'TextBlock', text: context, isSubtle: true, size: 'Small', wrap: true });
  return {
    type: 'message',
    attachments: [{
      contentType: 'application/vnd.microsoft.card.adaptive',
      contentUrl: null,
      content: {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body,
        msteams: { width: 'Full' },
      },
    }],
  };
}

export const teamsProvider: ChatProvider = {
  type: 'msteams',
  build(message: ChatMessage, target: ProviderTarget): OutgoingRequest {
    return jsonRequest(target, buildTeamsPayload(message));
  },
};
