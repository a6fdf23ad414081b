/**
 * The records ingest writes to Kafka (ENGINE.md §4): the raw envelope, the dead-letter record
 * built from it, their keys and their CloudEvents headers. The raw bytes always travel with the
 * record, so a wrong charset guess or a broken mapping can be replayed later.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CharsetDecision, Repair } from '../charset/types.js';
import type { MshSummary } from '../hl7/types.js';

export const ENVELOPE_VERSION = 1;

export type DlqCategory =
  | 'frame'
  | 'charset'
  | 'parse'
  | 'rejected'
  | 'unsupported'
  | 'mapping'
  | 'validation'
  | 'publish';

export interface RawEnvelope {
  readonly v: typeof ENVELOPE_VERSION;
  readonly id: string;
  readonly channel: string;
  /** host:port of the listener that received the frame. */
  readonly listener: string;
  readonly remoteAddress: string;
  readonly receivedAt: string;
  /** The frame's bytes (between VT and FS), base64; byte-identical to what the sender sent. */
  readonly raw: string;
  readonly rawSha256: string;
  readonly rawLength: number;
  /** Text after decoding and repairs; null when the bytes could not be decoded. */
  readonly text: string | null;
  readonly charset: {
    readonly source: CharsetDecision['source'] | null;
    readonly charset: string | null;
    readonly declared: string;
    readonly repairs: readonly Repair[];
  };
  readonly msh: MshSummary | null;
  /** Set when the frame was an FHS/BHS batch: this message's place in it. */
  readonly batch?: { readonly index: number; readonly count: number };
  /** True when the raw bytes are only the head of a frame too large to keep. */
  readonly truncated?: boolean;
}

export interface Failure {
  readonly category: DlqCategory;
  readonly stage: 'ingest' | 'transform' | 'replay';
  /** What an analyst reads first; never message content. */
  readonly message: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
}

export interface DlqRecord extends RawEnvelope {
  readonly failure: Failure;
  /** The raw record this failure belongs to, when it was stored (mapping failures). */
  readonly rawRecord?: { readonly topic: string; readonly partition: number; readonly offset: string };
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function newEnvelopeId(): string {
  return randomUUID();
}

/**
 * The Kafka key that keeps one patient's messages in order on one partition. It is a hash, so
 * an MRN never shows up in a key (keys are visible in every Kafka tool); without a readable
 * PID-3 the message is keyed by sender and control id.
 */
export function recordKey(msh: MshSummary | null, patientId: string | undefined, patientAuthority: string | undefined): string {
  if (patientId) {
    return `pt:${sha256Hex(`${msh?.sendingFacility ?? ''}\0${patientAuthority ?? ''}\0${patientId}`).slice(0, 32)}`;
  }
  if (msh) return `msg:${msh.sendingApplication}|${msh.sendingFacility}|${msh.controlId}`;
  return `frame:${randomUUID()}`;
}

/** CloudEvents binary-mode headers (ce_*), plus the links operators search by. */
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
  if (env.msh?.controlId) h['hl7_control_id'] = env.msh.controlId;
  return h;
}
