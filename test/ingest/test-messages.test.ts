/**
 * test-messages/: every hand-made file, and the cases built from them, sent over MLLP to the real
 * engine on the real Kafka, with the outcome test-messages/README.md promises.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/net.js';
import { encodeFrame } from '../../src/mllp/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import type { DlqRecord, RawEnvelope } from '../../src/records/index.js';
import { sha256Hex } from '../../src/records/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

const DIR = join(REPO_DIR, 'test-messages');

/** Rows of the first markdown table in a README whose header starts with `| file |`. */
function tableRows(readme: string): string[][] {
  const lines = readFileSync(readme, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('| file |'));
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

const outcomes = tableRows(join(DIR, 'README.md'));
const charsetRows = new Map(tableRows(join(DIR, 'charset', 'README.md')).map((r) => [`charset/${r[0]}`, r]));

/** Every message file under test-messages/ (the READMEs and the golden outputs left out). */
function messageFiles(dir = DIR, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) return rel === 'expected' ? [] : messageFiles(dir, rel);
    return e.name === 'README.md' ? [] : [rel];
  });
}

test('test-messages/README.md has exactly one row per message file, and the table is read whole', () => {
  // The tests below are built from the table: a row lost to a formatting slip would silently
  // drop a case, so the count is pinned here: 57 ADT, 1 ORU, 3 ORM/OML/OMG, 3 OUL, 5 SIU,
  // 2 MDM, 1 VXU, 3 RDE/RDS, 5 BAR/DFT, 2 REF, 2 PPR, 3 bad, 13 charset.
  assert.equal(outcomes.length, 100, 'rows in the README table');
  assert.deepEqual(outcomes.map((r) => r[0]).sort(), messageFiles().sort(), 'files without a row, or rows without a file');
  for (const row of outcomes) assert.equal(row.length, 4, `row ${row[0]} has file, ACK, DLQ category and why`);
});

test('test-messages/charset/README.md has exactly one row per charset file', () => {
  assert.equal(charsetRows.size, 13, 'rows in the charset README table');
  assert.deepEqual([...charsetRows.keys()].sort(), messageFiles().filter((f) => f.startsWith('charset/')).sort());
});

let te: TestEngine;
const CHANNEL_TYPES = '\naccept:\n  messageTypes: ["ADT^*", "ORU^R01", "ORM^O01", "OML^O21", "OMG^O19", "OUL^*", "SIU^*", "MDM^*", "VXU^V04", "RDE^*", "RDS^O13", "BAR^*", "DFT^*", "REF^*", "PPR^*"]\nack:\n  mode: original\n';

before(async () => {
  te = await startEngine(`name: ${uniqueChannel('tm')}\nlistener:\n  port: ${await freePort()}${CHANNEL_TYPES}`);
});
after(async () => {
  await te.stop();
});

async function envelopeOf(topic: string, bytes: Buffer): Promise<RawEnvelope | DlqRecord | undefined> {
  const want = sha256Hex(bytes);
  const recs = await readTopic(topic, {
    timeoutMs: 20_000,
    until: (rs) => rs.some((r) => (JSON.parse(r.value.toString()) as RawEnvelope).rawSha256 === want),
  });
  return recs.map((r) => JSON.parse(r.value.toString()) as RawEnvelope).find((e) => e.rawSha256 === want);
}

for (const [file, ack, dlq] of outcomes) {
  test(`${file} is answered ${ack}${dlq !== '–' ? ` and dead-lettered as ${dlq}` : ' and stored byte for byte'}`, async () => {
    const bytes = readFileSync(join(DIR, file!));
    const client = await RawMllpClient.open(te.port);
    const answer = await client.roundTrip(bytes);
    client.close();
    assert.ok(answer, 'an answer arrives');
    assert.equal(readAck(answer).code, ack);
    if (dlq === '–') {
      const env = await envelopeOf(te.channel.topics.raw, bytes);
      assert.ok(env, 'the raw record is in Kafka');
      assert.ok(Buffer.from(env.raw, 'base64').equals(bytes));
      const row = charsetRows.get(file!);
      if (row) {
        assert.equal(env.charset.source, row[2], 'charset rule');
        assert.equal(env.charset.charset, row[3], 'charset');
        const repairs = env.charset.repairs.map((r) => `${r.kind}×${r.count}`).join(', ') || '–';
        assert.equal(repairs, row[4], 'repairs');
        const parsed = parseMessage(env.text ?? '');
        assert.ok(parsed.ok);
        assert.equal(parsed.message.get('PID-5'), row[5], 'decoded name');
      }
    } else {
      const rec = (await envelopeOf(te.channel.topics.dlq, bytes)) as DlqRecord | undefined;
      assert.ok(rec, 'the DLQ record is in Kafka');
      assert.equal(rec.failure.category, dlq);
      assert.ok(Buffer.from(rec.raw, 'base64').equals(bytes));
    }
  });
}

test('a frame written one byte at a time is answered AA', async () => {
  const msg = readFileSync(join(DIR, 'adt/adt-a01.hl7')).toString('latin1').replace('|MSG00001|', '|MSG1BYTE01|');
  const bytes = Buffer.from(msg, 'latin1');
  const framed = encodeFrame(bytes);
  const client = await RawMllpClient.open(te.port);
  for (const b of framed) {
    client.writeRaw(Buffer.from([b]));
    await new Promise((r) => setImmediate(r));
  }
  const answer = await client.nextAnswer();
  client.close();
  assert.ok(answer);
  assert.equal(readAck(answer).code, 'AA');
  assert.equal(readAck(answer).controlId, 'MSG1BYTE01');
});

/** oru-r01.hl7 plus an ED OBX whose base64 data brings the frame to `size` bytes. */
function bigOru(size: number, controlId: string): Buffer {
  const base = readFileSync(join(DIR, 'oru/oru-r01.hl7')).toString('latin1').replace('|LAB000042|', `|${controlId}|`);
  const head = `OBX|4|ED|18748-4^Diagnostic imaging study^LN||^application^pdf^Base64^`;
  const tail = `||||||F\r`;
  const pad = size - base.length - head.length - tail.length;
  const data = Buffer.alloc(Math.ceil((pad * 3) / 4), 7).toString('base64').slice(0, pad);
  return Buffer.from(base + head + data + tail, 'latin1');
}

test('a 10 MB frame is answered AA and stored byte for byte', { timeout: 120_000 }, async () => {
  const bytes = bigOru(10 * 1024 * 1024, 'BIG10MB001');
  assert.equal(bytes.length, 10 * 1024 * 1024);
  const client = await RawMllpClient.open(te.port);
  const answer = await client.roundTrip(bytes, 60_000);
  client.close();
  assert.ok(answer);
  assert.equal(readAck(answer).code, 'AA');
  const env = await envelopeOf(te.channel.topics.raw, bytes);
  assert.ok(env);
  assert.ok(Buffer.from(env.raw, 'base64').equals(bytes));
});

test('a frame over the channel maximum is answered AR, dead-lettered as frame, and the connection closed', { timeout: 120_000 }, async () => {
  const small = await startEngine(
    `name: ${uniqueChannel('tm-max')}\nlistener:\n  port: ${await freePort()}\n  maxFrameBytes: 1048576${CHANNEL_TYPES}`,
  );
  try {
    const bytes = bigOru(10 * 1024 * 1024, 'BIG10MB002');
    const client = await RawMllpClient.open(small.port);
    const answer = await client.roundTrip(bytes, 60_000);
    assert.ok(answer);
    const ack = readAck(answer);
    assert.equal(ack.code, 'AR');
    assert.equal(ack.controlId, 'BIG10MB002', 'the AR names the message, read from the head of the frame');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (client.isClosed) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });
    const recs = await readTopic(small.channel.topics.dlq, { timeoutMs: 20_000, until: (rs) => rs.length >= 1 });
    const rec = JSON.parse(recs[0]!.value.toString()) as DlqRecord;
    assert.equal(rec.failure.category, 'frame');
    assert.ok(Number(rec.failure.detail['receivedBytes']) > 1048576, 'refused once past the maximum');
    assert.equal(rec.truncated, true);
    assert.ok(bytes.subarray(0, rec.rawLength).equals(Buffer.from(rec.raw, 'base64')), 'the kept head is the start of the frame');
  } finally {
    await small.stop();
  }
});
