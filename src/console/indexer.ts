/**
 * Feeds the index from Kafka: one consumer over every channel's raw, fhir and dlq topics, every
 * write-back destination's dead-letter topic and the audit topic, resuming each partition at the position the index stored with its last batch.
 * The consumer group is this process's own and commits nothing: the index file is the only
 * memory of where it was, so deleting the file means reading everything again.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { ChannelConfig } from '../channel/index.js';
import type { TopicRecord } from '../kafka/index.js';
import { ensureTopics } from '../kafka/index.js';
import { AUDIT_TOPIC } from '../records/index.js';
import { indexAudit, indexOutboundDeadLetter, indexRecord, type TopicKind } from './index-records.js';
import type { AuditTarget, IndexedAudit, IndexedRecord, IndexStore } from './index-store.js';

export interface IndexerOptions {
  readonly kafka: Kafka;
  readonly store: IndexStore;
  readonly channels: readonly ChannelConfig[];
  /** Write-back destinations: the name and dead-letter topic (`dlqTopicOf`) of each. */
  readonly destinations?: ReadonlyArray<{ readonly name: string; readonly dlqTopic: string }>;
  readonly auditTopic?: string;
  /** Partitions for channel topics the console has to create (the engine's default). */
  readonly partitions?: number;
  readonly onError?: (err: unknown) => void;
}

export class Indexer {
  private consumer: Consumer | null = null;
  private readonly groupId = `hl7-engine-console-${randomUUID()}`;
  private readonly topics = new Map<string, { kind: TopicKind | 'audit' | 'outbound-dlq'; channel: ChannelConfig | null; destination?: string }>();
  readonly auditTopic: string;

  constructor(private readonly opts: IndexerOptions) {
    this.auditTopic = opts.auditTopic ?? AUDIT_TOPIC;
    for (const c of opts.channels) {
      this.topics.set(c.topics.raw, { kind: 'raw', channel: c });
      this.topics.set(c.topics.fhir, { kind: 'fhir', channel: c });
      this.topics.set(c.topics.dlq, { kind: 'dlq', channel: c });
    }
    for (const d of opts.destinations ?? []) this.topics.set(d.dlqTopic, { kind: 'outbound-dlq', channel: null, destination: d.name });
    this.topics.set(this.auditTopic, { kind: 'audit', channel: null });
  }

  get topicNames(): string[] {
    return [...this.topics.keys()];
  }

  async start(): Promise<void> {
    const { kafka, store } = this.opts;
    // The console may start before the engine ever ran: the topics it reads must exist to subscribe.
    await ensureTopics(kafka, [
      ...this.opts.channels.flatMap((c) => [c.topics.raw, c.topics.fhir, c.topics.dlq].map((topic) => ({ topic, partitions: this.opts.partitions ?? 3 }))),
      // Three partitions, as the delivery fleet creates them.
      ...(this.opts.destinations ?? []).map((d) => ({ topic: d.dlqTopic, partitions: 3 })),
      { topic: this.auditTopic, partitions: 1 },
    ]);
    const consumer = kafka.consumer({ groupId: this.groupId, maxBytes: 64 * 1024 * 1024, maxBytesPerPartition: 16 * 1024 * 1024, allowAutoTopicCreation: false });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: this.topicNames, fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) {
        const at = store.positions(topic);
        for (const p of parts) {
          const next = at.get(p);
          if (next !== undefined) consumer.seek({ topic, partition: p, offset: next.toString() });
        }
      }
    });
    consumer.on(consumer.events.CRASH, (e) => this.opts.onError?.(e.payload.error));
    // An audit record's `channel` names the queue: a channel's, or a destination's (dlq/replay --destination).
    const dlqTopicOf = (name: string): string | undefined =>
      this.opts.channels.find((c) => c.name === name)?.topics.dlq ?? this.opts.destinations?.find((d) => d.name === name)?.dlqTopic;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const t = this.topics.get(batch.topic);
        if (!t || batch.messages.length === 0) return;
        const records: IndexedRecord[] = [];
        const audits: Array<{ audit: IndexedAudit; targets: AuditTarget[] }> = [];
        const known = store.positions(batch.topic).get(batch.partition) ?? 0n;
        let last = -1n;
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < known) continue;
          last = off;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.headers ?? {})) {
            const first = Array.isArray(v) ? v[0] : v;
            if (first !== undefined) headers[k] = first.toString();
          }
          const r: TopicRecord = { topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: Number(m.timestamp) };
          if (t.kind === 'audit') {
            const a = indexAudit(r, dlqTopicOf);
            if (a) audits.push(a);
          } else if (t.kind === 'outbound-dlq') {
            records.push(indexOutboundDeadLetter(r, t.destination!));
          } else {
            records.push(indexRecord(r, t.kind, t.channel!));
          }
        }
        if (last >= 0n) store.applyBatch(batch.topic, batch.partition, (last + 1n).toString(), records, audits);
      },
    });
  }

  /**
   * Resolves once every partition is indexed up to its end as of now; rejects after
   * `timeoutMs` naming what is behind.
   */
  async caughtUp(timeoutMs = 30_000): Promise<void> {
    const admin = this.opts.kafka.admin();
    await admin.connect();
    const ends = new Map<string, Map<number, { low: bigint; high: bigint }>>();
    try {
      for (const topic of this.topicNames) {
        const offsets = await admin.fetchTopicOffsets(topic);
        ends.set(topic, new Map(offsets.map((o) => [o.partition, { low: BigInt(o.low), high: BigInt(o.high) }])));
      }
    } finally {
      await admin.disconnect();
    }
    const behind = (): string[] => {
      const out: string[] = [];
      for (const [topic, parts] of ends) {
        const at = this.opts.store.positions(topic);
        for (const [p, { low, high }] of parts) {
          // Records gone by retention are not waited for.
          const pos = at.get(p) ?? 0n;
          const from = pos > low ? pos : low;
          if (from < high) out.push(`${topic}[${p}] at ${from} of ${high}`);
        }
      }
      return out;
    };
    const deadline = Date.now() + timeoutMs;
    for (let b = behind(); b.length > 0; b = behind()) {
      if (Date.now() > deadline) throw new Error(`the console index is still behind Kafka after ${timeoutMs} ms: ${b.join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    this.consumer = null;
    if (!c) return;
    await c.disconnect();
    const admin = this.opts.kafka.admin();
    await admin.connect();
    await admin.deleteGroups([this.groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
