/** One kafkajs client per process, logging through our logger (kafkajs never sees message content). */
import kafkajs, { type Kafka, type logCreator } from 'kafkajs';
import type { Logger } from '../ops/logger.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export function brokersFromEnv(value = process.env['KAFKA_BROKERS']): string[] | null {
  if (!value || !value.trim()) return null;
  return value.split(',').map((b) => b.trim()).filter(Boolean);
}

export function createKafka(brokers: string[], logger: Logger, clientId = 'hl7-engine'): Kafka {
  const toPino: logCreator = () => ({ level, log }) => {
    const { message, ...extra } = log;
    const fields = { component: 'kafkajs', broker: extra['broker'], error: extra['error'] };
    if (level === logLevel.ERROR) logger.error(fields, message);
    else if (level === logLevel.WARN) logger.warn(fields, message);
    else logger.debug(fields, message);
  };
  return new KafkaClient({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    logCreator: toPino,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 3000 },
  });
}

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
}

/** Creates the channel topics if missing; raw and DLQ topics accept frames up to 64 MiB. */
export async function ensureTopics(kafka: Kafka, topics: readonly TopicSpec[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      const deadline = Date.now() + 30_000;
      // A busy broker can answer the leader check that follows the creation with "does not host
      // this topic-partition" (retriable) although the topic was created: try again with the
      // topics still missing, until none is.
      for (let toCreate = missing; toCreate.length > 0; ) {
        try {
          await admin.createTopics({
            waitForLeaders: true,
            topics: toCreate.map((t) => ({
              topic: t.topic,
              numPartitions: t.partitions,
              configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }],
            })),
          });
          break;
        } catch (err) {
          if (!isRetriable(err) || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
          const now = new Set(await admin.listTopics());
          toCreate = toCreate.filter((t) => !now.has(t.topic));
        }
      }
      // A topic just created can still answer "not the leader" or "does not host this
      // partition" for a moment after its leaders are elected: wait until every partition of
      // every new topic serves offsets, so the start that follows never trips on it.
      for (const t of missing) {
        for (;;) {
          try {
            const offsets = await admin.fetchTopicOffsets(t.topic);
            if (offsets.length >= t.partitions) break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
          }
          if (Date.now() > deadline) throw new Error(`topic ${t.topic} did not become available within 30 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** kafkajs marks errors a retry can cure (leader elections, topics still being set up). */
function isRetriable(err: unknown): boolean {
  return err instanceof Error && (err as Error & { retriable?: boolean }).retriable === true;
}
