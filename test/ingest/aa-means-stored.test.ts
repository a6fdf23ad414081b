/**
 * AA means stored, checked at the moment of each AA: right after every AA the test asks the
 * broker for the raw topic's high watermark (the end of what consumers may read, which moves
 * only once a record is written with acks=all), then reads that message's raw record back. The
 * record must sit below the watermark taken right after its AA: it was already in Kafka and
 * readable when the sender heard AA, not written a moment later.
 *
 * A write to the local broker takes a few milliseconds, less than the AA's trip to the test and
 * the watermark request, so an engine that answered before writing could still pass. Every
 * produce request in this test process (it has its own, see node --test) therefore waits
 * WRITE_DELAY_MS before it leaves: an AA sent before its write completes is then caught every
 * time. The broker stays real; only the moment the write starts moves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Producer } from '@platformatic/kafka';
import { sha256Hex, type RawEnvelope } from '../../src/records/index.js';
import { freePort } from '../support/net.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

const MESSAGES = 12;
const WRITE_DELAY_MS = 250;

// The engine writes through @platformatic/kafka: every Producer in this process waits first.
const realSend = Producer.prototype.send;
before(() => {
  Producer.prototype.send = function delayedSend(this: Producer, ...args: Parameters<Producer['send']>) {
    return new Promise((r) => setTimeout(r, WRITE_DELAY_MS)).then(() => realSend.apply(this, args));
  } as Producer['send'];
});
after(() => {
  Producer.prototype.send = realSend;
});

function adt(n: number): Buffer {
  const id = `AAR${String(n).padStart(4, '0')}`;
  return Buffer.from(
    `MSH|^~\\&|REG|GENHOSP|HL7ENGINE|GENHOSP|20260301120000||ADT^A08^ADT_A01|${id}|P|2.5.1\r` +
      `EVN|A08|20260301120000\rPID|1||MRN-${n % 4}^^^GENHOSP^MR||TEST^PATIENT||19700101|F\r`,
    'latin1',
  );
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(`each of ${MESSAGES} AAs: the raw record is below the high watermark read right after the AA, and reads back byte for byte`, { timeout: 120_000 }, async () => {
  const te = await startEngine(`name: ${uniqueChannel('aa-stored')}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\n`);
  const kafka = testKafka();
  const admin = kafka.admin();
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}` });
  const client = await RawMllpClient.open(te.port);
  try {
    await admin.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [te.channel.topics.raw], fromBeginning: true });
    const read = new Map<string, { partition: number; offset: bigint; raw: Buffer }>();
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const env = JSON.parse(message.value!.toString()) as RawEnvelope;
        read.set(env.rawSha256, { partition, offset: BigInt(message.offset), raw: Buffer.from(env.raw, 'base64') });
      },
    });

    for (let n = 0; n < MESSAGES; n++) {
      const bytes = adt(n);
      const answer = await client.roundTrip(bytes, 20_000);
      assert.ok(answer, `message ${n}: an answer`);
      assert.equal(readAck(answer).code, 'AA', `message ${n}`);
      const watermarks = new Map((await admin.fetchTopicOffsets(te.channel.topics.raw)).map((p) => [p.partition, BigInt(p.high)]));

      const sha = sha256Hex(bytes);
      await until(`message ${n}'s raw record to be read back`, () => read.has(sha));
      const record = read.get(sha)!;
      const watermark = watermarks.get(record.partition);
      assert.ok(watermark !== undefined, `message ${n}: partition ${record.partition} has a watermark`);
      assert.ok(
        record.offset < watermark,
        `message ${n}: stored at offset ${record.offset} of partition ${record.partition}, not below the high watermark ${watermark} read right after its AA`,
      );
      assert.ok(record.raw.equals(bytes), `message ${n}: the raw record holds the bytes sent`);
    }
    assert.equal(read.size, MESSAGES, 'one raw record per message');
  } finally {
    client.close();
    await consumer.disconnect();
    await admin.disconnect();
    await te.stop();
  }
});
