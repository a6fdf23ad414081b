/**
 * After a restart the duplicate memory is rebuilt from the raw topic's tail: the `hl7_dedupe`
 * header of each record written within the window, at most `maxEntries` per partition (the
 * newest), oldest first. Records on the real broker, with their timestamps set on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTopics, recoverDedupe } from '../../src/kafka/index.js';
import { HEADERS } from '../../src/records/index.js';
import { uniqueChannel } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';

test('the duplicate memory comes back from the window only, newest maxEntries per partition, oldest first', async () => {
  const kafka = testKafka();
  const topic = `${uniqueChannel('dedupe-recovery')}.raw`;
  await ensureTopics(kafka, [{ topic, partitions: 2 }]);
  const now = Date.now();
  const twoHoursAgo = now - 2 * 3600_000;
  const producer = kafka.producer();
  await producer.connect();
  try {
    const rec = (key: string | null, at: number) => ({
      value: 'envelope',
      timestamp: String(at),
      headers: key === null ? {} : { [HEADERS.dedupe]: key },
    });
    await producer.send({
      topic,
      messages: [
        // partition 0: one record older than the window, then five within it
        { partition: 0, ...rec('p0-old', twoHoursAgo) },
        ...[1, 2, 3, 4, 5].map((i) => ({ partition: 0, ...rec(`p0-${i}`, now - 60_000 + i * 1000) })),
        // partition 1: a record without the header (an engine older than the header), then two
        { partition: 1, ...rec(null, now - 30_000) },
        { partition: 1, ...rec('p1-1', now - 20_000) },
        { partition: 1, ...rec('p1-2', now - 10_000) },
      ],
    });
  } finally {
    await producer.disconnect();
  }

  const entries = await recoverDedupe(kafka, topic, { windowSeconds: 3600, maxEntries: 3, timeoutMs: 30_000 });

  // Partition 0 gives its 3 newest (p0-old is outside the window and behind the cap anyway);
  // partition 1 its last 3 records, of which two carry the header.
  assert.deepEqual(entries.map((e) => e.key), ['p0-3', 'p0-4', 'p0-5', 'p1-1', 'p1-2']);
  assert.deepEqual(entries.map((e) => e.at), [now - 57_000, now - 56_000, now - 55_000, now - 20_000, now - 10_000]);
});

test('a window that holds no record recovers nothing and reads nothing', async () => {
  const kafka = testKafka();
  const topic = `${uniqueChannel('dedupe-recovery-old')}.raw`;
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value: 'envelope', timestamp: String(Date.now() - 3 * 3600_000), headers: { [HEADERS.dedupe]: 'old' } }] });
  } finally {
    await producer.disconnect();
  }
  assert.deepEqual(await recoverDedupe(kafka, topic, { windowSeconds: 60, maxEntries: 100, timeoutMs: 30_000 }), []);
});
