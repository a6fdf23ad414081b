/** Channel topics created and answering before an engine starts on them. */
import { testKafka } from './kafka.js';

function isRetriable(err: unknown): boolean {
  return err instanceof Error && (err as Error & { retriable?: boolean }).retriable === true;
}

/**
 * Creates the channel's raw, fhir and dlq topics (3 partitions, 64 MiB records) and waits until
 * every partition answers: on a busy broker a just-created topic can refuse offset requests for a
 * few seconds ("not the leader"), which would fail the engine's start.
 */
export async function topicsReady(channelName: string, timeoutMs = 30_000): Promise<void> {
  const topics = ['raw', 'fhir', 'dlq'].map((t) => `${channelName}.${t}`);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await admin.createTopics({
          topics: topics.map((topic) => ({ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }] })),
        });
        for (const t of topics) await admin.fetchTopicOffsets(t);
        return;
      } catch (err) {
        if (!isRetriable(err) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** How many records a topic holds (sum of its partitions' high watermarks; the topics start empty). */
export async function recordCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}
