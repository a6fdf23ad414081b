/**
 * One raw record in, one output record out: the envelope is read, its text parsed and converted,
 * and the result becomes either a Bundle record or a dead letter with a category. Nothing here
 * talks to Kafka; the worker publishes what this returns.
 */
import type { ChannelConfig } from '../channel/index.js';
import type { OutRecord } from '../kafka/index.js';
import { parseMessage } from '../hl7/index.js';
import {
  ENVELOPE_VERSION,
  isRawEnvelope,
  messageTypeOf,
  outputKey,
  sha256Hex,
  type DlqCategory,
  type RawEnvelope,
  type RecordRef,
} from '../records/index.js';
import type { ConversionIssue } from '../mapping/types.js';
import { bundleRecord, dlqRecord } from './records.js';
import type { ConversionResult } from '../mapping/index.js';
import type { MessageConverter } from './types.js';

/** A raw record as the consumer hands it over. */
export interface RawRecordIn {
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;
}

export type TransformOutcome =
  | { readonly kind: 'bundle'; readonly record: OutRecord; readonly issues: readonly ConversionIssue[]; readonly envelope: RawEnvelope }
  | {
      readonly kind: 'dlq';
      readonly category: DlqCategory;
      readonly record: OutRecord;
      readonly issues: readonly ConversionIssue[];
      readonly envelope: RawEnvelope;
    };

/**
 * What the worker keeps of an outcome once it is converted: the record to publish and what the
 * metrics and the dead-letter log line need (issue codes, control id), not the envelope with the
 * message text. Plain data, so a conversion thread can send it back.
 */
export type ConvertedRecord = ConvertedCommon & ({ readonly kind: 'bundle'; readonly category: null } | { readonly kind: 'dlq'; readonly category: DlqCategory });

interface ConvertedCommon {
  readonly record: OutRecord;
  readonly issues: ReadonlyArray<{ readonly code: string; readonly table: string | null }>;
  readonly controlId: string | null;
  /** CPU time of the conversion, for hl7_conversion_seconds. */
  readonly seconds: number;
}

export function convertedRecord(outcome: TransformOutcome, seconds: number): ConvertedRecord {
  const common: ConvertedCommon = {
    record: outcome.record,
    issues: outcome.issues.map((i) => ({ code: i.code, table: i.table ?? null })),
    controlId: outcome.envelope.msh?.controlId ?? null,
    seconds,
  };
  return outcome.kind === 'dlq' ? { ...common, kind: 'dlq', category: outcome.category } : { ...common, kind: 'bundle', category: null };
}

type Detail = Record<string, string | number | boolean | null>;

function headerText(raw: RawRecordIn, name: string): string {
  const v = raw.headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? '' : first.toString();
}

/**
 * A stand-in envelope for a raw record whose value is not an envelope we can read (written by
 * another tool, or a future envelope version): the value itself travels as the "raw bytes", so
 * the dead letter still holds everything that was in the raw topic.
 */
function opaqueEnvelope(raw: RawRecordIn, channel: Pick<ChannelConfig, 'name'>, at: RecordRef): RawEnvelope {
  const bytes = raw.value ?? Buffer.alloc(0);
  return {
    v: ENVELOPE_VERSION,
    id: headerText(raw, 'ce_id') || `${at.topic}/${at.partition}/${at.offset}`,
    channel: channel.name,
    listener: '',
    remoteAddress: '',
    receivedAt: headerText(raw, 'ce_time'),
    raw: bytes.toString('base64'),
    rawSha256: sha256Hex(bytes),
    rawLength: bytes.length,
    text: null,
    charset: { source: null, charset: null, declared: '', repairs: [] },
    msh: null,
  };
}

function readEnvelope(raw: RawRecordIn): { ok: true; envelope: RawEnvelope } | { ok: false; message: string; detail: Detail } {
  if (!raw.value || raw.value.length === 0) return { ok: false, message: 'raw record has no value', detail: { reason: 'empty-value' } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.value.toString('utf8'));
  } catch {
    return { ok: false, message: 'raw record value is not JSON; expected a raw envelope', detail: { reason: 'not-json', bytes: raw.value.length } };
  }
  if (!isRawEnvelope(parsed)) {
    const v = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['v'] : undefined;
    return {
      ok: false,
      message: `raw record value is not a version ${ENVELOPE_VERSION} raw envelope`,
      detail: { reason: 'not-an-envelope', version: typeof v === 'number' ? v : null },
    };
  }
  return { ok: true, envelope: parsed };
}

/** Error name and the first stack frame: enough to find the bug, and never message content. */
function thrownDetail(err: unknown): Detail {
  if (!(err instanceof Error)) return { error: typeof err };
  const frame = err.stack?.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim() ?? null;
  return { error: err.name, at: frame };
}

function errorMessageOf(issues: readonly ConversionIssue[]): string | undefined {
  return issues.find((i) => i.severity === 'error')?.message;
}

export interface TransformTarget {
  /** Only the name and topics are read, so a conversion thread can be given just those. */
  readonly channel: Pick<ChannelConfig, 'name' | 'topics'>;
  readonly convert: MessageConverter;
  readonly now?: () => Date;
}

/** Converts one raw record. Never throws: every failure becomes a dead letter. */
export function transformRecord(raw: RawRecordIn, at: RecordRef, target: TransformTarget): TransformOutcome {
  const { channel, convert } = target;
  const rawKey = raw.key === null ? null : raw.key.toString();
  const deadLetter = (
    envelope: RawEnvelope,
    category: DlqCategory,
    message: string,
    detail: Detail,
    issues: readonly ConversionIssue[] = [],
  ): TransformOutcome => {
    const now = (target.now ?? (() => new Date()))().toISOString();
    const failure = { category, stage: 'transform' as const, message, detail, attempts: 1, firstAt: now, lastAt: now };
    const record = dlqRecord(channel.topics.dlq, outputKey(rawKey, envelope), envelope, at, failure, issues);
    return { kind: 'dlq', category, record, issues, envelope };
  };

  const read = readEnvelope(raw);
  if (!read.ok) return deadLetter(opaqueEnvelope(raw, channel, at), 'parse', read.message, read.detail);
  const envelope = read.envelope;

  if (envelope.text === null) {
    return deadLetter(envelope, 'charset', 'raw envelope has no decoded text (its bytes could not be decoded at ingest)', { reason: 'no-text' });
  }
  const parsed = parseMessage(envelope.text);
  if (!parsed.ok) {
    const e = parsed.error;
    return deadLetter(envelope, 'parse', e.message, {
      code: e.code,
      segmentIndex: e.segmentIndex ?? null,
      segment: e.segment ?? null,
      field: e.field ?? null,
    });
  }

  const type = messageTypeOf(envelope);
  let result: ConversionResult;
  try {
    result = convert(parsed.message);
  } catch (err) {
    const name = err instanceof Error ? err.name : 'a non-Error value';
    return deadLetter(envelope, 'mapping', `the converter threw ${name} on a ${type || 'message without MSH-9'}; this is a bug in a converter or the mapping`, {
      ...thrownDetail(err),
      messageType: type,
    });
  }

  const { bundle, issues, unsupported } = result;
  if (unsupported) {
    return deadLetter(
      envelope,
      'unsupported',
      `no mapping for message type ${type || '(none)'} in the channel's mapping set; the message stays in the raw topic`,
      { messageType: type, messageStructure: envelope.msh?.messageStructure ?? '' },
      issues,
    );
  }
  if (bundle === null) {
    const invalid = issues.some((i) => i.code === 'validation' && i.severity === 'error');
    const errors = issues.filter((i) => i.severity === 'error').length;
    return deadLetter(
      envelope,
      invalid ? 'validation' : 'mapping',
      errorMessageOf(issues) ?? `the mapping produced no Bundle for ${type || 'the message'}`,
      { messageType: type, issues: issues.length, errors },
      issues,
    );
  }
  const record = bundleRecord(channel.topics.fhir, outputKey(rawKey, envelope), envelope, at, bundle, issues);
  return { kind: 'bundle', record, issues, envelope };
}
