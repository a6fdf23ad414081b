/**
 * A transform worker in a process of its own that kills itself (SIGKILL, no cleanup) right after
 * Kafka acknowledged its Nth output record: the crash the at-least-once test recovers from.
 * env: KAFKA_BROKERS, CHANNEL_FILE, CRASH_AFTER.
 */
import { loadChannelFile } from '../../src/channel/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import { TransformWorker, type RecordPublisher } from '../../src/transform/index.js';
import { fakeConverter, freshMetrics, quietLogger, testKafka } from './support.js';

const channel = loadChannelFile(process.env['CHANNEL_FILE'] ?? '');
const crashAfter = Number(process.env['CRASH_AFTER']);
const kafka = testKafka();
const producer = new GroupCommitProducer(kafka);
await producer.connect();
await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
let acked = 0;
const publisher: RecordPublisher = {
  publish: async (record, timeoutMs) => {
    const at = await producer.publish(record, timeoutMs);
    if (++acked === crashAfter) process.kill(process.pid, 'SIGKILL');
    return at;
  },
};
const worker = new TransformWorker({ channel, kafka, publisher, convert: fakeConverter, logger: quietLogger().logger, metrics: freshMetrics(), sessionTimeoutMs: 6000 });
await worker.start();
