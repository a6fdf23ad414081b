/**
 * Durability 'none' (benchmarks and comparison only): AA after parse and accept checks, and
 * nothing handed to Kafka. The producer here fails every call, so any attempt to store shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChannelFile } from '../../src/channel/index.js';
import { DedupeMemory, Ingest } from '../../src/ingest/index.js';
import type { FrameContext as FrameMeta } from '../../src/mllp/index.js';
import type { GroupCommitProducer } from '../../src/kafka/index.js';
import { createLogger, EngineMetrics } from '../../src/ops/index.js';

function hl7(...segments: string[]): Buffer {
  return Buffer.from(segments.map((s) => `${s}\r`).join(''), 'latin1');
}

const META: FrameMeta = { remoteAddress: '127.0.0.1', listener: 'test', receivedAt: new Date(0) };

function ingestWithoutStorage(): { ingest: Ingest; publishCalls: () => number } {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-durability-none-'));
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, 'name: bench-none\nlistener:\n  port: 2575\naccept:\n  messageTypes: ["ADT^A01"]\n');
  let calls = 0;
  const producer = {
    publish: () => {
      calls++;
      return Promise.reject(new Error('durability none must not store'));
    },
  } as unknown as GroupCommitProducer;
  const ingest = new Ingest(loadChannelFile(file), {
    producer,
    dedupe: new DedupeMemory({ windowSeconds: 0, maxEntries: 0 }),
    metrics: new EngineMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: 'silent' }),
    durability: 'none',
  });
  return { ingest, publishCalls: () => calls };
}

function msa(ack: Buffer | null): string[] {
  assert.ok(ack, 'an ACK is sent');
  const seg = ack.toString('latin1').split('\r').find((s) => s.startsWith('MSA|'));
  assert.ok(seg, 'the ACK has MSA');
  return seg.split('|');
}

test("durability 'none' answers AA to an accepted message without handing it to Kafka", async () => {
  const { ingest, publishCalls } = ingestWithoutStorage();
  const r = await ingest.handleFrame(
    hl7('MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ADT^A01^ADT_A01|CTRL-1|P|2.5.1', 'PID|1||12345^^^H^MR||DOE^JANE'),
    META,
  );
  assert.equal(r.code, 'AA');
  assert.equal(r.outcome, 'not-stored');
  assert.deepEqual(msa(r.ack).slice(1, 3), ['AA', 'CTRL-1']);
  assert.equal(publishCalls(), 0);
});

test("durability 'none' still runs the accept checks: a type the channel refuses is answered AR, not stored", async () => {
  const { ingest, publishCalls } = ingestWithoutStorage();
  const r = await ingest.handleFrame(hl7('MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ORU^R01^ORU_R01|CTRL-2|P|2.5.1'), META);
  assert.equal(r.code, 'AR');
  assert.equal(r.outcome, 'not-stored');
  assert.equal(publishCalls(), 0);
});

test("durability 'none' answers AR to a frame that is not HL7, without a dead letter", async () => {
  const { ingest, publishCalls } = ingestWithoutStorage();
  const r = await ingest.handleFrame(Buffer.from('hello, this is not HL7\r', 'latin1'), META);
  assert.equal(r.code, 'AR');
  assert.equal(publishCalls(), 0);
});
