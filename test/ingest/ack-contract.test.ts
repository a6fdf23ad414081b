/**
 * The ACK contract (the README's table) as a sender sees it: real engine, real Kafka, bytes over MLLP.
 * Every message is written out in the test that sends it; every test runs its own channel, so
 * its topics hold only what that test sent and record counts are exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/net.js';
import { encodeFrame } from '../../src/mllp/index.js';
import type { DlqRecord, RawEnvelope } from '../../src/records/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic, testKafka, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Segments joined and terminated by CR, as on the wire. */
function hl7(...segments: string[]): Buffer {
  return Buffer.from(segments.map((s) => `${s}\r`).join(''), 'latin1');
}

/** A channel file: `accept` and `ack` are YAML blocks spliced in as written. */
async function channelYaml(prefix: string, extra = ''): Promise<string> {
  return `name: ${uniqueChannel(prefix)}\nlistener:\n  port: ${await freePort()}\n${extra}`;
}

function isRetriable(err: unknown): boolean {
  return err instanceof Error && (err as Error & { retriable?: boolean }).retriable === true;
}

/**
 * Creates the channel's topics and waits until every partition answers, before the engine starts.
 * On a busy broker a just-created topic can refuse offset requests for a few seconds ("not the
 * leader"), which fails the engine's start; these tests are about the ACK, not about that.
 */
async function topicsReady(channelName: string): Promise<void> {
  const topics = ['raw', 'fhir', 'dlq'].map((t) => `${channelName}.${t}`);
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await admin.createTopics({
          topics: topics.map((topic) => ({ topic, numPartitions: 3, configEntries: [{ name: 'max.message.bytes', value: String(64 * 1024 * 1024) }] })),
        });
        for (const t of topics) await admin.fetchTopicOffsets(t);
        return;
      } catch (err) {
        if (!isRetriable(err) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

async function withEngine<T>(yaml: string, run: (te: TestEngine) => Promise<T>, opts: { logLevel?: string } = {}): Promise<T> {
  const name = /^name: (\S+)$/m.exec(yaml)?.[1];
  assert.ok(name, 'the channel YAML names the channel');
  await topicsReady(name);
  const te = await startEngine(yaml, opts);
  try {
    return await run(te);
  } finally {
    await te.stop();
  }
}

/** Sends each payload on one connection, one at a time, and returns the answers. */
async function exchange(port: number, ...payloads: Buffer[]): Promise<Buffer[]> {
  const client = await RawMllpClient.open(port);
  try {
    const answers: Buffer[] = [];
    for (const p of payloads) {
      const a = await client.roundTrip(p);
      assert.ok(a, 'an answer arrives');
      answers.push(a);
    }
    return answers;
  } finally {
    client.close();
  }
}

/** Field n of the first `segment` of an ACK (for MSH, n counts MSH-1 the HL7 way). */
function field(ack: Buffer, segment: string, n: number): string {
  const text = ack.toString('latin1');
  const fs = text[3] ?? '|';
  const seg = text.split('\r').find((s) => s.startsWith(segment + fs));
  assert.ok(seg !== undefined, `the ACK has a ${segment} segment`);
  const parts = seg.split(fs);
  return parts[segment === 'MSH' ? n - 1 : n] ?? '';
}

/** ERR-3.1 (v2.5+) : the HL7 table 0357 code. */
function errCode(ack: Buffer): string {
  const component = ack.toString('latin1')[4] ?? '^';
  return field(ack, 'ERR', 3).split(component)[0] ?? '';
}

/**
 * How many records a topic holds right now, from the partitions' offsets. A record the broker
 * confirmed with acks=all is counted; nothing has to be consumed, so "none" costs no waiting.
 */
async function recordCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      } catch (err) {
        // A busy broker may briefly answer "not the leader" for a young topic; that says nothing
        // about the records, so ask again.
        if (!isRetriable(err) || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Every record of a topic (the count comes from the offsets, so the read ends as soon as it has them). */
async function allRecords(topic: string): Promise<ReadRecord[]> {
  const n = await recordCount(topic);
  if (n === 0) return [];
  const records = await readTopic(topic, { until: (rs) => rs.length >= n, timeoutMs: 20_000 });
  assert.equal(records.length, n, `all ${n} records of ${topic} were read`);
  return records;
}

function envelope<T extends RawEnvelope = RawEnvelope>(r: ReadRecord): T {
  return JSON.parse(r.value.toString()) as T;
}

const ACCEPT_ADT = 'accept:\n  messageTypes: ["ADT^*"]\n';

// ---------------------------------------------------------------------------------------------
// ACK shape

test('the ACK swaps sender and receiver, has its own MSH-10, types itself ACK^<event>^ACK, echoes MSH-12 and names the message in MSA-2', async () => {
  const first = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|SHAPE0001|P|2.3.1',
    'EVN|A01|20260301120000',
    'PID|1||SHAPE-MRN-1^^^SENDFAC^MR||TEST^PATIENT',
  );
  const second = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120001||ADT^A01^ADT_A01|SHAPE0002|P|2.3.1',
    'EVN|A01|20260301120001',
    'PID|1||SHAPE-MRN-2^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-shape', ACCEPT_ADT), async (te) => {
    const [a, b] = await exchange(te.port, first, second);
    assert.ok(a && b);
    assert.equal(readAck(a).code, 'AA');
    assert.equal(field(a, 'MSH', 3), 'RECVAPP', 'MSH-3 is the inbound MSH-5');
    assert.equal(field(a, 'MSH', 4), 'RECVFAC', 'MSH-4 is the inbound MSH-6');
    assert.equal(field(a, 'MSH', 5), 'SENDAPP', 'MSH-5 is the inbound MSH-3');
    assert.equal(field(a, 'MSH', 6), 'SENDFAC', 'MSH-6 is the inbound MSH-4');
    assert.equal(field(a, 'MSH', 9), 'ACK^A01^ACK');
    assert.equal(field(a, 'MSH', 12), '2.3.1', 'MSH-12 echoed, not our default version');
    assert.equal(field(a, 'MSA', 2), 'SHAPE0001');
    assert.match(field(a, 'MSA', 3), /[a-z]{3,}/, 'MSA-3 is text for people');

    const idA = field(a, 'MSH', 10);
    const idB = field(b, 'MSH', 10);
    assert.notEqual(idA, '', 'the ACK has a control id');
    assert.notEqual(idA, 'SHAPE0001', "the ACK's MSH-10 is its own, not the inbound one");
    assert.notEqual(idA, idB, 'two ACKs never share a control id');
    assert.equal(field(b, 'MSA', 2), 'SHAPE0002');
  });
});

for (const [encoding, component] of [
  ['#*~\\&', '*'],
  ['|!@#$', '!'],
] as const) {
  const fs = encoding[0]!;
  test(`a message delimited "MSH${encoding}" gets an ACK in the same delimiters`, async () => {
    const f = (...fields: string[]) => fields.join(fs);
    const msg = hl7(
      f('MSH', encoding.slice(1), 'SENDAPP', 'SENDFAC', 'RECVAPP', 'RECVFAC', '20260301120000', '', `ADT${component}A08${component}ADT_A01`, 'DELIM0001', 'P', '2.5.1'),
      f('EVN', 'A08', '20260301120000'),
      f('PID', '1', '', `DELIM-MRN${component}${component}${component}SENDFAC${component}MR`, '', `TEST${component}PATIENT`),
    );
    await withEngine(await channelYaml('ack-delim', ACCEPT_ADT), async (te) => {
      const [ack] = await exchange(te.port, msg);
      assert.ok(ack);
      const text = ack.toString('latin1');
      assert.ok(text.startsWith(`MSH${encoding}${fs}`), `the ACK starts MSH${encoding}${fs}: ${JSON.stringify(text.slice(0, 12))}`);
      assert.equal(field(ack, 'MSH', 9), `ACK${component}A08${component}ACK`);
      assert.equal(field(ack, 'MSA', 1), 'AA');
      assert.equal(field(ack, 'MSA', 2), 'DELIM0001');
    });
  });
}

test('an ISO-8859-1 message that declares MSH-18 8859/1 gets an ACK echoing MSH-18 8859/1', async () => {
  const msg = Buffer.from(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|LATIN0001|P|2.5.1|||||DEU|8859/1\r' +
      'EVN|A01|20260301120000\r' +
      'PID|1||LATIN-MRN^^^SENDFAC^MR||MÜLLER^JOSÉ\r',
    'latin1',
  );
  assert.equal(msg.indexOf(0xdc), msg.indexOf(Buffer.from('MÜLLER', 'latin1')) + 1, 'Ü is the single ISO-8859-1 byte 0xDC');
  await withEngine(await channelYaml('ack-latin1', ACCEPT_ADT), async (te) => {
    const [ack] = await exchange(te.port, msg);
    assert.ok(ack);
    assert.equal(readAck(ack).code, 'AA');
    assert.equal(field(ack, 'MSH', 18), '8859/1');
  });
});

// ---------------------------------------------------------------------------------------------
// Duplicates

test('the same bytes sent twice are answered AA both times and stored once', async () => {
  const msg = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|DUP0001|P|2.5.1',
    'EVN|A01|20260301120000',
    'PID|1||DUP-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-dup', ACCEPT_ADT), async (te) => {
    const [a, b] = await exchange(te.port, msg, msg);
    assert.equal(readAck(a!).code, 'AA');
    assert.equal(readAck(b!).code, 'AA');
    const records = await allRecords(te.channel.topics.raw);
    assert.equal(records.filter((r) => envelope(r).msh?.controlId === 'DUP0001').length, 1);
  });
});

test('the same MSH-10 with different bytes is not a duplicate: both are stored', async () => {
  const original = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A08^ADT_A01|REUSED0001|P|2.5.1',
    'EVN|A08|20260301120000',
    'PID|1||REUSED-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  const differentContent = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120500||ADT^A08^ADT_A01|REUSED0001|P|2.5.1',
    'EVN|A08|20260301120500',
    'PID|1||REUSED-MRN^^^SENDFAC^MR||TEST^PATIENT^CHANGED',
  );
  await withEngine(await channelYaml('ack-reuse', ACCEPT_ADT), async (te) => {
    const [a, b] = await exchange(te.port, original, differentContent);
    assert.equal(readAck(a!).code, 'AA');
    assert.equal(readAck(b!).code, 'AA');
    const stored = (await allRecords(te.channel.topics.raw)).filter((r) => envelope(r).msh?.controlId === 'REUSED0001');
    assert.equal(stored.length, 2);
    const raws = stored.map((r) => Buffer.from(envelope(r).raw, 'base64'));
    assert.ok(raws.some((r) => r.equals(original)) && raws.some((r) => r.equals(differentContent)));
  });
});

test('the duplicate memory survives a restart: a resend to a new engine on the same channel is AA and not stored again', async () => {
  const msg = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|RESTART0001|P|2.5.1',
    'EVN|A01|20260301120000',
    'PID|1||RESTART-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  const yaml = await channelYaml('ack-restart', ACCEPT_ADT);
  const before = await withEngine(yaml, async (te) => {
    const [ack] = await exchange(te.port, msg);
    assert.equal(readAck(ack!).code, 'AA');
    return te.channel.topics.raw;
  });
  await withEngine(yaml, async (te) => {
    assert.equal(te.channel.topics.raw, before, 'same channel name, same raw topic');
    const [ack] = await exchange(te.port, msg);
    assert.equal(readAck(ack!).code, 'AA');
    const records = await allRecords(te.channel.topics.raw);
    assert.equal(records.filter((r) => envelope(r).msh?.controlId === 'RESTART0001').length, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Frames that are not stored as messages

test('an unparseable frame is answered AR with ERR, and its DLQ record (parse) is in Kafka before the AR', async () => {
  const broken = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|BROKEN0001|P|2.5.1',
    'PID|1||BROKEN-MRN^^^SENDFAC^MR||TEST^PATIENT',
    'this line is not a segment',
  );
  await withEngine(await channelYaml('ack-parse', ACCEPT_ADT), async (te) => {
    const [ack] = await exchange(te.port, broken);
    // Counted from the broker's offsets the moment the AR is in hand: no consumer, no waiting.
    const inDlq = await recordCount(te.channel.topics.dlq);
    const a = readAck(ack!);
    assert.equal(a.code, 'AR');
    assert.equal(a.controlId, 'BROKEN0001');
    assert.ok(a.err, 'the AR carries an ERR segment');
    assert.equal(inDlq, 1, 'the DLQ record was stored before the AR was sent');
    const [rec] = await allRecords(te.channel.topics.dlq);
    const dlq = envelope<DlqRecord>(rec!);
    assert.equal(dlq.failure.category, 'parse');
    assert.ok(Buffer.from(dlq.raw, 'base64').equals(broken), 'the DLQ keeps the exact bytes');
    assert.equal(await recordCount(te.channel.topics.raw), 0, 'nothing in the raw topic');
  });
});

/** One refusal: the channel's accept rules, the message, the expected ERR-3 code (null: any). */
interface Refusal {
  readonly why: string;
  readonly accept: string;
  readonly msh: string;
  readonly errCode: string | null;
}

const refusals: Refusal[] = [
  {
    why: 'a message type the channel does not know is answered AR with ERR-3 200',
    accept: 'accept:\n  messageTypes: ["ADT^A01", "ADT^A08"]\n',
    msh: 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ORU^R01^ORU_R01|REFUSE200|P|2.5.1',
    errCode: '200',
  },
  {
    why: 'a known message type with an event the channel does not accept is answered AR with ERR-3 201',
    accept: 'accept:\n  messageTypes: ["ADT^A01", "ADT^A08"]\n',
    msh: 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A03^ADT_A03|REFUSE201|P|2.5.1',
    errCode: '201',
  },
  {
    why: 'a sender outside accept.sendingApplications is answered AR with ERR',
    accept: 'accept:\n  sendingApplications: ["EPIC"]\n',
    msh: 'MSH|^~\\&|OTHERAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|REFUSESND|P|2.5.1',
    errCode: null,
  },
  {
    why: 'a processing id the channel does not accept is answered AR with ERR-3 202',
    accept: 'accept:\n  processingIds: [P]\n',
    msh: 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|REFUSE202|T|2.5.1',
    errCode: '202',
  },
  {
    why: 'HL7 version 3.0 in MSH-12 is answered AR with ERR-3 203',
    accept: ACCEPT_ADT,
    msh: 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|REFUSE203|P|3.0',
    errCode: '203',
  },
];

for (const r of refusals) {
  test(`${r.why}, and dead-lettered as rejected`, async () => {
    const msg = hl7(r.msh, 'EVN||20260301120000', 'PID|1||REFUSED-MRN^^^SENDFAC^MR||TEST^PATIENT');
    const controlId = r.msh.split('|')[9]!;
    await withEngine(await channelYaml('ack-refuse', r.accept), async (te) => {
      const [ack] = await exchange(te.port, msg);
      const a = readAck(ack!);
      assert.equal(a.code, 'AR');
      assert.equal(a.controlId, controlId);
      assert.ok(a.err, 'the AR carries an ERR segment');
      if (r.errCode !== null) assert.equal(errCode(ack!), r.errCode, `ERR-3: ${a.err}`);
      const [rec, ...more] = await allRecords(te.channel.topics.dlq);
      assert.equal(more.length, 0);
      const dlq = envelope<DlqRecord>(rec!);
      assert.equal(dlq.failure.category, 'rejected');
      assert.equal(dlq.msh?.controlId, controlId);
      assert.equal(await recordCount(te.channel.topics.raw), 0, 'a refused message is not in the raw topic');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Enhanced mode (MSH-15 accept acknowledgment, MSH-16 application acknowledgment)

test("on an 'auto' channel, MSH-15 AL / MSH-16 NE gets a commit ACK: CA", async () => {
  const msg = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|ENH0001|P|2.5.1|||AL|NE',
    'EVN|A01|20260301120000',
    'PID|1||ENH-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-enh', `${ACCEPT_ADT}ack:\n  mode: auto\n`), async (te) => {
    const [ack] = await exchange(te.port, msg);
    assert.equal(readAck(ack!).code, 'CA');
    assert.equal(readAck(ack!).controlId, 'ENH0001');
  });
});

test("on an 'auto' channel, MSH-15 NE gets no answer at all: the next message's CA is the first frame back", async () => {
  const noAck = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|NEVER0001|P|2.5.1|||NE|NE',
    'EVN|A01|20260301120000',
    'PID|1||NEVER-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  const wantsAck = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120001||ADT^A01^ADT_A01|ALWAYS0001|P|2.5.1|||AL|NE',
    'EVN|A01|20260301120001',
    'PID|1||NEVER-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-ne', `${ACCEPT_ADT}ack:\n  mode: auto\n`), async (te) => {
    const client = await RawMllpClient.open(te.port);
    try {
      client.writeFrame(noAck);
      client.writeFrame(wantsAck);
      const first = await client.nextAnswer();
      assert.ok(first);
      assert.equal(readAck(first).code, 'CA');
      assert.equal(readAck(first).controlId, 'ALWAYS0001', 'the first answer is for the second message');
      assert.equal(await client.nextAnswer(1000), null, 'nothing else comes back');
    } finally {
      client.close();
    }
  });
});

test("mode 'original' answers AA even when the message sets MSH-15", async () => {
  const msg = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|ORIG0001|P|2.5.1|||AL|NE',
    'EVN|A01|20260301120000',
    'PID|1||ORIG-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-orig', `${ACCEPT_ADT}ack:\n  mode: original\n`), async (te) => {
    const [ack] = await exchange(te.port, msg);
    assert.equal(readAck(ack!).code, 'AA');
  });
});

// ---------------------------------------------------------------------------------------------
// Batches and pipelining

test('a batch frame (FHS/BHS, 3 messages, BTS/FTS) gets one AA and each message is stored with its place and exact bytes', async () => {
  const messages = [1, 2, 3].map((i) =>
    hl7(
      `MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|2026030112000${i}||ADT^A08^ADT_A01|BATCH000${i}|P|2.5.1`,
      `EVN|A08|2026030112000${i}`,
      `PID|1||BATCH-MRN-${i}^^^SENDFAC^MR||TEST^PATIENT`,
    ),
  );
  const frame = Buffer.concat([
    hl7('FHS|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000', 'BHS|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000'),
    ...messages,
    hl7('BTS|3', 'FTS|1'),
  ]);
  await withEngine(await channelYaml('ack-batch', ACCEPT_ADT), async (te) => {
    const client = await RawMllpClient.open(te.port);
    try {
      const ack = await client.roundTrip(frame);
      assert.ok(ack);
      assert.equal(readAck(ack).code, 'AA');
      assert.equal(await client.nextAnswer(1000), null, 'one answer for the whole frame');
    } finally {
      client.close();
    }
    const stored = (await allRecords(te.channel.topics.raw)).map((r) => envelope(r));
    assert.equal(stored.length, 3);
    for (let i = 0; i < 3; i++) {
      const env = stored.find((e) => e.msh?.controlId === `BATCH000${i + 1}`);
      assert.ok(env, `message ${i + 1} is stored`);
      assert.deepEqual(env.batch, { index: i + 1, count: 3 });
      assert.ok(Buffer.from(env.raw, 'base64').equals(messages[i]!), `message ${i + 1} is stored byte for byte`);
    }
  });
});

test('50 frames written in one go on one connection are answered in send order and stored in send order', async () => {
  const ids = Array.from({ length: 50 }, (_, i) => `PIPE${String(i).padStart(4, '0')}`);
  // One patient, so every record has the same key and lands on one partition in storage order.
  const frames = ids.map((id, i) =>
    encodeFrame(
      hl7(
        `MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A08^ADT_A01|${id}|P|2.5.1`,
        'EVN|A08|20260301120000',
        `PID|1||PIPE-MRN^^^SENDFAC^MR||TEST^PATIENT^${i}`,
      ),
    ),
  );
  await withEngine(await channelYaml('ack-pipe', ACCEPT_ADT), async (te) => {
    const client = await RawMllpClient.open(te.port);
    const answered: string[] = [];
    try {
      client.writeRaw(Buffer.concat(frames));
      for (let i = 0; i < ids.length; i++) {
        const a = await client.nextAnswer();
        assert.ok(a, `answer ${i + 1} arrives`);
        assert.equal(readAck(a).code, 'AA');
        answered.push(readAck(a).controlId);
      }
    } finally {
      client.close();
    }
    assert.deepEqual(answered, ids, 'MSA-2 order is send order');

    const records = await allRecords(te.channel.topics.raw);
    assert.equal(records.length, 50);
    assert.equal(new Set(records.map((r) => `${r.partition}/${r.key}`)).size, 1, 'one key, one partition');
    const byOffset = [...records].sort((x, y) => Number(BigInt(x.offset) - BigInt(y.offset)));
    assert.deepEqual(
      byOffset.map((r) => envelope(r).msh?.controlId),
      ids,
      'offset order is send order',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// No PHI in logs

test('at log level debug, neither a stored message nor a parse failure puts patient data in the logs', async () => {
  const adt = readFileSync(join(REPO_DIR, 'test-messages/adt/adt-a01.hl7'));
  const brokenWithName = hl7(
    'MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000||ADT^A01^ADT_A01|PHIFAIL01|P|2.5.1',
    'PID|1||123456789^^^GENHOSP^MR||DOE^JANE^Q||19800215|F|||123 MAIN ST^APT 4B^SPRINGFIELD^IL^62701',
    'DOE JANE 19800215 123 MAIN ST is not a segment',
  );
  const phi = ['DOE', 'JANE', '123456789', '19800215', '123 MAIN ST'];
  for (const p of phi) assert.ok(adt.includes(p), `adt-a01.hl7 holds ${p}, so the check means something`);

  await withEngine(
    await channelYaml('ack-phi', ACCEPT_ADT),
    async (te) => {
      const [stored, refused] = await exchange(te.port, adt, brokenWithName);
      assert.equal(readAck(stored!).code, 'CA', 'adt-a01.hl7 asks for enhanced mode (MSH-15 AL)');
      assert.equal(readAck(refused!).code, 'AR');
      const logs = te.logs();
      assert.match(logs, /message answered/, 'debug logging is on and covers both messages');
      assert.match(logs, /dead-lettered/);
      for (const p of phi) assert.ok(!logs.includes(p), `the logs must not contain ${p}`);
    },
    { logLevel: 'debug' },
  );
});

test('the processing id is read with the message\'s own component separator: MSH-11 "P*I" in a "MSH#*~\\&" message passes processingIds [P]', async () => {
  const msg = hl7(
    'MSH#*~\\&#SENDAPP#SENDFAC#RECVAPP#RECVFAC#20260301120000##ADT*A01*ADT_A01#PMODE0001#P*I#2.5.1',
    'EVN#A01#20260301120000',
    'PID#1##PMODE-MRN***SENDFAC*MR##TEST*PATIENT',
  );
  await withEngine(await channelYaml('ack-pmode', `${ACCEPT_ADT}  processingIds: [P]\n`), async (te) => {
    const [ack] = await exchange(te.port, msg);
    assert.equal(readAck(ack!).code, 'AA', `answered ${readAck(ack!).code}: ${readAck(ack!).err ?? ''}`);
  });
});

test('a resend that arrives while the first copy is still being stored is answered AA and not stored twice', async () => {
  const msg = hl7(
    'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20260301120000||ADT^A01^ADT_A01|INFLIGHT01|P|2.5.1',
    'EVN|A01|20260301120000',
    'PID|1||INFLIGHT-MRN^^^SENDFAC^MR||TEST^PATIENT',
  );
  await withEngine(await channelYaml('ack-inflight', ACCEPT_ADT), async (te) => {
    // Two connections, as a sender that gave up waiting and reconnected would use.
    const [first, resend] = await Promise.all([RawMllpClient.open(te.port), RawMllpClient.open(te.port)]);
    try {
      first.writeFrame(msg);
      resend.writeFrame(msg);
      const [a, b] = await Promise.all([first.nextAnswer(), resend.nextAnswer()]);
      assert.equal(readAck(a!).code, 'AA');
      assert.equal(readAck(b!).code, 'AA');
    } finally {
      first.close();
      resend.close();
    }
    assert.equal(await recordCount(te.channel.topics.raw), 1);
  });
});
