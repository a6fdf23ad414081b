/**
 * Rebuilds the duplicate memory from the tail of a raw topic: each raw record carries its
 * dedupe key in a header, so reading headers back from Kafka restores exactly what was stored.
 */
import type { Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { HEADERS } from '../records/index.js';

export interface RecoveredEntry {
  readonly key: string;
  readonly at: number;
}

/** Reads the records of the last `windowSeconds` (at most `maxEntries` per partition). */
export async function recoverDedupe(
  kafka: Kafka,
  topic: string,
  opts: { windowSeconds: number; maxEntries: number; timeoutMs?: number },
): Promise<RecoveredEntry[]> {
  const admin = kafka.admin();
  await admin.connect();
  let starts: Map<number, bigint>;
  let ends: Map<number, bigint>;
  try {
    const high = await admin.fetchTopicOffsets(topic);
    const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - opts.windowSeconds * 1000);
    ends = new Map(high.map((p) => [p.partition, BigInt(p.high)]));
    starts = new Map();
    for (const p of high) {
      const low = BigInt(p.low);
      const hi = BigInt(p.high);
      const t = byTime.find((b) => b.partition === p.partition);
      // Offset -1 means no record is newer than the window start: nothing to read.
      const fromTime = t && BigInt(t.offset) >= 0n ? BigInt(t.offset) : hi;
      let from = fromTime;
      if (hi - from > BigInt(opts.maxEntries)) from = hi - BigInt(opts.maxEntries);
      if (from < low) from = low;
      starts.set(p.partition, from);
    }
  } finally {
    await admin.disconnect();
  }
  const pending = new Set([...ends].filter(([p, end]) => (starts.get(p) ?? end) < end).map(([p]) => p));
  const out: RecoveredEntry[] = [];
  if (pending.size === 0) return out;

  const groupId = `hl7-engine-dedupe-recovery-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxBytes: 64 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} to rebuild the duplicate memory took over ${opts.timeoutMs ?? 60_000} ms`)),
        opts.timeoutMs ?? 60_000,
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition) ?? 0n;
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= end) break;
              const h = m.headers?.[HEADERS.dedupe];
              if (h) out.push({ key: h.toString(), at: Number(m.timestamp) });
            }
            if (BigInt(batch.lastOffset()) + 1n >= end) {
              pending.delete(batch.partition);
              if (pending.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          },
        })
        .catch(reject);
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const [partition, from] of starts) consumer.seek({ topic, partition, offset: from.toString() });
      });
    });
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
  }
  out.sort((a, b) => a.at - b.at);
  return out;
}
