/**
 * One message re-driven through the channel's current configuration and mapping set, as a
 * record to publish (nothing here talks to Kafka):
 *
 * - a raw record, or a dead letter the transform wrote: the raw bytes are decoded again with the
 *   channel's current charset settings, then converted exactly as the transform worker does,
 *   with the same key and the same links to the raw record, so the Bundle is byte-identical to
 *   what the worker would publish and a repeated replay changes nothing downstream;
 * - a dead letter ingest wrote (charset, parse, rejected): the bytes go through decoding,
 *   parsing and the channel's accept rules again and, when they pass, become a new raw record
 *   that the transform stage converts like any other;
 * - a message that fails again becomes a dead letter with attempts + 1, its first failure time
 *   kept, stage `replay`, and a link to the dead letter it replaces.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { ChannelConfig } from '../channel/index.js';
import { decodeMessage } from '../charset/index.js';
import { parseMessage } from '../hl7/index.js';
import { dedupeKey } from '../ingest/index.js';
import type { OutRecord } from '../kafka/producer.js';
import {
  envelopeHeaders,
  failureHeaders,
  HEADERS,
  recordKey,
  type DlqCategory,
  type DlqRecord,
  type Failure,
  type RawEnvelope,
  type RecordRef,
  type StoredDeadLetter,
} from '../records/index.js';
import { transformRecord, type MessageConverter, type RawRecordIn } from '../transform/index.js';
import type { DeadLetter } from '../dlq/dead-letter.js';
import type { TopicRecord } from '../kafka/index.js';
import { refusalOf } from './accept.js';

export interface RedriveTarget {
  readonly channel: ChannelConfig;
  readonly convert: MessageConverter;
  readonly replayId: string;
  readonly now: () => Date;
}

export type Redrive =
  | {
      readonly kind: 'bundle';
      readonly record: OutRecord;
      readonly bundle: Bundle;
      readonly rawRef: RecordRef;
      readonly issues: number;
      /** The dead letter to write instead when Kafka refuses the Bundle record for good. */
      readonly refused: (errorCode: string) => Redrive;
    }
  | { readonly kind: 'raw'; readonly record: OutRecord }
  | { readonly kind: 'dlq'; readonly record: OutRecord; readonly category: DlqCategory; readonly message: string }
  | { readonly kind: 'skipped'; readonly reason: string };

type Detail = Failure['detail'];

/** The envelope without what a dead letter adds to it. */
function envelopeOf(d: StoredDeadLetter): RawEnvelope {
  const { failure: _f, rawRecord: _r, replay: _p, ...env } = d;
  return env;
}

type Redecoded = { ok: true; envelope: RawEnvelope } | { ok: false; message: string; detail: Detail };

/** Decodes the raw bytes again with the channel's current charset settings. */
function redecode(env: RawEnvelope, channel: ChannelConfig): Redecoded {
  const bytes = Buffer.from(env.raw, 'base64');
  const r = decodeMessage(bytes, { fallback: channel.charset.fallback });
  if (!r.ok) return { ok: false, message: `bytes cannot be decoded: ${r.message}`, detail: { fallback: channel.charset.fallback } };
  const parsed = parseMessage(r.text);
  return {
    ok: true,
    envelope: {
      ...env,
      text: r.text,
      charset: { source: r.decision.source, charset: r.decision.charset, declared: r.decision.declared, repairs: r.repairs },
      msh: parsed.ok ? parsed.message.msh() : env.msh,
    },
  };
}

interface Previous {
  readonly ref: RecordRef;
  readonly failure: Failure;
}

/** A failure on replay as a dead letter: attempts + 1 and the first failure time of `previous`. */
function replayFailure(
  target: RedriveTarget,
  record: DlqRecord,
  previous: Previous | null,
  headers: Record<string, string>,
  key: string,
): Redrive {
  const now = target.now().toISOString();
  const failure: Failure = {
    ...record.failure,
    stage: 'replay',
    attempts: (previous?.failure.attempts ?? 0) + 1,
    firstAt: previous?.failure.firstAt ?? now,
    lastAt: now,
  };
  const value: StoredDeadLetter = {
    ...record,
    failure,
    replay: { id: target.replayId, ...(previous ? { previous: previous.ref } : {}) },
  };
  return {
    kind: 'dlq',
    category: failure.category,
    message: failure.message,
    record: {
      topic: target.channel.topics.dlq,
      key,
      value: JSON.stringify(value),
      headers: { ...headers, ...failureHeaders(failure.category, 'replay'), [HEADERS.replayId]: target.replayId },
    },
  };
}

/** Converts one raw record as the transform worker would; failures become replay dead letters. */
function convertRaw(raw: RawRecordIn, at: RecordRef, target: RedriveTarget, previous: Previous | null): Redrive {
  const out = transformRecord(raw, at, { channel: target.channel, convert: target.convert, now: target.now });
  if (out.kind === 'bundle') {
    const bundle = JSON.parse(String(out.record.value)) as Bundle;
    const refused = (errorCode: string): Redrive => {
      const now = target.now().toISOString();
      const message = `Kafka refused the Bundle record for ${out.record.topic} (${errorCode}); retrying cannot help, e.g. the Bundle is larger than the topic allows`;
      const record: DlqRecord = {
        ...out.envelope,
        failure: { category: 'publish', stage: 'replay', message, detail: { error: errorCode, topic: out.record.topic, bytes: Buffer.byteLength(String(out.record.value)) }, attempts: 1, firstAt: now, lastAt: now },
        rawRecord: at,
      };
      return replayFailure(target, record, previous, envelopeHeaders(out.envelope), out.record.key);
    };
    return { kind: 'bundle', record: out.record, bundle, rawRef: at, issues: out.issues.length, refused };
  }
  const written = JSON.parse(String(out.record.value)) as DlqRecord;
  return replayFailure(target, written, previous, { ...out.record.headers }, out.record.key);
}

/** A raw record of `<channel>.raw`. */
export function redriveRaw(rec: TopicRecord, target: RedriveTarget): Redrive {
  const at: RecordRef = { topic: rec.topic, partition: rec.partition, offset: rec.offset };
  let value = rec.value;
  if (value && value.length > 0) {
    try {
      const env = JSON.parse(value.toString('utf8')) as RawEnvelope;
      if (typeof env.raw === 'string' && typeof env.charset === 'object') {
        const again = redecode(env, target.channel);
        // Bytes that no longer decode keep the stored envelope; the transform reports them.
        if (again.ok) value = Buffer.from(JSON.stringify(again.envelope));
      }
    } catch {
      // Not an envelope: the transform dead-letters it as `parse`, as the worker does.
    }
  }
  return convertRaw({ key: rec.key, value, headers: rec.headers }, at, target, null);
}

/** Stores a message that failed at ingest, if the channel takes it now. */
function reingest(letter: DeadLetter, d: StoredDeadLetter, target: RedriveTarget): Redrive {
  const { channel } = target;
  const previous: Previous = { ref: letter.ref, failure: d.failure };
  const env0 = envelopeOf(d);
  if (env0.truncated) {
    return { kind: 'skipped', reason: 'only the head of an oversize frame was kept; the sender has to send the message again' };
  }
  if (typeof d.failure.detail['batchMessages'] === 'number') {
    return { kind: 'skipped', reason: 'a whole batch refused for its size (batch.maxMessages); the sender has to send it again in smaller batches' };
  }
  const fail = (env: RawEnvelope, category: DlqCategory, message: string, detail: Detail): Redrive => {
    const now = target.now().toISOString();
    const record: DlqRecord = { ...env, failure: { category, stage: 'replay', message, detail, attempts: 1, firstAt: now, lastAt: now } };
    return replayFailure(target, record, previous, envelopeHeaders(env), recordKey(env.msh, undefined, undefined));
  };
  const again = redecode(env0, channel);
  if (!again.ok) return fail(env0, 'charset', again.message, again.detail);
  const env = again.envelope;
  const parsed = parseMessage(env.text ?? '');
  if (!parsed.ok) {
    const e = parsed.error;
    return fail(env, 'parse', `message cannot be parsed: ${e.message}`, { code: e.code, segmentIndex: e.segmentIndex ?? null, segment: e.segment ?? null, field: e.field ?? null });
  }
  const m = parsed.message;
  const msh = m.msh();
  const refusal = refusalOf(channel, msh, m.delimiters);
  if (refusal) return fail(env, 'rejected', refusal, { messageType: msh.messageCode ? `${msh.messageCode}^${msh.triggerEvent}` : '' });
  const dkey = dedupeKey(channel.name, `${msh.sendingApplication}|${msh.sendingFacility}`, msh.controlId, env.rawSha256);
  return {
    kind: 'raw',
    record: {
      topic: channel.topics.raw,
      key: recordKey(msh, m.get('PID-3[1].1') || undefined, m.get('PID-3[1].4.1') || undefined),
      value: JSON.stringify({ ...env, channel: channel.name }),
      headers: envelopeHeaders(env, { [HEADERS.dedupe]: dkey, [HEADERS.replayId]: target.replayId }),
    },
  };
}

/** A dead letter of `<channel>.dlq`. */
export function redriveDeadLetter(letter: DeadLetter, target: RedriveTarget): Redrive {
  const d = letter.record;
  if (!d) return { kind: 'skipped', reason: `the DLQ record cannot be read (${letter.unreadable ?? 'unknown'})` };
  if (d.failure.stage === 'ingest' || (d.failure.stage === 'replay' && !d.rawRecord)) return reingest(letter, d, target);
  const previous: Previous = { ref: letter.ref, failure: d.failure };
  const env = envelopeOf(d);
  const at: RecordRef = d.rawRecord ?? letter.ref;
  // A raw record that was not an envelope travelled as the dead letter's bytes: hand those
  // bytes back as the record value, so the transform judges the same input again.
  const opaque = env.text === null && env.msh === null && env.charset.source === null;
  let value: Buffer;
  if (opaque) value = Buffer.from(env.raw, 'base64');
  else {
    const again = redecode(env, target.channel);
    value = Buffer.from(JSON.stringify(again.ok ? again.envelope : env));
  }
  return convertRaw({ key: letter.key, value }, at, target, previous);
}

