export type {
  AckConfig,
  AcceptConfig,
  ChannelConfig,
  CharsetConfig,
  BatchConfig,
  DedupeConfig,
  ListenerConfig,
  ProcessingId,
  TopicsConfig,
} from './types.js';
export { CHANNEL_DEFAULTS, CHARSET_REJECT } from './types.js';
export { checkChannelFile, loadChannelFile, loadChannels } from './load-channel.js';
export { matchesMessageType } from './message-type.js';
export { AddressAllowList, isAddressAllowed } from './address-allow-list.js';
export { channelSchema } from './channel-schema.js';
