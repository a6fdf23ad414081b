/**
 * Every message file of the corpus, sent over MLLP to the real engine on the real Kafka:
 * every frame gets an answer; every AA'd frame is in the raw topic byte for byte; every AR has a
 * categorised DLQ record holding its bytes; nothing is answered AE while Kafka is healthy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../test/support/net.js';
import { splitMessagesInFile } from '../../src/mllp/index.js';
import type { DlqRecord, RawEnvelope } from '../../src/records/index.js';
import { sha256Hex } from '../../src/records/index.js';
import { corpusMessageFiles, readCorpusFile } from '../support/corpus.js';
import { startEngine, uniqueChannel } from '../../test/support/engine.js';
import { readTopic } from '../../test/support/kafka.js';
import { RawMllpClient, readAck } from '../../test/support/mllp-client.js';

interface Sent {
  readonly label: string;
  readonly bytes: Buffer;
  code: string;
}

test('every corpus message sent over MLLP is answered, and every answer is backed by a Kafka record', { timeout: 300_000 }, async () => {
  const name = uniqueChannel('corpus');
  const te = await startEngine(
    `name: ${name}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\n  timeoutMs: 20000\n`,
  );
  try {
    const frames: Sent[] = [];
    for (const file of corpusMessageFiles()) {
      const bytes = readCorpusFile(file);
      const messages = splitMessagesInFile(bytes);
      // A file with no message in it (empty, or garbage) is still sent: as one frame, as is.
      const list = messages.length > 0 ? messages : [bytes];
      list.forEach((m, i) => frames.push({ label: `${file}#${i + 1}`, bytes: m, code: '' }));
    }
    assert.ok(frames.length > 500, `expected over 500 frames from the corpus, got ${frames.length}`);

    // Four connections at once, so group commit is exercised too.
    const lanes = 4;
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const client = await RawMllpClient.open(te.port);
        try {
          for (let i = lane; i < frames.length; i += lanes) {
            const f = frames[i]!;
            const ack = await client.roundTrip(f.bytes, 30_000);
            assert.ok(ack, `no answer for ${f.label}`);
            f.code = readAck(ack).code;
          }
        } finally {
          client.close();
        }
      }),
    );

    const byCode = new Map<string, number>();
    for (const f of frames) byCode.set(f.code, (byCode.get(f.code) ?? 0) + 1);
    console.log(`# corpus over MLLP: ${frames.length} frames, answers ${JSON.stringify(Object.fromEntries(byCode))}`);
    assert.deepEqual(
      frames.filter((f) => f.code !== 'AA' && f.code !== 'AR').map((f) => `${f.label}: ${f.code}`),
      [],
      'every frame is answered AA or AR while Kafka is healthy',
    );
    assert.ok((byCode.get('AA') ?? 0) > 400, 'most of the corpus is accepted');

    const accepted = new Set(frames.filter((f) => f.code === 'AA').map((f) => sha256Hex(f.bytes)));
    const refused = new Set(frames.filter((f) => f.code === 'AR').map((f) => sha256Hex(f.bytes)));
    const rawFound = new Map<string, RawEnvelope>();
    await readTopic(te.channel.topics.raw, {
      timeoutMs: 60_000,
      until: (records) => {
        const last = records[records.length - 1];
        if (last) {
          const env = JSON.parse(last.value.toString()) as RawEnvelope;
          rawFound.set(env.rawSha256, env);
        }
        return [...accepted].every((h) => rawFound.has(h));
      },
    });
    const missing = frames.filter((f) => f.code === 'AA' && !rawFound.has(sha256Hex(f.bytes))).map((f) => f.label);
    assert.deepEqual(missing, [], 'every AA frame has a raw record');
    for (const f of frames.filter((x) => x.code === 'AA')) {
      const env = rawFound.get(sha256Hex(f.bytes))!;
      assert.ok(Buffer.from(env.raw, 'base64').equals(f.bytes), `${f.label}: raw record bytes differ from the frame`);
    }

    const dlqFound = new Map<string, DlqRecord>();
    await readTopic(te.channel.topics.dlq, {
      timeoutMs: 60_000,
      until: (records) => {
        const last = records[records.length - 1];
        if (last) {
          const rec = JSON.parse(last.value.toString()) as DlqRecord;
          dlqFound.set(rec.rawSha256, rec);
        }
        return [...refused].every((h) => dlqFound.has(h));
      },
    });
    const reasons = new Map<string, number>();
    for (const rec of dlqFound.values()) {
      const k = `${rec.failure.category}: ${String(rec.failure.detail['code'] ?? rec.failure.detail['errCode'] ?? '')}`;
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
    console.log(`# refused by category: ${JSON.stringify(Object.fromEntries(reasons))}`);
    for (const f of frames.filter((x) => x.code === 'AR')) {
      const rec = dlqFound.get(sha256Hex(f.bytes));
      assert.ok(rec, `${f.label}: AR without a DLQ record`);
      assert.ok(['frame', 'charset', 'parse', 'rejected'].includes(rec.failure.category), `${f.label}: category ${rec.failure.category}`);
      assert.ok(rec.failure.message.length > 0);
      assert.ok(Buffer.from(rec.raw, 'base64').equals(f.bytes), `${f.label}: DLQ bytes differ from the frame`);
    }
  } finally {
    await te.stop();
  }
});
