/**
 * The channel's accept rules for a message replayed from an ingest-stage dead letter: the very
 * rules Ingest applies (src/ingest/accept.ts), as the text a new dead letter carries.
 */
import type { ChannelConfig } from '../channel/index.js';
import type { Delimiters, MshSummary } from '../hl7/types.js';
import { refusal } from '../ingest/accept.js';

/** Why the channel refuses the message (for the DLQ message), or null when it accepts it. */
export function refusalOf(channel: ChannelConfig, msh: MshSummary, delimiters: Delimiters): string | null {
  return refusal(channel, msh, delimiters)?.text ?? null;
}
