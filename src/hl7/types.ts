/**
 * The shapes every stage shares about an HL7 v2 message. The parser fills them; the ACK builder,
 * the ingest pipeline and (later) the mapping stage read them.
 */

/**
 * Encoding characters from MSH-1 and MSH-2. `truncation` is the v2.7 fifth character, if sent.
 * Some senders put only three characters in MSH-2 (e.g. "^~&" with no escape character); the
 * parser accepts that and leaves the missing role as "" (that message has no such character), so
 * concatenating the roles still reproduces MSH-2 exactly. Never split or search on a "" role.
 */
export interface Delimiters {
  readonly field: string;
  readonly component: string;
  readonly repetition: string;
  readonly escape: string;
  readonly subcomponent: string;
  readonly truncation: string | null;
}

export const DEFAULT_DELIMITERS: Delimiters = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
  truncation: null,
});

/**
 * What the ACK, the Kafka key and the envelope need from MSH, already unescaped. Empty fields are
 * empty strings, never undefined, so callers need no null checks for optional MSH fields.
 */
export interface MshSummary {
  readonly sendingApplication: string; // MSH-3 as sent (components kept, still escaped)
  readonly sendingFacility: string; // MSH-4 as sent
  readonly receivingApplication: string; // MSH-5 as sent
  readonly receivingFacility: string; // MSH-6 as sent
  readonly dateTime: string; // MSH-7
  readonly messageType: string; // MSH-9 as sent, e.g. "ADT^A01^ADT_A01"
  readonly messageCode: string; // MSH-9.1, e.g. "ADT"
  readonly triggerEvent: string; // MSH-9.2, e.g. "A01"
  readonly messageStructure: string; // MSH-9.3, may be empty
  readonly controlId: string; // MSH-10
  readonly processingId: string; // MSH-11 as sent
  readonly version: string; // MSH-12.1
  readonly acceptAckType: string; // MSH-15
  readonly applicationAckType: string; // MSH-16
  readonly characterSet: string; // MSH-18 as sent (repeats kept)
}

/** Why a text is not an HL7 message we can work with. Codes are stable; messages are for people. */
export type ParseErrorCode =
  | 'empty'
  | 'no-msh'
  | 'bad-delimiters'
  | 'bad-segment'
  | 'missing-field';

/** A parse failure. Never carries message content (no PHI): positions and codes only. */
export interface ParseError {
  readonly category: 'parse';
  readonly code: ParseErrorCode;
  readonly message: string;
  /** 1-based segment number in the message, when known. */
  readonly segmentIndex?: number;
  /** Segment id at that position, when it could be read (e.g. "MSH"). */
  readonly segment?: string;
  /** 1-based field number, when known. */
  readonly field?: number;
}
