/**
 * The channel's accept rules for a message replayed from an ingest-stage dead letter (rejected,
 * charset, parse): the same checks, in the same order, as Ingest applies before storing, so a
 * message refused yesterday is stored today only if today's channel file accepts it.
 *
 * Kept in step with Ingest.refusal in src/ingest/pipeline.ts by hand (that one is private);
 * the test in test/replay names each rule.
 */
import { matchesMessageType, type ChannelConfig } from '../channel/index.js';
import type { Delimiters, MshSummary } from '../hl7/types.js';

/** Why the channel refuses the message (for the DLQ message), or null when it accepts it. */
export function refusalOf(channel: ChannelConfig, msh: MshSummary, delimiters: Delimiters): string | null {
  const a = channel.accept;
  if (!msh.messageCode) return 'MSH-9 (message type) is empty';
  if (!msh.controlId) return 'MSH-10 (message control id) is empty';
  if (msh.version && !/^2\.[1-8](\.\d+)?$/.test(msh.version)) return `HL7 version ${msh.version} is not supported (2.1 to 2.8)`;
  if (a.messageTypes && !a.messageTypes.some((p) => matchesMessageType(p, msh.messageCode, msh.triggerEvent))) {
    return `message type ${msh.messageCode}^${msh.triggerEvent || '(none)'} is not accepted on channel ${channel.name}`;
  }
  const processing = msh.processingId.split(delimiters.component)[0] ?? '';
  if (a.processingIds && !a.processingIds.some((p) => p === processing)) {
    return `processing id ${processing || '(empty)'} is not accepted on channel ${channel.name}`;
  }
  if (a.sendingApplications && !a.sendingApplications.includes(msh.sendingApplication)) return `sending application is not accepted on channel ${channel.name}`;
  if (a.sendingFacilities && !a.sendingFacilities.includes(msh.sendingFacility)) return `sending facility is not accepted on channel ${channel.name}`;
  return null;
}
