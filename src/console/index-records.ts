/**
 * From a Kafka record to the index's row: the metadata a search needs, taken from headers and
 * the envelope's MSH summary, charset decision and failure section. Text, raw bytes, Bundle
 * resources and failure details are not copied.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { ChannelConfig } from '../channel/index.js';
import { causeOf } from '../dlq/index.js';
import type { TopicRecord } from '../kafka/index.js';
import { ackCodeFor, parseMessage } from '../hl7/index.js';
import { decisionTargets, HEADERS, isAuditRecord, isDeadLetter, isOutboundDeadLetter, isRawEnvelope, type AuditRecord, type RawEnvelope, type RecordRef } from '../records/index.js';
import type { AuditTarget, IndexedAudit, IndexedRecord } from './index-store.js';

export type TopicKind = 'raw' | 'fhir' | 'dlq';

function parse(r: TopicRecord): unknown {
  if (!r.value) return null;
  try {
    return JSON.parse(r.value.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function sourceOf(r: TopicRecord): RecordRef | null {
  const t = r.headers[HEADERS.rawTopic];
  const p = r.headers[HEADERS.rawPartition];
  const o = r.headers[HEADERS.rawOffset];
  return t && p !== undefined && o !== undefined && /^\d+$/.test(p) && /^\d+$/.test(o) ? { topic: t, partition: Number(p), offset: o } : null;
}

/** The dead letter an operator's edit-and-resubmit stored this raw record in place of. */
function resubmitOf(r: TopicRecord): RecordRef | null {
  const t = r.headers[HEADERS.resubmitOfTopic];
  const p = r.headers[HEADERS.resubmitOfPartition];
  const o = r.headers[HEADERS.resubmitOfOffset];
  return t && p !== undefined && o !== undefined && /^\d+$/.test(p) && /^\d+$/.test(o) ? { topic: t, partition: Number(p), offset: o } : null;
}

function envelopeFields(env: RawEnvelope): Partial<IndexedRecord> {
  const kinds = [...new Set(env.charset.repairs.map((x) => x.kind))].sort();
  return {
    envelopeId: env.id,
    controlId: env.msh?.controlId || null,
    messageCode: env.msh?.messageCode || null,
    triggerEvent: env.msh?.triggerEvent || null,
    sendingApplication: env.msh?.sendingApplication || null,
    sendingFacility: env.msh?.sendingFacility || null,
    receivedAt: env.receivedAt,
    rawSha256: env.rawSha256,
    rawLength: env.rawLength,
    charset: env.charset.charset,
    charsetSource: env.charset.source,
    repairs: kinds.length > 0 ? `,${kinds.join(',')},` : null,
  };
}

const EMPTY: Omit<IndexedRecord, 'topic' | 'partition' | 'offset' | 'kind' | 'channel' | 'at'> = {
  envelopeId: null, controlId: null, messageCode: null, triggerEvent: null, sendingApplication: null, sendingFacility: null, receivedAt: null,
  rawSha256: null, rawLength: null, charset: null, charsetSource: null, repairs: null, patientKey: null, dedupe: null, ackCode: null,
  category: null, stage: null, cause: null, failureMessage: null, attempts: null, firstAt: null, source: null, previous: null, replayId: null,
  issueCount: null, resources: null,
};

/** The row for a record of a channel's raw, fhir or dlq topic. */
export function indexRecord(r: TopicRecord, kind: TopicKind, channel: ChannelConfig): IndexedRecord {
  const key = r.key?.toString() ?? '';
  const base: IndexedRecord = {
    ...EMPTY,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    kind,
    channel: channel.name,
    at: r.headers['ce_time'] ?? new Date(r.timestamp).toISOString(),
    patientKey: key.startsWith('pt:') ? key : null,
    controlId: r.headers[HEADERS.controlId] ?? null,
    replayId: r.headers[HEADERS.replayId] ?? null,
  };
  const value = parse(r);
  if (kind === 'raw') {
    if (!isRawEnvelope(value)) return base;
    // The ACK a stored message got: accepted, in the channel's ACK mode for this sender.
    // A resubmitted message was answered by nobody: the sender got its ACK for the original.
    const previous = resubmitOf(r);
    return {
      ...base,
      ...envelopeFields(value),
      dedupe: r.headers[HEADERS.dedupe] ?? null,
      previous,
      ackCode: previous ? null : ackCodeFor('accepted', channel.ack.mode, value.msh),
    };
  }
  if (kind === 'fhir') {
    const b = value as Bundle | null;
    const names = (b?.entry ?? []).map((e, i) => `${e.resource?.resourceType ?? 'Unknown'}/${e.resource?.id ?? (e.fullUrl?.startsWith('urn:uuid:') ? e.fullUrl.slice(9) : `#${i}`)}`);
    const type = r.headers[HEADERS.messageType] ?? '';
    const [code, trigger] = type.split('^');
    const count = Number(r.headers[HEADERS.issueCount]);
    return { ...base, source: sourceOf(r), messageCode: code || null, triggerEvent: trigger || null, issueCount: Number.isFinite(count) ? count : null, resources: names.join(' ') };
  }
  if (!isDeadLetter(value)) return { ...base, category: 'unreadable', stage: 'unknown', cause: 'the DLQ record cannot be read', failureMessage: 'the DLQ record cannot be read' };
  const f = value.failure;
  return {
    ...base,
    ...envelopeFields(value),
    category: f.category,
    stage: f.stage,
    failureMessage: f.message,
    cause: causeOf(f.message),
    attempts: f.attempts,
    firstAt: f.firstAt,
    at: f.lastAt,
    source: value.rawRecord ?? sourceOf(r),
    previous: value.replay?.previous ?? null,
    replayId: value.replay?.id ?? base.replayId,
    // A message refused at ingest was answered AR (CR in enhanced mode); a transform failure
    // comes after the message was stored and answered AA.
    ackCode: f.stage === 'ingest' ? ackCodeFor('rejected', channel.ack.mode, value.msh) : null,
  };
}

/**
 * The row for a record of a write-back destination's dead-letter topic (`<destination>.dlq`),
 * summarised as `dlq --destination` summarises it: the receiver's refusal in our words, the MSH
 * of the message we built (type, control id, sender), the source record it came from. Neither
 * the message nor the receiver's ERR text (which may quote content) is copied.
 */
export function indexOutboundDeadLetter(r: TopicRecord, destination: string): IndexedRecord {
  const base: IndexedRecord = {
    ...EMPTY,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    kind: 'outbound-dlq',
    channel: destination,
    at: r.headers['ce_time'] ?? new Date(r.timestamp).toISOString(),
    stage: 'delivery',
  };
  const value = parse(r);
  if (!isOutboundDeadLetter(value)) return { ...base, category: 'unreadable', cause: 'the DLQ record cannot be read', failureMessage: 'the DLQ record cannot be read' };
  const f = value.failure;
  const parsed = value.message === null ? null : parseMessage(value.message);
  const msh = parsed?.ok ? parsed.message.msh() : null;
  const at = f.at || base.at;
  return {
    ...base,
    at,
    firstAt: at,
    controlId: msh?.controlId || value.controlId || null,
    messageCode: msh?.messageCode || null,
    triggerEvent: msh?.triggerEvent || null,
    sendingApplication: msh?.sendingApplication || null,
    sendingFacility: msh?.sendingFacility || null,
    ackCode: f.ackCode,
    category: f.category,
    failureMessage: f.message,
    cause: causeOf(f.message),
    attempts: f.attempts,
    source: { topic: value.source.topic, partition: value.source.partition, offset: value.source.offset },
    previous: value.replay?.previous ?? null,
    replayId: value.replay?.id ?? null,
  };
}

/** The audit row and the records it is about, or null for a record that is not an audit record. */
export function indexAudit(r: TopicRecord, dlqTopicOf: (channel: string) => string | undefined): { audit: IndexedAudit; targets: AuditTarget[] } | null {
  const value = parse(r);
  if (!isAuditRecord(value)) return null;
  const a: AuditRecord = value;
  const targets: AuditTarget[] = [];
  for (const t of a.decision ? decisionTargets(a.decision) : []) targets.push({ topic: t.topic, partition: t.partition, from: t.offset, to: t.offset });
  for (const s of a.shown ?? []) targets.push({ topic: s.topic, partition: s.partition, from: s.offset, to: s.offset });
  const dlq = dlqTopicOf(a.channel);
  if (a.kind === 'replay-finished' && a.selection?.['source'] === 'dlq' && dlq) {
    for (const [p, from, to] of a.resolved ?? []) targets.push({ topic: dlq, partition: p, from, to });
  }
  return {
    audit: { offset: r.offset, id: a.id, kind: a.kind, operator: a.operator, at: a.at, channel: a.channel, reason: a.reason, body: JSON.stringify(a) },
    targets,
  };
}

