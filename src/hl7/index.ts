export type {
  Delimiters,
  MshSummary,
  ParseError,
  ParseErrorCode,
} from './types.js';
export { DEFAULT_DELIMITERS } from './types.js';
export { parseMessage, type ParseResult } from './parse.js';
export { Hl7Message, Hl7Segment, serializeMessage } from './message.js';
export { splitBatch, type BatchParts } from './batch.js';
export { escapeValue, unescapeValue } from './escape.js';
export {
  readDelimiters,
  inspectDelimiters,
  encodingCharacters,
  type DelimiterInspection,
} from './delimiters.js';
export { parsePath, parseFieldPath, type Hl7Path, type FieldPath } from './path.js';
export {
  ackCodeFor,
  buildAck,
  formatTimestamp,
  newControlId,
  shouldSendAck,
  type AckCode,
  type AckError,
  type AckErrorLocation,
  type AckMode,
  type AckOutcome,
  type AckRequest,
  type ErrorSeverity,
} from './ack.js';
export * from './table-0357.js';
export { HD_COMPONENT_MAX_LENGTH, HD_MAX_LENGTH, MSH10_MAX_LENGTH, mshBoundBreach, valueTooLongCode, type BoundBreach } from './bounds.js';
