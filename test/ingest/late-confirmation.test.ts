/**
 * A resend racing a late Kafka confirmation, on the real broker. The ingest pipeline runs with the
 * real group-commit producer, whose client producers' send waits at a gate the test opens:
 * the raw record's write is held past the channel's ACK timeout, so the sender hears AE, and then
 * it lands. The sender's resend of the same bytes must get AA and must not store a second copy
 * (the producer's onStored feeds the duplicate memory even after the timeout answered AE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { Producer } from '@platformatic/kafka';
import { loadChannelFile, type ChannelConfig } from '../../src/channel/index.js';
import { DedupeMemory, Ingest, type IngestResult } from '../../src/ingest/index.js';
import type { FrameContext } from '../../src/mllp/index.js';
import { ensureTopics, GroupCommitProducer, type ProduceClientFactory } from '../../src/kafka/index.js';
import { createLogger, EngineMetrics } from '../../src/ops/index.js';
import { uniqueChannel } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';

const META: FrameContext = { remoteAddress: '127.0.0.1', listener: 'test', receivedAt: new Date(0) };
const ACK_TIMEOUT_MS = 300;

function adt(controlId: string): Buffer {
  return Buffer.from(
    `MSH|^~\\&|LATE|GENHOSP|HL7ENGINE|GENHOSP|20260301120000||ADT^A08^ADT_A01|${controlId}|P|2.5.1\r` +
      `EVN|A08|20260301120000\rPID|1||${controlId}^^^GENHOSP^MR||TEST^PATIENT||19700101|F\r`,
    'latin1',
  );
}

/**
 * Holds every send while closed. open() lets the held ones and all later ones through;
 * fail() makes the held ones fail as a broker error would (later ones pass).
 */
class Gate {
  private opened = false;
  private waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  held = 0;

  pass(): Promise<void> {
    if (this.opened) return Promise.resolve();
    this.held++;
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  open(): void {
    this.opened = true;
    for (const w of this.waiting.splice(0)) w.resolve();
  }

  fail(): void {
    this.opened = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error('the broker refused the write (injected by the test)'));
  }
}

/** Real @platformatic/kafka producers, except that each send waits at the gate first. */
function gatedClients(gate: Gate): ProduceClientFactory {
  return (options) => {
    const real = new Producer(options);
    return {
      initIdempotentProducer: (o) => real.initIdempotentProducer(o),
      send: async (o) => {
        await gate.pass();
        return real.send(o);
      },
      close: (force) => real.close(force),
    };
  };
}

/** Records in a topic right now, from the partitions' offsets (a confirmed write counts). */
async function recordCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Rig {
  readonly ingest: Ingest;
  readonly channel: ChannelConfig;
  readonly gate: Gate;
  readonly kafka: Kafka;
  readonly producer: GroupCommitProducer;
  stop(): Promise<void>;
}

async function rig(): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-late-confirmation-'));
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, `name: ${uniqueChannel('late')}\nlistener:\n  port: 2575\nack:\n  mode: original\n  timeoutMs: ${ACK_TIMEOUT_MS}\n`);
  const channel = loadChannelFile(file);
  assert.ok(channel.dedupe.windowSeconds > 0, 'the duplicate memory is on by default');
  const kafka = testKafka();
  await ensureTopics(kafka, [channel.topics.raw, channel.topics.dlq].map((topic) => ({ topic, partitions: 3 })));
  const gate = new Gate();
  const producer = new GroupCommitProducer(kafka, { createClient: gatedClients(gate) });
  await producer.connect();
  await producer.learnTopics([channel.topics.raw, channel.topics.dlq]);
  const ingest = new Ingest(channel, {
    producer,
    dedupe: new DedupeMemory({ windowSeconds: channel.dedupe.windowSeconds, maxEntries: channel.dedupe.maxEntries }),
    metrics: new EngineMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: 'silent' }),
  });
  return {
    ingest,
    channel,
    gate,
    kafka,
    producer,
    stop: async () => {
      gate.open();
      await producer.disconnect();
    },
  };
}

function code(r: IngestResult): string {
  return `${r.code} (${r.outcome})`;
}

test('a write Kafka confirms after the ACK timeout: AE first, the record lands, the resend gets AA and no second raw record', { timeout: 60_000 }, async () => {
  const r = await rig();
  try {
    const bytes = adt('LATE0001');
    const first = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(first), 'AE (storage-unavailable)', 'the write is held past the ACK timeout');
    assert.equal(r.gate.held, 1, 'the raw record was handed to Kafka once');
    assert.equal(await recordCount(r.kafka, r.channel.topics.raw), 0, 'nothing stored yet when the AE went out');

    r.gate.open();
    await until('the held write to land in the raw topic', async () => (await recordCount(r.kafka, r.channel.topics.raw)) === 1);

    const resend = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(resend), 'AA (duplicate)', 'the resend is recognised as the copy Kafka confirmed late');
    await r.producer.drained();
    assert.equal(await recordCount(r.kafka, r.channel.topics.raw), 1, 'no second raw record');
  } finally {
    await r.stop();
  }
});

test('a resend while the timed-out write is still in flight shares its fate: no second raw record', { timeout: 60_000 }, async () => {
  const r = await rig();
  try {
    const bytes = adt('LATE0002');
    const first = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(first), 'AE (storage-unavailable)');

    // The sender resends at once; the held write lands while the resend waits for its answer.
    const resending = r.ingest.handleFrame(bytes, META);
    await new Promise((resolve) => setTimeout(resolve, ACK_TIMEOUT_MS / 3));
    r.gate.open();
    const resend = await resending;
    await until('the held write to land in the raw topic', async () => (await recordCount(r.kafka, r.channel.topics.raw)) >= 1);

    // Either answer is honest (AE: "not confirmed in time, resend"; AA: stored), but an AA must
    // not have stored the bytes a second time, and a further resend must be AA without storing.
    assert.ok(resend.code === 'AA' || resend.code === 'AE', code(resend));
    const again = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(again), 'AA (duplicate)');
    await r.producer.drained(); // nothing queued or in flight: a second copy, if sent, is in by now
    assert.equal(await recordCount(r.kafka, r.channel.topics.raw), 1, `one raw record (the resend was answered ${code(resend)})`);
  } finally {
    await r.stop();
  }
});

test('a resend after the timed-out write failed for good is stored: AA and exactly one raw record', { timeout: 60_000 }, async () => {
  const r = await rig();
  try {
    const bytes = adt('LATE0003');
    const first = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(first), 'AE (storage-unavailable)');
    r.gate.fail();
    await r.producer.drained();
    assert.equal(await recordCount(r.kafka, r.channel.topics.raw), 0, 'the failed write stored nothing');

    const resend = await r.ingest.handleFrame(bytes, META);
    assert.equal(code(resend), 'AA (stored)', 'the resend is not mistaken for a copy that never landed');
    assert.equal(await recordCount(r.kafka, r.channel.topics.raw), 1);
  } finally {
    await r.stop();
  }
});
