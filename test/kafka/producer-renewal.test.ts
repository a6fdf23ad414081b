/**
 * After a produce request fails, the group-commit producer sends through a new client producer
 * (a new producer id, sequences from 0). Kafka's idempotence check compares sequence ranges only:
 * a producer whose failed request the broker had in fact appended is behind the broker, and its
 * next request with the same range would be acknowledged without being written. The broker-outage
 * test met that once (AA'd messages missing from the raw topic after a restart); here, on the real
 * broker, one request is made to fail on purpose and the test checks which producer sends next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer } from '@platformatic/kafka';
import { ensureTopics, GroupCommitProducer, type ProduceClient, type ProduceClientFactory } from '../../src/kafka/index.js';
import { uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';

interface Made {
  /** The producer id each send went out under. */
  readonly sentAs: Array<bigint | undefined>;
  sends: number;
  closed: boolean;
}

/** Real @platformatic/kafka producers; every one made is recorded, and the next send can be failed. */
function watchedFactory(): { createClient: ProduceClientFactory; made: Made[]; failNextSend(): void } {
  const made: Made[] = [];
  let failNext = false;
  const createClient: ProduceClientFactory = (options) => {
    const real = new Producer(options);
    const entry: Made = { sentAs: [], sends: 0, closed: false };
    made.push(entry);
    const client: ProduceClient = {
      initIdempotentProducer: (o) => real.initIdempotentProducer(o),
      send: async (o) => {
        entry.sends++;
        entry.sentAs.push(real.producerId);
        if (failNext) {
          failNext = false;
          throw new Error('the request died in flight (injected by the test)');
        }
        return real.send(o);
      },
      close: async (force) => {
        entry.closed = true;
        return real.close(force);
      },
    };
    return client;
  };
  return { createClient, made, failNextSend: () => (failNext = true) };
}

test('a failed produce request retires its producer: the next record goes through a new one and is stored', { timeout: 60_000 }, async () => {
  const kafka = testKafka();
  const topic = `${uniqueChannel('renew')}.raw`;
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
  const w = watchedFactory();
  const producer = new GroupCommitProducer(kafka, { createClient: w.createClient });
  await producer.connect();
  await producer.learnTopics([topic]);
  const record = (value: string) => ({ topic, key: 'k', value, headers: {} });
  try {
    const first = await producer.publish(record('first'), 10_000);
    assert.equal(first.offset, '0');
    assert.equal(w.made.length, 1);

    w.failNextSend();
    await assert.rejects(producer.publish(record('lost'), 10_000), /died in flight/);

    const third = await producer.publish(record('third'), 10_000);
    assert.equal(w.made.length, 2, 'a new client producer was made after the failure');
    assert.deepEqual(
      w.made.map((m) => ({ sends: m.sends, closed: m.closed })),
      [
        { sends: 2, closed: true },
        { sends: 1, closed: false },
      ],
      'the failed producer is let go; the next request went through the new one',
    );
    const [oldId, newId] = w.made.map((m) => m.sentAs[0]);
    assert.equal(typeof oldId, 'bigint', 'connect() took a producer id before the first send');
    assert.equal(typeof newId, 'bigint');
    assert.notEqual(newId, oldId, 'the new producer sends under its own producer id');
    assert.equal(third.offset, '1', 'stored right after the first record');

    const stored = await readTopic(topic, { until: (rs) => rs.length >= 2, timeoutMs: 20_000 });
    assert.deepEqual(stored.map((r) => r.value.toString()), ['first', 'third']);

    await producer.publish(record('fourth'), 10_000);
    assert.equal(w.made.length, 2, 'a request that succeeds keeps its producer');
  } finally {
    await producer.disconnect();
  }
});
