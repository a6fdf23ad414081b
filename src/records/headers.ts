/**
 * Record headers: CloudEvents binary mode (ce_*) on every record, plus the names consumers and
 * operators search by. Header values are built from the envelope and the conversion only, never
 * from the clock or a random source, so a record written twice carries the same headers.
 */
import { MSH10_MAX_LENGTH } from '../hl7/bounds.js';
import type { ConversionIssue } from '../mapping/types.js';
import type { DlqCategory, FailureStage } from './dead-letter.js';
import { messageTypeOf, type RawEnvelope } from './envelope.js';
import type { RecordRef } from './record-ref.js';

/** Header names beyond CloudEvents that consumers of the raw, fhir and dlq topics can rely on. */
export const HEADERS = Object.freeze({
  /** MSH-10 of the message. */
  controlId: 'hl7_control_id',
  /** MSH-9.1^MSH-9.2. */
  messageType: 'hl7_message_type',
  /** The raw record a Bundle or a transform dead letter came from. */
  rawTopic: 'hl7_raw_topic',
  rawPartition: 'hl7_raw_partition',
  rawOffset: 'hl7_raw_offset',
  /** The conversion's issues (JSON array, at most MAX_ISSUES_IN_HEADER) and their full number. */
  issues: 'hl7_issues',
  issueCount: 'hl7_issue_count',
  /** On raw records: the duplicate-memory key, read back at start to rebuild the memory. */
  dedupe: 'hl7_dedupe',
  /** On records a replay wrote: the replay's id (as in its audit records). */
  replayId: 'hl7_replay_id',
  /**
   * On raw records an operator resubmitted with corrected text: the dead letter it replaces, and
   * the id of the audit record (dlq-decision, action resubmit) that decided it.
   */
  resubmitOfTopic: 'hl7_resubmit_of_topic',
  resubmitOfPartition: 'hl7_resubmit_of_partition',
  resubmitOfOffset: 'hl7_resubmit_of_offset',
  resubmitAudit: 'hl7_resubmit_audit',
  /** On dead letters: the failure's category and stage. */
  dlqCategory: 'dlq_category',
  dlqStage: 'dlq_stage',
});

export const FHIR_CONTENT_TYPE = 'application/fhir+json';
export const BUNDLE_EVENT_TYPE = 'fhir.Bundle';

/**
 * Issues kept in the header, at most. A message with hundreds of unknown codes should not push
 * the record towards the broker's size limit; the count header still tells the full number.
 */
export const MAX_ISSUES_IN_HEADER = 200;

/** CloudEvents binary-mode headers of a raw record or dead letter, plus the control id; `extra` added. */
export function envelopeHeaders(env: RawEnvelope, extra: Record<string, string> = {}): Record<string, string> {
  const type = env.msh?.messageCode
    ? `hl7v2.${env.msh.messageCode}${env.msh.triggerEvent ? `_${env.msh.triggerEvent}` : ''}`
    : 'hl7v2.unknown';
  const h: Record<string, string> = {
    ce_specversion: '1.0',
    ce_id: env.id,
    ce_type: type,
    ce_source: `hl7-engine/${env.channel}`,
    ce_time: env.receivedAt,
    'content-type': 'application/json',
    ...extra,
  };
  if (env.msh?.controlId) setControlId(h, env.msh.controlId);
  return h;
}

/**
 * The control id header, only for a control id within HL7's bound: the dead letter of a frame
 * refused for an over-long MSH-10 keeps the value in its envelope, not in a header every Kafka
 * tool lists.
 */
function setControlId(h: Record<string, string>, controlId: string): void {
  if (controlId.length <= MSH10_MAX_LENGTH) h[HEADERS.controlId] = controlId;
}

/** The category and stage headers of a dead letter. */
export function failureHeaders(category: DlqCategory, stage: FailureStage): Record<string, string> {
  return { [HEADERS.dlqCategory]: category, [HEADERS.dlqStage]: stage };
}

/**
 * The issues as a JSON array with a fixed field order, so equal issues give equal bytes.
 * ConversionIssue never quotes message content, so the header carries no PHI.
 */
export function issuesHeader(issues: readonly ConversionIssue[]): string {
  const kept = issues.slice(0, MAX_ISSUES_IN_HEADER).map((i) => ({
    severity: i.severity,
    code: i.code,
    ...(i.location !== undefined ? { location: i.location } : {}),
    ...(i.table !== undefined ? { table: i.table } : {}),
    message: i.message,
  }));
  return JSON.stringify(kept);
}

/** Headers that lead from a record the transform wrote back to its raw record, with the issues met. */
export function linkHeaders(at: RecordRef, envelope: RawEnvelope, issues: readonly ConversionIssue[]): Record<string, string> {
  const h: Record<string, string> = {
    [HEADERS.rawTopic]: at.topic,
    [HEADERS.rawPartition]: String(at.partition),
    [HEADERS.rawOffset]: at.offset,
    [HEADERS.issues]: issuesHeader(issues),
    [HEADERS.issueCount]: String(issues.length),
  };
  const type = messageTypeOf(envelope);
  if (type) h[HEADERS.messageType] = type;
  if (envelope.msh?.controlId) setControlId(h, envelope.msh.controlId);
  return h;
}

/**
 * The headers of a Bundle record. The event is identified by the raw envelope's id under the
 * transform's own source (id + source is unique), and its time is when the message was
 * received, which keeps the headers as repeatable as the value.
 */
export function bundleHeaders(envelope: RawEnvelope, at: RecordRef, issues: readonly ConversionIssue[]): Record<string, string> {
  return {
    ce_specversion: '1.0',
    ce_id: envelope.id,
    ce_type: BUNDLE_EVENT_TYPE,
    ce_source: `hl7-engine/${envelope.channel}/transform`,
    ce_time: envelope.receivedAt,
    'content-type': FHIR_CONTENT_TYPE,
    ...linkHeaders(at, envelope, issues),
  };
}
