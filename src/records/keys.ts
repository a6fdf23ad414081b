/**
 * Kafka record keys. Every record about one patient shares a key, so one partition keeps their
 * order through raw, fhir and dlq. Keys are visible in every Kafka tool, so they never hold an
 * identifier as written, and they are always a short hash: a key is hashed by the partitioner
 * (kafkajs's murmur2 is slow on long keys) and copied into every record and every index, so a
 * sender must not be able to choose its length.
 */
import { randomUUID } from 'node:crypto';
import type { MshSummary } from '../hl7/types.js';
import { sha256Hex, type RawEnvelope } from './envelope.js';

/** Characters of the hex digest kept in a key (128 bits). */
const HASH_CHARS = 32;

/** The longest key recordKey can return ("frame:" and a UUID). */
export const MAX_KEY_LENGTH = 'frame:'.length + 36;

/**
 * The key of a raw record: a hash of the patient's PID-3 (with sending facility and assigning
 * authority), so an MRN never shows up in a key; without a readable PID-3 the message is keyed
 * by a hash of sender and control id, and a frame without MSH by a random id.
 */
export function recordKey(msh: MshSummary | null, patientId: string | undefined, patientAuthority: string | undefined): string {
  if (patientId) {
    return `pt:${sha256Hex(`${msh?.sendingFacility ?? ''}\0${patientAuthority ?? ''}\0${patientId}`).slice(0, HASH_CHARS)}`;
  }
  if (msh) return `msg:${sha256Hex(`${msh.sendingApplication}\0${msh.sendingFacility}\0${msh.controlId}`).slice(0, HASH_CHARS)}`;
  return `frame:${randomUUID()}`;
}

/**
 * The key of a record derived from a raw record: the raw record's, or (should ingest ever have
 * written none) one built from MSH. A raw record written before keys were hashed can carry a key
 * of any length (`msg:MSH-3|MSH-4|MSH-10`); it is hashed the same way rather than copied on.
 */
export function outputKey(rawKey: string | null, envelope: RawEnvelope): string {
  if (rawKey !== null && rawKey.length <= MAX_KEY_LENGTH) return rawKey;
  return recordKey(envelope.msh, undefined, undefined);
}
