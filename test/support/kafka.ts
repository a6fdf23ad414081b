/** Test helpers that talk to the real broker the suite runs against ($KAFKA_BROKERS). */
import kafkajs, { type Kafka, type KafkaMessage } from 'kafkajs';
import { randomUUID } from 'node:crypto';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export function brokers(): string[] {
  const b = process.env['KAFKA_BROKERS'];
  if (!b) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts a local Kafka');
  return b.split(',');
}

export function testKafka(list = brokers()): Kafka {
  return new KafkaClient({ clientId: `test-${randomUUID().slice(0, 8)}`, brokers: list, logLevel: logLevel.NOTHING });
}

export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

function toRecord(partition: number, m: KafkaMessage): ReadRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
  return { partition, offset: m.offset, key: m.key ? m.key.toString() : null, value: m.value ?? Buffer.alloc(0), headers };
}

/** Reads a topic from the beginning until `until` says enough, or the time runs out. */
export async function readTopic(
  topic: string,
  opts: { until: (records: ReadRecord[]) => boolean; timeoutMs?: number; list?: string[] },
): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  // Nothing to wait for: no consumer. Starting one only to stop it at once races kafkajs' run()
  // against disconnect(), and a consumer that crashes in that race restarts itself and stays in
  // its group, keeping the test process alive after its last test.
  if (opts.until(records)) return records;
  const kafka = testKafka(opts.list);
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, maxBytes: 128 * 1024 * 1024, maxBytesPerPartition: 64 * 1024 * 1024 });
  let started: Promise<void> | undefined;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.timeoutMs ?? 20_000);
      started = consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          records.push(toRecord(partition, message));
          if (opts.until(records)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    // run() resolves once the consumer has joined (or crashed); a timeout that fired while it was
    // still joining must not disconnect under it (same race as above). Bounded all the same.
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([started?.catch(() => undefined), new Promise((r) => (bound = setTimeout(r, 30_000)))]);
    clearTimeout(bound);
    await consumer.disconnect();
  }
  return records;
}
