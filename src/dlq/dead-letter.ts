/**
 * One dead letter as an analyst sees it: read from its DLQ record, described by what is safe to
 * put on a screen (category, stage, the analyst's message, detail, attempts and times, and MSH
 * fields that identify the message without identifying the patient), with the content kept
 * apart for the rare, audited `--show-phi`.
 */
import { createHash } from 'node:crypto';
import { parseMessage } from '../hl7/index.js';
import { isDeadLetter, isOutboundDeadLetter, type DlqCategory, type Failure, type OutboundDeadLetter, type OutboundDlqCategory, type RecordRef, type StoredDeadLetter } from '../records/index.js';
import type { TopicRecord } from '../kafka/index.js';

export interface DeadLetter {
  readonly ref: RecordRef;
  /** Kafka record timestamp (ms). */
  readonly timestamp: number;
  readonly key: string | null;
  /** An inbound dead letter (ingest, transform, replay); null otherwise. */
  readonly record: StoredDeadLetter | null;
  /** An outbound one (a destination's `<destination>.dlq`); null otherwise. Both null: see `unreadable`. */
  readonly outbound?: OutboundDeadLetter;
  readonly unreadable?: string;
}

/** Everything `dlq list|show` prints without --show-phi. */
export interface DeadLetterSummary {
  readonly ref: RecordRef;
  /** The channel, or for an outbound dead letter the destination. */
  readonly channel: string;
  readonly category: DlqCategory | OutboundDlqCategory | 'unreadable';
  /** delivery: an outbound dead letter (a destination could not deliver it). */
  readonly stage: Failure['stage'] | 'delivery' | 'unknown';
  readonly message: string;
  /** The message with long numbers blanked, so failures of one kind group together. */
  readonly cause: string;
  readonly detail: Failure['detail'];
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
  readonly receivedAt: string;
  readonly messageType: string;
  readonly controlId: string;
  readonly sendingApplication: string;
  readonly sendingFacility: string;
  readonly receivingApplication: string;
  readonly receivingFacility: string;
  readonly version: string;
  readonly rawLength: number;
  readonly rawSha256: string;
  readonly truncated: boolean;
  readonly charset: string | null;
  readonly envelopeId: string;
  /** The raw record the failure belongs to; null when the bytes never reached the raw topic. */
  readonly rawRecord: RecordRef | null;
  readonly replayOf: RecordRef | null;
}

export function readDeadLetter(r: TopicRecord): DeadLetter {
  const base = { ref: { topic: r.topic, partition: r.partition, offset: r.offset }, timestamp: r.timestamp, key: r.key ? r.key.toString() : null };
  if (!r.value || r.value.length === 0) return { ...base, record: null, unreadable: 'empty value' };
  try {
    const parsed: unknown = JSON.parse(r.value.toString('utf8'));
    if (isDeadLetter(parsed)) return { ...base, record: parsed };
    if (isOutboundDeadLetter(parsed)) return { ...base, record: null, outbound: parsed };
    return { ...base, record: null, unreadable: 'JSON without a failure section' };
  } catch {
    return { ...base, record: null, unreadable: 'not JSON' };
  }
}

/** Runs of three or more digits (sizes, offsets, counts) blanked: "exceeds 1048576 bytes" → "exceeds N bytes". */
export function causeOf(message: string): string {
  return message.replace(/\d{3,}/g, 'N');
}

export function summarize(d: DeadLetter): DeadLetterSummary {
  if (d.outbound) return summarizeOutbound(d, d.outbound);
  const rec = d.record;
  const f = rec?.failure;
  const msh = rec?.msh ?? null;
  const type = msh?.messageCode ? (msh.triggerEvent ? `${msh.messageCode}^${msh.triggerEvent}` : msh.messageCode) : '';
  const time = f?.lastAt ?? new Date(d.timestamp).toISOString();
  const message = f?.message ?? `the DLQ record cannot be read (${d.unreadable ?? 'unknown'})`;
  return {
    ref: d.ref,
    channel: rec?.channel ?? '',
    category: f?.category ?? 'unreadable',
    stage: f?.stage ?? 'unknown',
    message,
    cause: causeOf(message),
    detail: f?.detail ?? {},
    attempts: f?.attempts ?? 1,
    firstAt: f?.firstAt ?? time,
    lastAt: time,
    receivedAt: rec?.receivedAt ?? '',
    messageType: type,
    controlId: msh?.controlId ?? '',
    sendingApplication: msh?.sendingApplication ?? '',
    sendingFacility: msh?.sendingFacility ?? '',
    receivingApplication: msh?.receivingApplication ?? '',
    receivingFacility: msh?.receivingFacility ?? '',
    version: msh?.version ?? '',
    rawLength: rec?.rawLength ?? 0,
    rawSha256: rec?.rawSha256 ?? '',
    truncated: rec?.truncated ?? false,
    charset: rec?.charset.charset ?? null,
    envelopeId: rec?.id ?? '',
    rawRecord: rec?.rawRecord ?? null,
    replayOf: rec?.replay?.previous ?? null,
  };
}

/**
 * An outbound dead letter on screen: our reason, the ACK code, attempts and where the record came
 * from; the MSH fields of the message we built. The receiver's ERR text is kept with the content
 * (receivers quote field values in ERR-8 and MSA-3), so it shows only with --show-phi.
 */
function summarizeOutbound(d: DeadLetter, o: OutboundDeadLetter): DeadLetterSummary {
  const parsed = o.message === null ? null : parseMessage(o.message);
  const msh = parsed?.ok ? parsed.message.msh() : null;
  const type = msh?.messageCode ? (msh.triggerEvent ? `${msh.messageCode}^${msh.triggerEvent}` : msh.messageCode) : '';
  const bytes = o.message === null ? null : Buffer.from(o.message, 'utf8');
  const at = o.failure.at || new Date(d.timestamp).toISOString();
  return {
    ref: d.ref,
    channel: o.destination,
    category: o.failure.category,
    stage: 'delivery',
    message: o.failure.message,
    cause: causeOf(o.failure.message),
    detail: { ackCode: o.failure.ackCode, source: `${o.source.topic} ${o.source.partition}:${o.source.offset}` },
    attempts: o.failure.attempts,
    firstAt: at,
    lastAt: at,
    receivedAt: '',
    messageType: type,
    controlId: msh?.controlId ?? o.controlId ?? '',
    sendingApplication: msh?.sendingApplication ?? '',
    sendingFacility: msh?.sendingFacility ?? '',
    receivingApplication: msh?.receivingApplication ?? '',
    receivingFacility: msh?.receivingFacility ?? '',
    version: msh?.version ?? '',
    rawLength: bytes?.length ?? 0,
    rawSha256: bytes ? createHash('sha256').update(bytes).digest('hex') : '',
    truncated: false,
    charset: msh?.characterSet || null,
    envelopeId: '',
    rawRecord: { topic: o.source.topic, partition: o.source.partition, offset: o.source.offset },
    replayOf: o.replay?.previous ?? null,
  };
}

/** The dead letter a replay wrote this one in place of, if any. */
export function previousOf(d: DeadLetter): RecordRef | null {
  return d.record?.replay?.previous ?? d.outbound?.replay?.previous ?? null;
}

/**
 * The message content, for `--show-phi` only: decoded text, or the raw bytes as base64; for an
 * outbound dead letter the v2 message built, and the receiver's own words about it.
 */
export function contentOf(d: DeadLetter): { readonly text: string | null; readonly rawBase64: string | null; readonly receiverSaid?: string } {
  if (d.outbound) return { text: d.outbound.message, rawBase64: null, receiverSaid: d.outbound.failure.detail };
  return { text: d.record?.text ?? null, rawBase64: d.record?.raw ?? null };
}
