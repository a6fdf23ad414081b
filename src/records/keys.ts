/**
 * Kafka record keys. Every record about one patient shares a key, so one partition keeps their
 * order through raw, fhir and dlq. Keys are visible in every Kafka tool, so they never hold an
 * identifier as written.
 */
import { randomUUID } from 'node:crypto';
import type { MshSummary } from '../hl7/types.js';
import { sha256Hex, type RawEnvelope } from './envelope.js';

/**
 * The key of a raw record: a hash of the patient's PID-3 (with sending facility and assigning
 * authority), so an MRN never shows up in a key; without a readable PID-3 the message is keyed
 * by sender and control id, and a frame without MSH by a random id.
 */
export function recordKey(msh: MshSummary | null, patientId: string | undefined, patientAuthority: string | undefined): string {
  if (patientId) {
    return `pt:${sha256Hex(`${msh?.sendingFacility ?? ''}\0${patientAuthority ?? ''}\0${patientId}`).slice(0, 32)}`;
  }
  if (msh) return `msg:${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`;
  return `frame:${randomUUID()}`;
}

/** The key of a record derived from a raw record: the raw record's, or (should ingest ever have written none) one built from MSH. */
export function outputKey(rawKey: string | null, envelope: RawEnvelope): string {
  return rawKey ?? recordKey(envelope.msh, undefined, undefined);
}
