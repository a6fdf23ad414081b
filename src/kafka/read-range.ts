/**
 * Reads a slice of a topic once, in offset order within each partition, and stops at the end
 * offsets captured when the read began: records written while an operator inspects or replays
 * (including the replay's own dead letters) are never read by that same run, so a read always
 * ends. A throwaway consumer group does the fetching; it commits nothing and is deleted after.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface TopicRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Kafka record timestamp (ms). */
  readonly timestamp: number;
}

export type Offsets = ReadonlyMap<number, bigint>;

export interface TopicBounds {
  /** First offset still held per partition. */
  readonly low: Map<number, bigint>;
  /** Offset the next record will get per partition (the high watermark). */
  readonly high: Map<number, bigint>;
}

export async function topicBounds(kafka: Kafka, topic: string): Promise<TopicBounds> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return {
      low: new Map(offsets.map((p) => [p.partition, BigInt(p.low)])),
      high: new Map(offsets.map((p) => [p.partition, BigInt(p.high)])),
    };
  } finally {
    await admin.disconnect();
  }
}

export interface ReadRangeOptions {
  /** Where to start per partition (default: the low offset). */
  readonly from?: Offsets;
  /** Where to stop per partition, exclusive (default: the high watermark now). */
  readonly to?: Offsets;
  /** Fails the read when no record arrives for this long while some are still due. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Called in offset order per partition; return false to stop the whole read after this record. */
  readonly onRecord: (record: TopicRecord) => Promise<boolean | void> | boolean | void;
}

function toRecord(topic: string, partition: number, m: KafkaMessage): TopicRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) headers[k] = first.toString();
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers, timestamp: Number(m.timestamp) };
}

/** Reads [from, to) of every partition; resolves with the ends it used. */
export async function readTopicRange(kafka: Kafka, topic: string, opts: ReadRangeOptions): Promise<{ ends: Map<number, bigint>; stopped: boolean }> {
  const bounds = await topicBounds(kafka, topic);
  const ends = new Map<number, bigint>();
  const starts = new Map<number, bigint>();
  for (const [p, high] of bounds.high) {
    const low = bounds.low.get(p) ?? 0n;
    const end = opts.to?.get(p) ?? high;
    let start = opts.from?.get(p) ?? low;
    if (start < low) start = low;
    ends.set(p, end < high ? end : high);
    starts.set(p, start);
  }
  const pending = new Set([...ends].filter(([p, end]) => (starts.get(p) ?? end) < end).map(([p]) => p));
  if (pending.size === 0) return { ends, stopped: false };

  const groupId = `hl7-engine-read-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxBytes: 64 * 1024 * 1024, maxBytesPerPartition: 16 * 1024 * 1024, allowAutoTopicCreation: false });
  let stopped = false;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const idleMs = opts.idleTimeoutMs ?? 30_000;
      let timer = setTimeout(onIdle, idleMs);
      function onIdle(): void {
        reject(new Error(`reading ${topic}: no record arrived for ${idleMs} ms while ${pending.size} partition(s) still had records before the captured end`));
      }
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      consumer
        .run({
          autoCommit: false,
          partitionsConsumedConcurrently: 1,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, isRunning, isStale, heartbeat }) => {
            if (stopped || !pending.has(batch.partition)) return;
            clearTimeout(timer);
            timer = setTimeout(onIdle, idleMs);
            const end = ends.get(batch.partition) ?? 0n;
            const start = starts.get(batch.partition) ?? 0n;
            for (const m of batch.messages) {
              if (!isRunning() || isStale() || stopped) return;
              const off = BigInt(m.offset);
              if (off < start) continue;
              if (off >= end) break;
              const go = await opts.onRecord(toRecord(topic, batch.partition, m));
              if (go === false) {
                stopped = true;
                finish();
                return;
              }
            }
            await heartbeat();
            const last = BigInt(batch.lastOffset());
            if (last + 1n >= end || batch.messages.some((m) => BigInt(m.offset) >= end - 1n)) {
              pending.delete(batch.partition);
              if (pending.size === 0) finish();
            }
          },
        })
        .catch(reject);
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const p of pending) consumer.seek({ topic, partition: p, offset: (starts.get(p) ?? 0n).toString() });
      });
    });
  } finally {
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
  return { ends, stopped };
}
