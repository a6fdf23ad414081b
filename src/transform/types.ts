/**
 * What the transform stage needs from its collaborators, kept as small interfaces so the worker
 * can run with the real mapping set or with a fake converter and a failing producer in tests.
 */
import type { Hl7Message } from '../hl7/index.js';
import type { OutRecord, StoredAt } from '../kafka/index.js';
import type { ConversionResult } from '../mapping/index.js';

/**
 * One parsed message in, one result out. Must be deterministic: the same message gives the same
 * Bundle, byte for byte, which is what makes a redelivered record harmless.
 */
export type MessageConverter = (message: Hl7Message) => ConversionResult;

/** The one thing the worker asks of a producer (GroupCommitProducer fits). */
export interface RecordPublisher {
  /** Resolves once Kafka acknowledged the record (acks=all); rejects otherwise. */
  publish(record: OutRecord, timeoutMs: number): Promise<StoredAt>;
}
