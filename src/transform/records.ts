/**
 * The records the transform stage writes: a Bundle on `<channel>.fhir`, or a dead letter on
 * `<channel>.dlq`, each keyed like the raw record it came from and carrying headers that lead
 * back to it (the record contracts are in src/records). Everything here is derived from the raw
 * record and the conversion, never from the clock or a random source, so a redelivered raw record
 * yields an identical Bundle record.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { OutRecord } from '../kafka/index.js';
import type { ConversionIssue } from '../mapping/types.js';
import {
  bundleHeaders,
  envelopeHeaders,
  failureHeaders,
  linkHeaders,
  type DlqRecord,
  type Failure,
  type RawEnvelope,
  type RecordRef,
} from '../records/index.js';

/** The Bundle record (CloudEvents binary mode, see bundleHeaders). */
export function bundleRecord(
  topic: string,
  key: string,
  envelope: RawEnvelope,
  at: RecordRef,
  bundle: Bundle,
  issues: readonly ConversionIssue[],
): OutRecord {
  return { topic, key, value: JSON.stringify(bundle), headers: bundleHeaders(envelope, at, issues) };
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
  at: RecordRef,
  failure: Failure,
  issues: readonly ConversionIssue[],
): OutRecord {
  const record: DlqRecord = { ...envelope, failure, rawRecord: { topic: at.topic, partition: at.partition, offset: at.offset } };
  return {
    topic,
    key,
    value: JSON.stringify(record),
    headers: envelopeHeaders(envelope, { ...failureHeaders(failure.category, failure.stage), ...linkHeaders(at, envelope, issues) }),
  };
}
