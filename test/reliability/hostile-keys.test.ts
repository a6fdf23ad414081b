/**
 * Hostile or broken senders, seen from the sender's side against the real engine and real Kafka:
 * a frame with a 1 MB MSH-10 (which used to stall every channel for minutes in the partitioner
 * and write a 1 MB log line), and batches of 10,000 messages (which used to be stored one round
 * trip at a time, answered long after the sender gave up). Each test runs its own channel, so
 * record counts are exact. No wall-clock limits: latencies are compared with the same engine's
 * latency for ordinary work, with generous factors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../support/net.js';
import type { DlqRecord, RawEnvelope } from '../../src/records/index.js';
import { LOG_FIELD_CAP } from '../../src/ops/index.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { recordCount, topicsReady } from '../support/topics.js';
import { recordFigures, scenarioPassed, scenarioStarted } from '../support/reliability.js';

/** Segments joined and terminated by CR, as on the wire. */
function hl7(...segments: string[]): Buffer {
  return Buffer.from(segments.map((s) => `${s}\r`).join(''), 'latin1');
}

function adt(controlId: string, extra: string[] = []): Buffer {
  return hl7(`MSH|^~\\&|SENDAPP|SENDFAC|ENGINE|FAC|20260301120000||ADT^A08^ADT_A01|${controlId}|P|2.5.1`, 'EVN|A08|20260301120000', `PID|1||MRN-${controlId.slice(0, 20)}^^^SENDFAC^MR||TEST^PATIENT`, ...extra);
}

async function withEngine<T>(extraYaml: string, run: (te: TestEngine) => Promise<T>): Promise<T> {
  const name = uniqueChannel('hostile');
  await topicsReady(name);
  // info: the dead-letter log line is part of what is checked.
  const te = await startEngine(`name: ${name}\nlistener:\n  port: ${await freePort()}\n${extraYaml}`, { logLevel: 'info' });
  try {
    return await run(te);
  } finally {
    await te.stop();
  }
}

/** Milliseconds one round trip takes, and its answer (null: no answer within `timeoutMs`). */
async function timed(client: RawMllpClient, payload: Buffer, timeoutMs: number): Promise<{ ms: number; ack: Buffer | null }> {
  const t = process.hrtime.bigint();
  const ack = await client.roundTrip(payload, timeoutMs);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, ack };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const FIGURES_KEY = 'hostile-keys';
const TITLE = 'hostile senders: a 1 MB MSH-10, a 10,000-message batch, a batch over the limit';
const figures: Record<string, string | number> = {};

test('a frame with a 1 MB MSH-10 is answered AR (ERR 102 at MSH-10) within 10x the time a 1 MB ordinary message takes to store, while another connection keeps getting AA', async () => {
  scenarioStarted(FIGURES_KEY, 'hostile-keys', TITLE);
  await withEngine('', async (te) => {
    const victim = await RawMllpClient.open(te.port);
    const attacker = await RawMllpClient.open(te.port);
    try {
      // The victim's own latency before the attack.
      const before: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = await timed(victim, adt(`VICTIM-A${i}`), 30_000);
        assert.equal(r.ack && readAck(r.ack).code, 'AA', `victim message ${i} before the attack`);
        before.push(r.ms);
      }
      // What a legitimate 1 MB message costs this engine and broker (same bytes to store).
      const ordinary = await timed(attacker, adt('ORDINARY-1MB', [`NTE|1||${'N'.repeat(1024 * 1024)}`]), 120_000);
      assert.equal(ordinary.ack && readAck(ordinary.ack).code, 'AA', 'a 1 MB message with bounded MSH fields is stored');

      // The attack: MSH-10 of 1 MiB, no PID (the case that was keyed by MSH-10).
      const huge = '9'.repeat(1024 * 1024);
      const attack = hl7(`MSH|^~\\&|SENDAPP|SENDFAC|ENGINE|FAC|20260301120000||ADT^A08^ADT_A01|${huge}|P|2.5.1`, 'EVN|A08|20260301120000');
      const started = process.hrtime.bigint();
      let attackDone = false;
      const attackAnswer = attacker.roundTrip(attack, 120_000).finally(() => (attackDone = true));
      const during: number[] = [];
      for (let i = 0; !attackDone || i < 3; i++) {
        const r = await timed(victim, adt(`VICTIM-B${i}`), 60_000);
        assert.equal(r.ack && readAck(r.ack).code, 'AA', `victim message ${i} during the attack`);
        during.push(r.ms);
        assert.ok(i < 10_000, 'the attack frame is never answered');
      }
      const ack = await attackAnswer;
      const attackMs = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ack, 'the attack frame gets an answer');
      const a = readAck(ack);
      assert.equal(a.code, 'AR');
      assert.ok(a.err !== null && a.err.startsWith('ERR||MSH^1^10|102^MSH-10 (message control id) is 1048576 characters long; at most 199 are accepted^HL70357|E'), a.err?.slice(0, 200) ?? 'no ERR');
      assert.equal(a.controlId.length, huge.length, 'MSA-2 still names the control id that was sent');

      // Generous factors: before the fix the attack took minutes and froze every connection.
      const worstDuring = Math.max(...during);
      const budget = 10 * (ordinary.ms + Math.max(...before));
      assert.ok(attackMs <= budget, `AR after ${attackMs.toFixed(0)} ms; a 1 MB ordinary message took ${ordinary.ms.toFixed(0)} ms`);
      assert.ok(worstDuring <= budget, `the victim waited up to ${worstDuring.toFixed(0)} ms during the attack (before: median ${median(before).toFixed(1)} ms, a 1 MB message ${ordinary.ms.toFixed(0)} ms)`);
      Object.assign(figures, {
        longControlIdAnsweredMs: Math.round(attackMs),
        ordinary1MbMessageMs: Math.round(ordinary.ms),
        victimMedianBeforeMs: Math.round(median(before) * 10) / 10,
        victimWorstDuringMs: Math.round(worstDuring * 10) / 10,
      });
    } finally {
      victim.close();
      attacker.close();
    }

    const dlq = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 1, timeoutMs: 60_000 });
    assert.equal(dlq.length, 1, 'one dead letter: the attack frame');
    const letter = dlq[0]!;
    const record = JSON.parse(letter.value.toString('utf8')) as DlqRecord;
    assert.equal(record.failure.category, 'rejected');
    assert.equal(record.failure.detail['errCode'], 102);
    assert.match(letter.key ?? '', /^msg:[0-9a-f]{32}$/, 'the key is a short hash, not the control id');
    assert.equal(letter.headers['hl7_control_id'], undefined, 'no over-long control id in a header');
    assert.equal(record.rawLength, Buffer.byteLength(record.raw, 'base64'), 'the frame is kept whole for analysis');

    const lines = te.logs().split('\n').filter(Boolean);
    const longest = Math.max(...lines.map((l) => l.length));
    assert.ok(longest <= 2 * LOG_FIELD_CAP, `a log line of ${longest} characters`);
    const deadLettered = lines.find((l) => l.includes('"frame dead-lettered"'));
    assert.ok(deadLettered, 'the dead letter is logged');
    assert.ok(deadLettered.includes(`"controlId":"${'9'.repeat(64)}…(1048576 bytes)"`), deadLettered.slice(0, 300));
  });
});

/** An FHS/BHS batch of `n` ADT messages, each its own patient and control id. */
function batch(n: number, prefix: string): { frame: Buffer; ids: string[] } {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
  const frame = Buffer.concat([
    hl7('FHS|^~\\&|SENDAPP|SENDFAC|ENGINE|FAC|20260301120000', 'BHS|^~\\&|SENDAPP|SENDFAC|ENGINE|FAC|20260301120000'),
    ...ids.map((id) => adt(id)),
    hl7(`BTS|${n}`, 'FTS|1'),
  ]);
  return { frame, ids };
}

test('a batch of 10,000 messages is answered AA within its members’ ACK timeout, with every member stored once', { timeout: 300_000 }, async () => {
  const { frame, ids } = batch(10_000, 'BIG');
  await withEngine('', async (te) => {
    const client = await RawMllpClient.open(te.port);
    let ms: number;
    try {
      const t = process.hrtime.bigint();
      // Each member is AA'd only if Kafka took it within ack.timeoutMs (5 s) of being handed to
      // the producer, so an AA here means the batch was stored within the sender's usual timeout.
      const ack = await client.roundTrip(frame, 180_000);
      ms = Number(process.hrtime.bigint() - t) / 1e6;
      assert.ok(ack, 'the batch gets an answer within 180 s');
      assert.equal(readAck(ack).code, 'AA', readAck(ack).text);
      assert.equal(readAck(ack).controlId, ids[0], 'the answer names the first member, as every member was stored');
    } finally {
      client.close();
    }
    assert.equal(await recordCount(te.channel.topics.raw), 10_000, 'every member is stored, once');
    const stored = await readTopic(te.channel.topics.raw, { until: (rs) => rs.length >= 10_000, timeoutMs: 120_000 });
    const seen = new Set(stored.map((r) => (JSON.parse(r.value.toString('utf8')) as RawEnvelope).msh?.controlId));
    assert.equal(seen.size, 10_000);
    for (const id of ids) assert.ok(seen.has(id), `member ${id} is stored`);
    figures['batch10kAnsweredMs'] = Math.round(ms);
    figures['batch10kStored'] = stored.length;
  });
});

test('a batch over batch.maxMessages is answered AR (ERR 207 at BHS) and dead-lettered whole, with no member stored', async () => {
  const { frame } = batch(4, 'OVER');
  await withEngine('batch:\n  maxMessages: 3\n', async (te) => {
    const client = await RawMllpClient.open(te.port);
    try {
      const ack = await client.roundTrip(frame, 60_000);
      assert.ok(ack, 'the batch gets an answer');
      const a = readAck(ack);
      assert.equal(a.code, 'AR');
      assert.equal(a.controlId, 'OVER000000', 'the answer names the first member');
      assert.equal(a.err, 'ERR||FHS^1|207^batch of 4 messages exceeds the channel maximum of 3 (batch.maxMessages); nothing was stored, send it in smaller batches^HL70357|E');
      // A batch at the limit is still taken.
      const ok = await client.roundTrip(batch(3, 'ATMAX').frame, 60_000);
      assert.equal(ok && readAck(ok).code, 'AA');
    } finally {
      client.close();
    }
    const raw = await readTopic(te.channel.topics.raw, { until: (rs) => rs.length >= 3, timeoutMs: 60_000 });
    assert.deepEqual(
      raw.map((r) => (JSON.parse(r.value.toString('utf8')) as RawEnvelope).msh?.controlId).sort(),
      ['ATMAX000000', 'ATMAX000001', 'ATMAX000002'],
    );
    assert.equal(await recordCount(te.channel.topics.raw), 3, 'no member of the refused batch is stored');
    const dlq = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= 1, timeoutMs: 60_000 });
    assert.equal(dlq.length, 1);
    const letter = JSON.parse(dlq[0]!.value.toString('utf8')) as DlqRecord;
    assert.equal(letter.failure.category, 'rejected');
    assert.deepEqual(letter.failure.detail, { batchMessages: 4, maxMessages: 3 });
    assert.ok(Buffer.from(letter.raw, 'base64').equals(frame), 'the whole frame is kept, byte for byte');
    recordFigures(FIGURES_KEY, { scenario: 'hostile-keys', title: TITLE, details: { ...figures } });
    scenarioPassed(FIGURES_KEY);
  });
});
