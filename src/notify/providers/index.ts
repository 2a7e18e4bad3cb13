// The provider factory: one line per AlertProvider type. The Record type makes
// a type added to the CRD enum without a provider a compile error.

import type { AlertProviderType } from '../../api/types.ts';
import { discordProvider } from './discord.ts';
import { genericHmacProvider } from './generic-hmac.ts';
import { genericProvider } from './generic.ts';
import { googleChatProvider } from './googlechat.ts';
import { teamsProvider } from './msteams.ts';
import { rocketProvider } from './rocket.ts';
import { slackProvider } from './slack.ts';
import type { ChatProvider } from './types.ts';

export type { ChatProvider, OutgoingRequest, ProviderTarget, ServiceFailure } from './types.ts';

const providers: Readonly<Record<AlertProviderType, ChatProvider>> = {
  'slack': slackProvider,
  'msteams': teamsProvider,
  'discord': discordProvider,
  'rocket': rocketProvider,
  'googlechat': googleChatProvider,
  'generic': genericProvider,
  'generic-hmac': genericHmacProvider,
};

export function providerFor(type: AlertProviderType): ChatProvider {
  return providers[type];
}
