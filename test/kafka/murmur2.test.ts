/**
 * The engine picks each record's partition itself with Java Kafka's default partitioner
 * (`toPositive(murmur2(key)) % partitions`), so a key stays on the partition it had when kafkajs
 * chose it, and on the one a Java producer would choose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { murmur2, partitionForKey } from '../../src/kafka/index.js';

// Expected values from Apache Kafka's own test of Utils.murmur2 (clients, UtilsTest.testMurmur2).
const JAVA_MURMUR2: ReadonlyArray<readonly [string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test("murmur2 gives Java Kafka's value for each key of Kafka's own test", () => {
  // Their lengths leave tails of 0, 2 and 3 bytes; the random keys below cover every length.
  assert.deepEqual(new Set(JAVA_MURMUR2.map(([k]) => Buffer.byteLength(k) % 4)), new Set([0, 2, 3]));
  for (const [key, want] of JAVA_MURMUR2) assert.equal(murmur2(Buffer.from(key)), want, key);
});

test('a negative hash is made positive by clearing the sign bit, as Java does (not by >>> 0)', () => {
  // murmur2('21') = -973932308 = 0xC5F2F8EC; & 0x7fffffff = 0x45F2F8EC = 1173551340.
  assert.equal(partitionForKey('21', 1_000_000_007), 1173551340 % 1_000_000_007);
  assert.equal(partitionForKey('21', 3), 1173551340 % 3);
  assert.notEqual(partitionForKey('21', 7), (-973932308 >>> 0) % 7, 'the unsigned reading would pick another partition here');
});

test("partitionForKey agrees with kafkajs's DefaultPartitioner on 3,000 random keys for 1, 3, 7 and 12 partitions", () => {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  const keys: string[] = [];
  for (let i = 0; i < 1000; i++) keys.push(randomBytes(17).toString('hex')); // the engine's key shape: 34 hex chars
  for (let i = 0; i < 1000; i++) keys.push(randomBytes(1 + (i % 64)).toString('base64')); // every length up to 88 chars
  for (let i = 0; i < 1000; i++) keys.push(String.fromCodePoint(...Array.from({ length: 1 + (i % 9) }, (_, j) => 0xa0 + ((i * 31 + j * 977) % 0x2000)))); // multi-byte UTF-8
  assert.equal(keys.length, 3000);
  let compared = 0;
  for (const partitions of [1, 3, 7, 12]) {
    const partitionMetadata = Array.from({ length: partitions }, (_, p) => ({ partitionId: p, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    for (const key of keys) {
      const want = partitioner({ topic: 't', partitionMetadata, message: { key, value: null } });
      assert.equal(partitionForKey(key, partitions), want, `key ${JSON.stringify(key)}, ${partitions} partitions`);
      compared++;
    }
  }
  assert.equal(compared, 12_000);
});

test('a topic without partitions is refused with a reason, not divided by zero', () => {
  assert.throws(() => partitionForKey('k', 0), /at least one partition/);
});
