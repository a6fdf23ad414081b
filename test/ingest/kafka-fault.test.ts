/**
 * The ACK contract under a broker outage, on a real Kafka this test owns: while the broker is
 * down no message is answered AA; once it is back, AA resumes without restarting the engine; and
 * every message that was ever answered AA is in the raw topic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalKafka } from '../../devtools/local-kafka/index.js';
import { freePort } from '../support/net.js';
import type { RawEnvelope } from '../../src/records/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

interface Exchange {
  readonly controlId: string;
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly code: string;
}

function adt(controlId: string): Buffer {
  return Buffer.from(
    `MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A08^ADT_A01|${controlId}|P|2.5.1\r` +
      `EVN|A08|20261121083000\rPID|1||${controlId}^^^GENHOSP^MR||TEST^PATIENT||19700101|F\rPV1|1|O\r`,
    'latin1',
  );
}

test('Kafka stopped mid-stream: no AA while it is down, AA again once it is back, every AA stored', { timeout: 240_000 }, async () => {
  const kafka = new LocalKafka({ name: 'fault-test', fresh: true });
  await kafka.start();
  const te = await startEngine(
    `name: ${uniqueChannel('fault')}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\n  timeoutMs: 1000\n`,
    { brokers: [kafka.bootstrap] },
  );
  const exchanges: Exchange[] = [];
  let running = true;
  try {
    const lanes = Array.from({ length: 4 }, async (_, lane) => {
      const client = await RawMllpClient.open(te.port);
      let n = 0;
      try {
        while (running) {
          const controlId = `F${lane}-${++n}`;
          const sentAt = Date.now();
          const answer = await client.roundTrip(adt(controlId), 20_000);
          assert.ok(answer, `no answer for ${controlId}`);
          const ack = readAck(answer);
          assert.equal(ack.controlId, controlId);
          exchanges.push({ controlId, sentAt, answeredAt: Date.now(), code: ack.code });
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        client.close();
      }
    });

    await new Promise((r) => setTimeout(r, 2000));
    const stopAt = Date.now();
    await kafka.stop({ removeData: false });
    const downAt = Date.now();
    console.log(`# broker stop took ${downAt - stopAt} ms`);
    await new Promise((r) => setTimeout(r, 6000));
    const restartAt = Date.now();
    await kafka.start();
    const upAt = Date.now();
    // Recovery is automatic; give the producer time to reconnect and the senders to see AA.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !exchanges.some((e) => e.sentAt > upAt && e.code === 'AA')) {
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(lanes);

    const during = exchanges.filter((e) => e.sentAt >= downAt && e.answeredAt <= restartAt);
    const codes = (list: Exchange[]) => [...new Set(list.map((e) => e.code))].sort().join(',');
    console.log(
      `# fault: ${exchanges.length} exchanges; before ${codes(exchanges.filter((e) => e.answeredAt < downAt))}; ` +
        `while down ${during.length} ${codes(during)}; after ${codes(exchanges.filter((e) => e.sentAt > upAt))}`,
    );
    assert.ok(exchanges.some((e) => e.answeredAt < downAt && e.code === 'AA'), 'AA before the outage');
    assert.ok(during.length > 0, 'messages were sent while Kafka was down');
    assert.deepEqual(during.filter((e) => e.code === 'AA'), [], 'no AA while Kafka is down');
    assert.ok(during.every((e) => e.code === 'AE'), 'AE while Kafka is down');
    assert.ok(exchanges.some((e) => e.sentAt > upAt && e.code === 'AA'), 'AA again after Kafka is back');

    const acked = new Set(exchanges.filter((e) => e.code === 'AA').map((e) => e.controlId));
    const found = new Set<string>();
    await readTopic(te.channel.topics.raw, {
      list: [kafka.bootstrap],
      timeoutMs: 60_000,
      until: (records) => {
        const last = records[records.length - 1];
        if (last) found.add((JSON.parse(last.value.toString()) as RawEnvelope).msh?.controlId ?? '');
        return [...acked].every((id) => found.has(id));
      },
    });
    const missing = [...acked].filter((id) => !found.has(id));
    if (missing.length > 0) {
      // Timing of what went missing, relative to the outage, so a failure explains itself.
      const when = exchanges
        .filter((e) => missing.includes(e.controlId))
        .map((e) => `${e.controlId} sent ${e.sentAt - stopAt} ms / answered ${e.answeredAt - stopAt} ms after the broker was asked to stop (${downAt - stopAt} ms to stop)`);
      console.log(`# missing: ${when.join('; ')}`);
    }
    assert.deepEqual(missing, [], 'every AA message is in the raw topic');
  } finally {
    running = false;
    await te.stop().catch(() => undefined);
    await kafka.stop({ removeData: true });
  }
});
