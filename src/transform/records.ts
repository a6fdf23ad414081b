/**
 * The records the transform stage writes (ENGINE.md §4): a Bundle on `<channel>.fhir`, or a dead
 * letter on `<channel>.dlq`, each keyed like the raw record it came from and carrying headers
 * that lead back to it. Everything here is derived from the raw record and the conversion, never
 * from the clock or a random source, so a redelivered raw record yields an identical Bundle record.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { OutRecord } from '../kafka/index.js';
import { envelopeHeaders, recordKey, type DlqRecord, type Failure, type RawEnvelope } from '../ingest/index.js';
import type { ConversionIssue } from '../mapping/types.js';
import type { RawRecordRef } from './types.js';

export const FHIR_CONTENT_TYPE = 'application/fhir+json';
export const BUNDLE_EVENT_TYPE = 'fhir.Bundle';

/** Header names consumers of the fhir and dlq topics can rely on. */
export const TRANSFORM_HEADERS = Object.freeze({
  rawTopic: 'hl7_raw_topic',
  rawPartition: 'hl7_raw_partition',
  rawOffset: 'hl7_raw_offset',
  controlId: 'hl7_control_id',
  messageType: 'hl7_message_type',
  issues: 'hl7_issues',
  issueCount: 'hl7_issue_count',
});

/**
 * Issues kept in the header, at most. A message with hundreds of unknown codes should not push
 * the record towards the broker's size limit; the count header still tells the full number.
 */
export const MAX_ISSUES_IN_HEADER = 200;

/** The raw record's key, or (should ingest ever have written none) one built from MSH. */
export function outputKey(rawKey: string | null, envelope: RawEnvelope): string {
  return rawKey ?? recordKey(envelope.msh, undefined, undefined);
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

/** MSH-9.1^MSH-9.2, or '' when the envelope has no MSH summary. */
export function messageTypeOf(envelope: RawEnvelope): string {
  const msh = envelope.msh;
  if (!msh || !msh.messageCode) return '';
  return msh.triggerEvent ? `${msh.messageCode}^${msh.triggerEvent}` : msh.messageCode;
}

function linkHeaders(at: RawRecordRef, envelope: RawEnvelope, issues: readonly ConversionIssue[]): Record<string, string> {
  const h: Record<string, string> = {
    [TRANSFORM_HEADERS.rawTopic]: at.topic,
    [TRANSFORM_HEADERS.rawPartition]: String(at.partition),
    [TRANSFORM_HEADERS.rawOffset]: at.offset,
    [TRANSFORM_HEADERS.issues]: issuesHeader(issues),
    [TRANSFORM_HEADERS.issueCount]: String(issues.length),
  };
  const type = messageTypeOf(envelope);
  if (type) h[TRANSFORM_HEADERS.messageType] = type;
  if (envelope.msh?.controlId) h[TRANSFORM_HEADERS.controlId] = envelope.msh.controlId;
  return h;
}

/**
 * The Bundle record. CloudEvents binary mode: the event is identified by the raw envelope's id
 * under this stage's own source (id + source is unique), and its time is when the message was
 * received, which keeps the headers as repeatable as the value.
 */
export function bundleRecord(
  topic: string,
  key: string,
  envelope: RawEnvelope,
  at: RawRecordRef,
  bundle: Bundle,
  issues: readonly ConversionIssue[],
): OutRecord {
  return {
    topic,
    key,
    value: JSON.stringify(bundle),
    headers: {
      ce_specversion: '1.0',
      ce_id: envelope.id,
      ce_type: BUNDLE_EVENT_TYPE,
      ce_source: `hl7-engine/${envelope.channel}/transform`,
      ce_time: envelope.receivedAt,
      'content-type': FHIR_CONTENT_TYPE,
      ...linkHeaders(at, envelope, issues),
    },
  };
}

/**
 * The dead letter: the whole raw envelope (bytes included, so it can be replayed once the mapping
 * is fixed) plus why the transform gave up. Keyed like the raw record so a replay of one
 * patient's dead letters keeps their order.
 */
export function dlqRecord(
  topic: string,
  key: string,
  envelope: RawEnvelope,
  at: RawRecordRef,
  failure: Failure,
  issues: readonly ConversionIssue[],
): OutRecord {
  const record: DlqRecord = { ...envelope, failure, rawRecord: { topic: at.topic, partition: at.partition, offset: at.offset } };
  return {
    topic,
    key,
    value: JSON.stringify(record),
    headers: envelopeHeaders(envelope, {
      dlq_category: failure.category,
      dlq_stage: failure.stage,
      ...linkHeaders(at, envelope, issues),
    }),
  };
}
