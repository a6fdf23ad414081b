/** Reads one record's value from Kafka by its position: content is never kept in the index. */
import type { Kafka } from 'kafkajs';
import { readTopicRange, topicBounds, type TopicRecord } from '../kafka/index.js';
import type { RecordRef } from '../records/index.js';

export async function readRecordAt(kafka: Kafka, ref: RecordRef): Promise<TopicRecord | null> {
  const bounds = await topicBounds(kafka, ref.topic);
  const want = BigInt(ref.offset);
  const from = new Map<number, bigint>();
  const to = new Map<number, bigint>();
  // Every other partition is given an empty range, so only the one record is fetched.
  for (const [p, high] of bounds.high) {
    from.set(p, p === ref.partition ? want : high);
    to.set(p, p === ref.partition ? want + 1n : high);
  }
  let found: TopicRecord | null = null;
  await readTopicRange(kafka, ref.topic, {
    from,
    to,
    idleTimeoutMs: 15_000,
    onRecord: (r) => {
      if (r.partition === ref.partition && r.offset === ref.offset) found = r;
      return false;
    },
  });
  return found;
}
