/**
 * One dead letter as an analyst sees it: read from its DLQ record, described by what is safe to
 * put on a screen (category, stage, the analyst's message, detail, attempts and times, and MSH
 * fields that identify the message without identifying the patient), with the content kept
 * apart for the rare, audited `--show-phi`.
 */
import { isDeadLetter, type DlqCategory, type Failure, type RecordRef, type StoredDeadLetter } from '../records/index.js';
import type { TopicRecord } from '../kafka/index.js';

export interface DeadLetter {
  readonly ref: RecordRef;
  /** Kafka record timestamp (ms). */
  readonly timestamp: number;
  readonly key: string | null;
  /** null when the value is not a dead letter this engine can read (see `unreadable`). */
  readonly record: StoredDeadLetter | null;
  readonly unreadable?: string;
}

/** Everything `dlq list|show` prints without --show-phi. */
export interface DeadLetterSummary {
  readonly ref: RecordRef;
  readonly channel: string;
  readonly category: DlqCategory | 'unreadable';
  readonly stage: Failure['stage'] | 'unknown';
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

/** The message content, for `--show-phi` only: decoded text, or the raw bytes as base64. */
export function contentOf(d: DeadLetter): { readonly text: string | null; readonly rawBase64: string | null } {
  return { text: d.record?.text ?? null, rawBase64: d.record?.raw ?? null };
}
