#!/usr/bin/env node
// Checks the ack-on-receipt contender (bench/servers/ack-on-receipt.mjs) answers the way the
// benchmark assumes: AA to an accepted message without Kafka, the channel's accept rules still
// applied (AR), AR to a frame that is not HL7. Run after building: `node bench/ack-on-receipt-check.mjs`.
// Exits non-zero with the failed check. Not part of `npm test`: the mode exists only in bench/.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestWithoutStorage } from './servers/ack-on-receipt.mjs';

const { loadChannelFile } = await import('../dist/src/channel/index.js');
const { createLogger, EngineMetrics } = await import('../dist/src/ops/index.js');

const META = { remoteAddress: '127.0.0.1', listener: 'check', receivedAt: new Date(0) };
const hl7 = (...segments) => Buffer.from(segments.map((s) => `${s}\r`).join(''), 'latin1');

function msa(ack) {
  assert.ok(ack, 'an ACK is sent');
  const seg = ack.toString('latin1').split('\r').find((s) => s.startsWith('MSA|'));
  assert.ok(seg, 'the ACK has MSA');
  return seg.split('|');
}

const dir = mkdtempSync(join(tmpdir(), 'hl7-ack-on-receipt-'));
try {
  const file = join(dir, 'channel.yaml');
  writeFileSync(file, 'name: bench-check\nlistener:\n  port: 2575\naccept:\n  messageTypes: ["ADT^A01"]\n');
  const channel = loadChannelFile(file);
  const deps = { metrics: new EngineMetrics({ defaultMetrics: false }), logger: createLogger({ level: 'silent' }) };
  const checks = [
    [
      'an accepted message is answered AA without Kafka',
      async () => {
        const { ingest } = ingestWithoutStorage(channel, deps);
        const r = await ingest.handleFrame(hl7('MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ADT^A01^ADT_A01|CTRL-1|P|2.5.1', 'PID|1||12345^^^H^MR||DOE^JANE'), META);
        assert.equal(r.code, 'AA');
        assert.deepEqual(msa(r.ack).slice(1, 3), ['AA', 'CTRL-1']);
      },
    ],
    [
      "the channel's accept rules still apply: a type it refuses is answered AR",
      async () => {
        const { ingest } = ingestWithoutStorage(channel, deps);
        const r = await ingest.handleFrame(hl7('MSH|^~\\&|SND|FAC|RCV|FAC|20240101120000||ORU^R01^ORU_R01|CTRL-2|P|2.5.1'), META);
        assert.equal(r.code, 'AR');
      },
    ],
    [
      'a frame that is not HL7 is answered AR',
      async () => {
        const { ingest } = ingestWithoutStorage(channel, deps);
        const r = await ingest.handleFrame(Buffer.from('hello, this is not HL7\r', 'latin1'), META);
        assert.equal(r.code, 'AR');
      },
    ],
  ];
  for (const [name, check] of checks) {
    await check();
    console.log(`ok - ${name}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
