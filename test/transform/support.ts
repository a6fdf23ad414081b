/**
 * Helpers for transform tests: a channel with its own topics on the real broker, raw records
 * written the way ingest writes them, a fake (deterministic) converter, and readers for the
 * consumer group's committed offsets.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import type { Kafka, Producer } from 'kafkajs';
import { loadChannelFile, type ChannelConfig } from '../../src/channel/index.js';
import { parseMessage, type Hl7Message } from '../../src/hl7/index.js';
import { ENVELOPE_VERSION, envelopeHeaders, recordKey, sha256Hex, type RawEnvelope } from '../../src/records/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import type { ConversionIssue } from '../../src/mapping/types.js';
import { createLogger, EngineMetrics, type Logger } from '../../src/ops/index.js';
import type { ConversionResult } from '../../src/mapping/index.js';
import { testKafka } from '../support/kafka.js';
import { uniqueChannel } from '../support/engine.js';

export const PARTITIONS = 3;

/** A channel (loaded through the real loader) whose three topics exist with 3 partitions. */
export async function channelWithTopics(prefix: string, kafka: Kafka): Promise<ChannelConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-engine-transform-'));
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, `name: ${uniqueChannel(prefix)}\nlistener:\n  port: 2575\n`);
  const channel = loadChannelFile(file);
  await ensureTopics(
    kafka,
    [channel.topics.raw, channel.topics.fhir, channel.topics.dlq].map((topic) => ({ topic, partitions: PARTITIONS })),
  );
  return channel;
}

/** Segments joined with CR, as on the wire. */
export function hl7(...segments: string[]): string {
  return segments.join('\r') + '\r';
}

/** An ADT^A01 for one patient (PID-3.1 = mrn), with a control id of its own. */
export function adt(mrn: string, controlId: string, extraPid8 = 'F'): string {
  return hl7(
    `MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
    `PID|1||${mrn}^^^GENHOSP^MR||DOE^JANE||19800215|${extraPid8}`,
  );
}

/** The raw envelope ingest would have stored for this text (ids deterministic per control id). */
export function envelopeFor(text: string, channel: string): RawEnvelope {
  const parsed = parseMessage(text);
  const bytes = Buffer.from(text, 'utf8');
  return {
    v: ENVELOPE_VERSION,
    id: `env-${sha256Hex(text).slice(0, 16)}`,
    channel,
    listener: '127.0.0.1:2575',
    remoteAddress: '127.0.0.1',
    receivedAt: '2026-11-21T13:30:00.000Z',
    raw: bytes.toString('base64'),
    rawSha256: sha256Hex(bytes),
    rawLength: bytes.length,
    text,
    charset: { source: 'utf8-valid', charset: 'utf-8', declared: '', repairs: [] },
    msh: parsed.ok ? parsed.message.msh() : null,
  };
}

export interface RawToWrite {
  readonly text?: string;
  /** Written as is instead of an envelope (for unreadable raw records). */
  readonly value?: Buffer;
  /** Default: the key ingest computes from MSH and PID-3. */
  readonly key?: string;
}

/** The key ingest gives a message (patient key when PID-3 is readable). */
export function ingestKey(text: string): string {
  const p = parseMessage(text);
  if (!p.ok) return recordKey(null, undefined, undefined);
  const m = p.message;
  return recordKey(m.msh(), m.get('PID-3[1].1') || undefined, m.get('PID-3[1].4.1') || undefined);
}

/** Writes raw records in order through one producer; returns each one's key. */
export async function writeRaw(kafka: Kafka, channel: ChannelConfig, records: readonly RawToWrite[]): Promise<string[]> {
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const keys: string[] = [];
  try {
    for (const r of records) {
      const key = r.key ?? (r.text !== undefined ? ingestKey(r.text) : 'opaque');
      keys.push(key);
      if (r.value) {
        await producer.send({ topic: channel.topics.raw, acks: -1, messages: [{ key, value: r.value }] });
        continue;
      }
      const env = envelopeFor(r.text ?? '', channel.name);
      await producer.send({ topic: channel.topics.raw, acks: -1, messages: [{ key, value: JSON.stringify(env), headers: envelopeHeaders(env) }] });
    }
  } finally {
    await producer.disconnect();
  }
  return keys;
}

/** Offsets the group committed on the raw topic, by partition ('-1' = none yet). */
export async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((res[0]?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

/** End offsets of a topic, by partition (the offset the next record will get). */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const res = await admin.fetchTopicOffsets(topic);
    return new Map(res.map((p) => [p.partition, p.high]));
  } finally {
    await admin.disconnect();
  }
}

/** Polls until `check` is true or the time runs out; returns whether it became true. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 250): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}

export function quietLogger(): { logger: Logger; logs: () => string } {
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      captured += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination: sink }), logs: () => captured };
}

export function freshMetrics(): EngineMetrics {
  return new EngineMetrics({ defaultMetrics: false });
}

export { testKafka };

function uuidLike(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * A stand-in for the mapping set, deterministic like the real one. By MSH-9.1:
 *   ADT → a Bundle with one Patient (PID-8 "X" adds an unknown-code issue for hl7-0001)
 *   ORU → no Bundle and a missing-required error (a mapping failure)
 *   ORM → throws (a converter bug)
 *   MFN → no Bundle and a validation error
 *   anything else → unsupported
 */
export function fakeConverter(message: Hl7Message): ConversionResult {
  const type = message.get('MSH-9.1');
  const issues: ConversionIssue[] = [];
  switch (type) {
    case 'ADT': {
      const mrn = message.get('PID-3[1].1') ?? '';
      if (message.get('PID-8') === 'X') {
        issues.push({ severity: 'warning', code: 'unknown-code', message: 'code not in table hl7-0001; original coding kept', location: 'PID-8', table: 'hl7-0001' });
      }
      const id = uuidLike(`Patient|GENHOSP|${mrn}`);
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: `urn:uuid:${id}`,
            resource: { resourceType: 'Patient', id, identifier: [{ system: 'urn:genhosp:mrn', value: mrn }] },
            request: { method: 'PUT', url: `Patient?identifier=urn:genhosp:mrn|${mrn}` },
          },
          {
            resource: { resourceType: 'Basic', code: { text: message.get('MSH-10') ?? '' } },
            request: { method: 'POST', url: 'Basic' },
          },
        ],
      };
      return { bundle, issues, unsupported: false };
    }
    case 'ORU':
      return { bundle: null, issues: [{ severity: 'error', code: 'missing-required', message: 'OBR-4 is required for a DiagnosticReport', location: 'OBR-4' }], unsupported: false };
    case 'ORM':
      throw new TypeError('fake converter bug');
    case 'MFN':
      return { bundle: null, issues: [{ severity: 'error', code: 'validation', message: 'Bundle.entry[0].resource: Patient.gender has an invalid code' }], unsupported: false };
    default:
      return { bundle: null, issues: [{ severity: 'error', code: 'unsupported-message', message: 'no mapping for this message type' }], unsupported: true };
  }
}
