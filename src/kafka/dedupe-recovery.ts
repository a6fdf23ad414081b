/**
 * Rebuilds the duplicate memory from the tail of a raw topic: each raw record carries its
 * dedupe key in a header, so reading headers back from Kafka restores exactly what was stored.
 */
import type { Kafka } from 'kafkajs';
import { HEADERS } from '../records/index.js';
import { readTopicRange } from './read-range.js';

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
  const out: RecoveredEntry[] = [];
  await readTopicRange(kafka, topic, {
    from: starts,
    to: ends,
    idleTimeoutMs: opts.timeoutMs ?? 60_000,
    onRecord: (r) => {
      const h = r.headers[HEADERS.dedupe];
      if (h) out.push({ key: h, at: r.timestamp });
    },
  });
  out.sort((a, b) => a.at - b.at);
  return out;
}
