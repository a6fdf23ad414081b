/**
 * The audit trail on Kafka: writing and reading audit records (their shape is in src/records)
 * on the engine-wide `hl7-engine.audit` topic, which has a single partition so the trail reads
 * in the order things happened.
 */
import type { Kafka } from 'kafkajs';
import { ensureTopics } from '../kafka/client.js';
import { AUDIT_TOPIC, auditHeaders, isAuditRecord, type AuditRecord } from '../records/index.js';
import { readTopicRange } from '../kafka/index.js';


export async function ensureAuditTopic(kafka: Kafka, topic = AUDIT_TOPIC): Promise<void> {
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
}

/**
 * Writes one audit record and waits for acks=all. Whoever calls this must not go on (show
 * content, start a replay) when it throws: an unaudited decision is what the trail prevents.
 */
export async function writeAudit(kafka: Kafka, record: AuditRecord, topic = AUDIT_TOPIC): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: [
        {
          key: record.channel,
          value: JSON.stringify(record),
          headers: auditHeaders(record),
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}

/** Every audit record (of one channel, when given) up to the end captured now. */
export async function readAudit(kafka: Kafka, opts: { channel?: string; topic?: string } = {}): Promise<AuditRecord[]> {
  const topic = opts.topic ?? AUDIT_TOPIC;
  await ensureAuditTopic(kafka, topic);
  const out: AuditRecord[] = [];
  await readTopicRange(kafka, topic, {
    onRecord: (r) => {
      if (!r.value) return;
      try {
        const parsed: unknown = JSON.parse(r.value.toString('utf8'));
        if (isAuditRecord(parsed) && (opts.channel === undefined || parsed.channel === opts.channel)) out.push(parsed);
      } catch {
        // Not ours: another tool wrote to the topic. The trail is what we can read.
      }
    },
  });
  return out;
}
