/**
 * After a produce request fails, the group-commit producer sends through a new kafkajs producer
 * (a new producer id, sequences from 0). Kafka's idempotence check compares sequence ranges only:
 * a producer whose failed request the broker had in fact appended is behind the broker, and its
 * next request with the same range would be acknowledged without being written. The broker-outage
 * test met that once (AA'd messages missing from the raw topic after a restart); here, on the real
 * broker, one request is made to fail on purpose and the test checks which producer sends next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka, Producer, ProducerConfig } from 'kafkajs';
import { ensureTopics, GroupCommitProducer } from '../../src/kafka/index.js';
import { uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';

interface Made {
  readonly producer: Producer;
  sends: number;
  disconnected: boolean;
}

/** The real client; every producer it makes is recorded, and the next sendBatch can be failed. */
function watchedKafka(real: Kafka): { kafka: Kafka; made: Made[]; failNextSend(): void } {
  const made: Made[] = [];
  let failNext = false;
  const kafka = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'producer') return Reflect.get(target, prop, receiver) as unknown;
      return (config?: ProducerConfig): Producer => {
        const producer = target.producer(config);
        const entry: Made = { producer, sends: 0, disconnected: false };
        made.push(entry);
        return new Proxy(producer, {
          get(p, name, r) {
            if (name === 'disconnect') {
              return async () => {
                entry.disconnected = true;
                return p.disconnect();
              };
            }
            if (name !== 'sendBatch') return Reflect.get(p, name, r) as unknown;
            return async (batch: Parameters<Producer['sendBatch']>[0]) => {
              entry.sends++;
              if (failNext) {
                failNext = false;
                throw new Error('the request died in flight (injected by the test)');
              }
              return p.sendBatch(batch);
            };
          },
        });
      };
    },
  });
  return { kafka, made, failNextSend: () => (failNext = true) };
}

test('a failed produce request retires its producer: the next record goes through a new one and is stored', { timeout: 60_000 }, async () => {
  const real = testKafka();
  const topic = `${uniqueChannel('renew')}.raw`;
  await ensureTopics(real, [{ topic, partitions: 1 }]);
  const w = watchedKafka(real);
  const producer = new GroupCommitProducer(w.kafka);
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
    assert.equal(w.made.length, 2, 'a new kafkajs producer was made after the failure');
    assert.deepEqual(
      w.made.map((m) => ({ sends: m.sends, disconnected: m.disconnected })),
      [
        { sends: 2, disconnected: true },
        { sends: 1, disconnected: false },
      ],
      'the failed producer is let go; the next request went through the new one',
    );
    assert.equal(third.offset, '1', 'stored right after the first record');

    const stored = await readTopic(topic, { until: (rs) => rs.length >= 2, timeoutMs: 20_000 });
    assert.deepEqual(stored.map((r) => r.value.toString()), ['first', 'third']);

    await producer.publish(record('fourth'), 10_000);
    assert.equal(w.made.length, 2, 'a request that succeeds keeps its producer');
  } finally {
    await producer.disconnect();
  }
});
