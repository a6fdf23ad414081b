/**
 * The transform fetches raw records in small slices (1 MiB per partition) so that decoding a
 * fetch never holds the event loop that answers MLLP for long. A raw record larger than that
 * slice must still be converted: Kafka returns the first batch of a partition whole, whatever
 * the fetch limit.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import type { ChannelConfig } from '../../src/channel/index.js';
import { GroupCommitProducer } from '../../src/kafka/index.js';
import { TransformWorker } from '../../src/transform/index.js';
import { readTopic, type ReadRecord } from '../support/kafka.js';
import { adt, channelWithTopics, fakeConverter, freshMetrics, hl7, quietLogger, testKafka, writeRaw } from './support.js';

// An ADT^A01 carrying a 3 MiB note: three times the transform's fetch slice per partition.
const BIG_NOTE = 'x'.repeat(3 * 1024 * 1024);
const BIG = hl7(
  'MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|BIG1|P|2.5.1',
  'PID|1||MRNBIG^^^GENHOSP^MR||DOE^JANE||19800215|F',
  `NTE|1||${BIG_NOTE}`,
);
const AFTER = adt('MRNBIG', 'AFTER1');

let kafka: Kafka;
let channel: ChannelConfig;
let producer: GroupCommitProducer;
let worker: TransformWorker;
let fhir: ReadRecord[];

before(async () => {
  kafka = testKafka();
  channel = await channelWithTopics('big', kafka);
  // Same patient: one key, one partition, so the small record waits behind the big one.
  await writeRaw(kafka, channel, [{ text: BIG }, { text: AFTER }]);
  producer = new GroupCommitProducer(kafka);
  await producer.connect();
  await producer.learnTopics([channel.topics.fhir, channel.topics.dlq]);
  worker = new TransformWorker({ channel, kafka, publisher: producer, convert: fakeConverter, logger: quietLogger().logger, metrics: freshMetrics() });
  await worker.start();
  fhir = await readTopic(channel.topics.fhir, { until: (rs) => rs.length >= 2, timeoutMs: 60_000 });
});

after(async () => {
  await worker.stop();
  await producer.disconnect();
});

test('a raw record three times the fetch slice is converted, and the record behind it too, in offset order', () => {
  assert.deepEqual(
    fhir.map((r) => r.headers['hl7_control_id']),
    ['BIG1', 'AFTER1'],
  );
});
