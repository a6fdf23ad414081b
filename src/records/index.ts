/**
 * The records the engine writes to Kafka and reads back, as plain types and functions: the raw
 * envelope, the dead letter and its failure, record keys, headers, and the audit record. Ingest,
 * transform, dlq and replay all build and read records through here; nothing here talks to Kafka.
 * docs/asyncapi.yaml describes the same records for consumers.
 */
export { ENVELOPE_VERSION, isRawEnvelope, messageTypeOf, newEnvelopeId, sha256Hex, type RawEnvelope } from './envelope.js';
export { isDeadLetter, type DlqCategory, type DlqRecord, type Failure, type FailureStage, type ReplayMark, type StoredDeadLetter } from './dead-letter.js';
export type { RecordRef } from './record-ref.js';
export { isOutboundDeadLetter, OUTBOUND_DLQ_CATEGORIES, type OutboundDeadLetter, type OutboundDlqCategory } from './outbound-dead-letter.js';
export { MAX_KEY_LENGTH, outputKey, recordKey } from './keys.js';
export {
  BUNDLE_EVENT_TYPE,
  FHIR_CONTENT_TYPE,
  HEADERS,
  MAX_ISSUES_IN_HEADER,
  bundleHeaders,
  envelopeHeaders,
  failureHeaders,
  issuesHeader,
  linkHeaders,
} from './headers.js';
export {
  AUDIT_TOPIC,
  AUDIT_VERSION,
  auditHeaders,
  currentOperator,
  decisionTargets,
  inRanges,
  isAuditRecord,
  replayAuditRecord,
  newAuditRecord,
  toRanges,
  type AuditKind,
  type Decision,
  type DecisionAction,
  type AuditRecord,
  type OffsetRange,
  type Resubmission,
} from './audit.js';
