/**
 * A channel's accept rules, as an ERR the ACK carries (HL7 table 0357) or null when the message
 * is accepted. Shared by ingest and by replay of ingest dead letters, so a message refused
 * yesterday is stored today only if today's channel file accepts it.
 */
import { matchesMessageType } from '../channel/message-type.js';
import type { ChannelConfig } from '../channel/types.js';
import type { Delimiters, MshSummary } from '../hl7/types.js';
import { capForLog } from '../ops/logger.js';
import {
  mshBoundBreach,
  valueTooLongCode,
  ERR_APPLICATION_INTERNAL,
  ERR_REQUIRED_FIELD_MISSING,
  ERR_UNSUPPORTED_EVENT_CODE,
  ERR_UNSUPPORTED_MESSAGE_TYPE,
  ERR_UNSUPPORTED_PROCESSING_ID,
  ERR_UNSUPPORTED_VERSION_ID,
  type AckError,
} from '../hl7/index.js';

function refuse(code: number, text: string, field: number, component?: number): AckError {
  return { code, severity: 'E', text, location: { segment: 'MSH', sequence: 1, field, ...(component ? { component } : {}) } };
}

/** A sender's value quoted in a refusal (ERR text, dead letter, log): short, whatever was sent. */
const quote = (value: string): string => capForLog(value, 32);

export function refusal(channel: ChannelConfig, msh: MshSummary, delimiters: Delimiters): AckError | null {
  const a = channel.accept;
  // First, before any text is built from these fields: their lengths are the sender's choice.
  const breach = mshBoundBreach(msh, delimiters);
  if (breach) {
    return refuse(valueTooLongCode(msh.version), `${breach.name} is ${breach.length} characters long; at most ${breach.max} are accepted`, breach.field, breach.component);
  }
  if (!msh.messageCode) return refuse(ERR_REQUIRED_FIELD_MISSING, 'MSH-9 (message type) is empty', 9);
  if (!msh.controlId) return refuse(ERR_REQUIRED_FIELD_MISSING, 'MSH-10 (message control id) is empty', 10);
  if (msh.version && !/^2\.[1-8](\.\d+)?$/.test(msh.version)) {
    return refuse(ERR_UNSUPPORTED_VERSION_ID, `HL7 version ${quote(msh.version)} is not supported (2.1 to 2.8)`, 12);
  }
  if (a.messageTypes && !a.messageTypes.some((p) => matchesMessageType(p, msh.messageCode, msh.triggerEvent))) {
    const code = msh.messageCode.toUpperCase();
    const codeKnown = a.messageTypes.some((p) => (p.split('^')[0] ?? '').toUpperCase() === code);
    return codeKnown
      ? refuse(ERR_UNSUPPORTED_EVENT_CODE, `event ${quote(msh.triggerEvent) || '(none)'} is not accepted on channel ${channel.name}`, 9)
      : refuse(ERR_UNSUPPORTED_MESSAGE_TYPE, `message type ${quote(msh.messageCode)} is not accepted on channel ${channel.name}`, 9);
  }
  // MSH-11 is "id^mode" in the message's own delimiters, which need not be '^'.
  const processing = msh.processingId.split(delimiters.component)[0] ?? '';
  if (a.processingIds && !a.processingIds.some((p) => p === processing)) {
    return refuse(ERR_UNSUPPORTED_PROCESSING_ID, `processing id ${quote(processing) || '(empty)'} is not accepted on channel ${channel.name}`, 11);
  }
  // Table 0357 has no code for an unknown sender; 207 with the reason in ERR-8/MSA-3.
  if (a.sendingApplications && !a.sendingApplications.includes(msh.sendingApplication)) {
    return refuse(ERR_APPLICATION_INTERNAL, `sending application is not accepted on channel ${channel.name}`, 3);
  }
  if (a.sendingFacilities && !a.sendingFacilities.includes(msh.sendingFacility)) {
    return refuse(ERR_APPLICATION_INTERNAL, `sending facility is not accepted on channel ${channel.name}`, 4);
  }
  return null;
}
