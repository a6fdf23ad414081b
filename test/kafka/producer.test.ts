/**
 * The group-commit producer on the real broker: what lands (key, value bytes, headers, the
 * partition Java's partitioner picks, the offset told to the caller) and how a record the broker
 * refuses is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MultipleErrors, NetworkError, ProtocolError } from '@platformatic/kafka';
import { classifyKafkaError, kafkaErrorCode } from '../../src/kafka/retry.js';
import { ensureTopics, GroupCommitProducer, partitionForKey } from '../../src/kafka/index.js';
import { uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';

test('records land byte for byte with their key and headers, on the partition of Java\'s partitioner, at the offsets publish() told', { timeout: 60_000 }, async () => {
  const kafka = testKafka();
  const topic = `${uniqueChannel('produce')}.raw`;
  await ensureTopics(kafka, [{ topic, partitions: 3 }]);
  const producer = new GroupCommitProducer(kafka);
  await producer.connect();
  await producer.learnTopics([topic]);
  // Latin-1 bytes that are not valid UTF-8: the value must not pass through a string.
  const value = Buffer.from('MSH|^~\\&|S\xe9NDER|\xff\xfe\r', 'latin1');
  const keys = ['a3f1c2d4e5b60718293a4b5c6d7e8f9012', 'k', '21', 'foobar', 'abc', 'lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'];
  try {
    const told = await Promise.all(
      keys.map((key, i) => producer.publish({ topic, key, value, headers: { 'hl7-engine-channel': 'produce', seq: String(i) } }, 20_000)),
    );
    const stored = await readTopic(topic, { until: (rs) => rs.length >= keys.length, timeoutMs: 20_000 });
    assert.equal(stored.length, keys.length);
    for (const [i, key] of keys.entries()) {
      const r = stored.find((s) => s.key === key);
      assert.ok(r, `record with key ${key} stored`);
      assert.equal(r.partition, partitionForKey(key, 3), `key ${key} on the partition Java's partitioner picks`);
      assert.deepEqual(r.value, value, 'value bytes unchanged');
      assert.deepEqual(r.headers, { 'hl7-engine-channel': 'produce', seq: String(i) });
      assert.deepEqual(told[i], { topic, partition: r.partition, offset: r.offset }, 'publish() told where it was stored');
    }
  } finally {
    await producer.disconnect();
  }
});

test('a record larger than the topic accepts is refused by the broker, classified record-rejected, and the next record is stored', { timeout: 60_000 }, async () => {
  const kafka = testKafka();
  const topic = `${uniqueChannel('toolarge')}.raw`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '2048' }] }] });
  } finally {
    await admin.disconnect();
  }
  const producer = new GroupCommitProducer(kafka);
  await producer.connect();
  await producer.learnTopics([topic]);
  try {
    let notStored = 0;
    const err: unknown = await producer
      .publish({ topic, key: 'big', value: Buffer.alloc(8192, 0x41), headers: {} }, 30_000, undefined, () => notStored++)
      .then(() => assert.fail('an 8 KiB record was accepted by a topic of max.message.bytes 2048'), (e: unknown) => e);
    assert.equal(classifyKafkaError(err), 'record-rejected', `classified from ${String(err)}`);
    assert.equal(kafkaErrorCode(err), 'MESSAGE_TOO_LARGE');
    assert.equal(notStored, 1, 'onNotStored ran once');
    const ok = await producer.publish({ topic, key: 'small', value: Buffer.from('fits'), headers: {} }, 30_000);
    assert.equal(ok.offset, '0', 'the next record is stored, first in the partition');
  } finally {
    await producer.disconnect();
  }
});

test("@platformatic/kafka's own wrapping of a refused connection is transient; of a broker error code, judged by that code", () => {
  const refused = new MultipleErrors('Producing messages failed.', [
    new MultipleErrors('produce failed 6 times.', [new NetworkError('Connection error', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) })]),
  ]);
  assert.equal(classifyKafkaError(refused), 'transient');
  assert.equal(kafkaErrorCode(refused), 'Error ECONNREFUSED');
  const notLeader = new MultipleErrors('Producing messages failed.', [new ProtocolError('NOT_LEADER_OR_FOLLOWER')]);
  assert.equal(classifyKafkaError(notLeader), 'transient');
  assert.equal(kafkaErrorCode(notLeader), 'NOT_LEADER_OR_FOLLOWER');
  const corrupt = new MultipleErrors('Producing messages failed.', [new ProtocolError('CORRUPT_MESSAGE')]);
  assert.equal(classifyKafkaError(corrupt), 'record-rejected');
});
