/**
 * Java Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`
 * (org.apache.kafka.common.utils.Utils). The engine picks every partition itself with this, so a
 * key lands where Java clients and kafkajs put it, whichever client sends.
 *
 * Written in 32-bit integer arithmetic (`Math.imul`): the clients' own versions work in BigInt
 * without truncating and take minutes for a 1 MB key (bench/KAFKA-CLIENTS.md, section 3), and
 * @platformatic/kafka's defaultPartitioner makes the hash positive with `>>> 0` instead of
 * `& 0x7fffffff`, which moves about half of all keys to another partition.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 of `data`, as a signed 32-bit integer (what Java's `Utils.murmur2` returns). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= data[whole + 2]! << 16;
  if (tail >= 2) h ^= data[whole + 1]! << 8;
  if (tail >= 1) h = Math.imul(h ^ data[whole]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Java's default partitioner gives `key` in a topic of `partitions` partitions. */
export function partitionForKey(key: string | Uint8Array, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`a topic has at least one partition, not ${partitions}`);
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return (murmur2(bytes) & 0x7fffffff) % partitions;
}
