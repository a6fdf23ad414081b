/**
 * The contract with downstream consumers: docs/asyncapi.yaml parses with the real AsyncAPI
 * parser, and every record the real engine writes to Kafka (raw, fhir, dlq) matches the
 * document's schemas for its topic: value, key and each header. Two engines run on the real
 * broker with the repository's default mapping set: a strict channel that refuses on purpose
 * (accept list, charset fallback 'reject', small frames), so ingest writes every kind of dead
 * letter, and an open channel fed every hand-made message of test-messages/ (ADT events, ORU,
 * ORM, OML, charset cases, bad input), so the schemas meet every kind of message the project has. Failures name record positions and schema paths, never record content.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Parser, DiagnosticSeverity, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { Kafka } from 'kafkajs';
import { causeOf } from '../../src/dlq/index.js';
import { AUDIT_TOPIC } from '../../src/records/index.js';
import { freePort } from '../support/net.js';
import { transformGroupId } from '../../src/transform/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { readTopic, testKafka, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';

const DOC_PATH = join(REPO_DIR, 'docs', 'asyncapi.yaml');
const CLI = join(REPO_DIR, 'dist', 'src', 'cli.js');
const MAPPING = join(REPO_DIR, 'mappings', 'default');
const MESSAGES = join(REPO_DIR, 'test-messages');
const message = (rel: string): Buffer => readFileSync(join(MESSAGES, rel));

// ------------------------------------------------------------------------------------------
// The document and validators built from the schemas the parser hands back

interface MessageContract {
  readonly channelId: string;
  readonly address: string;
  readonly payload: ValidateFunction;
  readonly headers: ValidateFunction;
  readonly key: ValidateFunction;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Ajv as strict as the project's other schemas, except strictRequired: the document makes fields
 * required under if/then (a transform dead letter must link its raw record), which is plain
 * JSON Schema but names properties declared one level up. The formats the document uses are
 * defined here (ajv ships none), and the extension keywords (the parser's own, and the
 * document's PHI mark) are declared so strict mode still refuses any other unknown keyword.
 */
function contractAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
  ajv.addFormat('uuid', { type: 'string', validate: (s: string) => UUID.test(s) });
  ajv.addKeyword({ keyword: 'x-parser-schema-id', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-contains-phi', schemaType: 'boolean' });
  return ajv;
}

async function parseDocument(): Promise<{ document: AsyncAPIDocumentInterface | undefined; diagnostics: Diagnostic[] }> {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(readFileSync(DOC_PATH, 'utf8'));
  return { document, diagnostics };
}

function asSchema(json: unknown, what: string): SchemaObject {
  assert.ok(typeof json === 'object' && json !== null, `${what}: no schema in the document`);
  return json as SchemaObject;
}

/** The one message of each channel, with its payload, headers and Kafka key schemas compiled. */
function contracts(doc: AsyncAPIDocumentInterface, ajv: Ajv): Map<string, MessageContract> {
  const out = new Map<string, MessageContract>();
  for (const ch of doc.channels().all()) {
    const messages = ch.messages().all();
    assert.equal(messages.length, 1, `channel ${ch.id()} describes ${messages.length} messages; this test expects one per topic`);
    const m = messages[0]!;
    const binding = m.bindings().get('kafka')?.value() as { key?: unknown } | undefined;
    out.set(ch.id(), {
      channelId: ch.id(),
      address: ch.address() ?? '',
      payload: ajv.compile(asSchema(m.payload()?.json(), `${ch.id()} payload`)),
      headers: ajv.compile(asSchema(m.headers()?.json(), `${ch.id()} headers`)),
      key: ajv.compile(asSchema(binding?.key, `${ch.id()} kafka key`)),
    });
  }
  return out;
}

function errorsOf(errors: readonly ErrorObject[] | null | undefined): string {
  // Where and which rule (an undocumented field's name included), never the value: records carry PHI.
  return (errors ?? [])
    .map((e) => {
      const extra = (e.params as { additionalProperty?: unknown }).additionalProperty;
      return `${e.instancePath || '/'} ${e.message ?? e.keyword}${typeof extra === 'string' ? ` (${extra})` : ''}`;
    })
    .join('; ');
}

/** Every way this record breaks its topic's contract, as text ('' when it keeps it). */
function violations(c: MessageContract, r: ReadRecord): string[] {
  const out: string[] = [];
  const at = `${c.channelId} ${r.partition}:${r.offset}`;
  let value: unknown;
  try {
    value = JSON.parse(r.value.toString('utf8'));
  } catch {
    return [`${at}: value is not JSON`];
  }
  if (!c.payload(value)) out.push(`${at} value: ${errorsOf(c.payload.errors)}`);
  if (!c.headers(r.headers)) out.push(`${at} headers: ${errorsOf(c.headers.errors)}`);
  if (!c.key(r.key)) out.push(`${at} key: ${errorsOf(c.key.errors)}`);
  return out;
}

// ------------------------------------------------------------------------------------------
// Traffic: what is sent, and the records read back

const HL7 = (...segments: string[]): Buffer => Buffer.from(segments.join('\r') + '\r', 'latin1');

/** A two-message FHS/BHS batch of synthetic patients: two raw records, each with its place. */
const BATCH = Buffer.concat([
  HL7('FHS|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120000', 'BHS|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120000'),
  HL7('MSH|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120001||ADT^A08^ADT_A01|CBATCH01|P|2.5.1', 'EVN|A08|20260301120001', 'PID|1||CT-MRN-1^^^TESTFAC^MR||TEST^PATIENT'),
  HL7('MSH|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120002||ADT^A08^ADT_A01|CBATCH02|P|2.5.1', 'EVN|A08|20260301120002', 'PID|1||CT-MRN-2^^^TESTFAC^MR||TEST^OTHER'),
  HL7('BTS|2', 'FTS|1'),
]);

/** No PID at all: keyed by sender and control id instead of by patient. */
const NO_PID = HL7('MSH|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120003||ADT^A08^ADT_A01|CNOPID01|P|2.5.1', 'EVN|A08|20260301120003');

/** A frame over the strict channel's 16 KiB limit: dead-lettered as `frame`, head only. */
const OVERSIZE = Buffer.concat([
  HL7('MSH|^~\\&|CONTRACT|TESTFAC|HL7ENGINE|TESTFAC|20260301120004||ADT^A08^ADT_A01|CBIG0001|P|2.5.1'),
  Buffer.from(`NTE|1||${'X'.repeat(20_000)}\r`, 'latin1'),
]);

interface Sent {
  readonly label: string;
  readonly bytes: Buffer;
  /** Raw records an accepted frame makes. */
  readonly messages: number;
  code: string;
}

/** Sends each frame on one connection, in order, and notes its answer code. */
async function send(port: number, frames: Sent[]): Promise<void> {
  const client = await RawMllpClient.open(port);
  try {
    for (const f of frames) {
      const ack = await client.roundTrip(f.bytes, 30_000);
      assert.ok(ack, `no answer for ${f.label}`);
      f.code = readAck(ack).code;
    }
  } finally {
    client.close();
  }
}

/** Records in a topic now: the sum of the partitions' end offsets (the topics are new and never compacted). */
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

/** Waits until the channel's transform group has committed past every raw record. */
async function transformCaughtUp(kafka: Kafka, te: TestEngine, timeoutMs: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ends = await admin.fetchTopicOffsets(te.channel.topics.raw);
      const committed = await admin.fetchOffsets({ groupId: transformGroupId(te.channel.name), topics: [te.channel.topics.raw] });
      const at = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      const behind = ends.filter((p) => Number(p.high) > 0 && (at.get(p.partition) ?? -1) < Number(p.high));
      if (behind.length === 0) return;
      if (Date.now() > deadline) throw new Error(`transform of ${te.channel.name} still behind on ${behind.length} partition(s) after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Every record of a topic (its count taken once the writers are done). */
async function readAll(kafka: Kafka, topic: string): Promise<ReadRecord[]> {
  const n = await recordCount(kafka, topic);
  if (n === 0) return [];
  const records = await readTopic(topic, { until: (rs) => rs.length >= n, timeoutMs: 60_000 });
  // More is possible on the audit topic, which other tests write to at the same time.
  assert.ok(records.length >= n, `read ${records.length} of ${n} records of ${topic}`);
  return records;
}

interface TopicRecords {
  readonly raw: ReadRecord[];
  readonly fhir: ReadRecord[];
  readonly dlq: ReadRecord[];
}

interface Run {
  readonly te: TestEngine;
  readonly sent: Sent[];
  records: TopicRecords | null;
}

/** The real `hl7-engine` command, as an operator runs it, against the suite's broker. */
async function hl7Engine(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, HL7_OPERATOR: 'contract-test' },
    // stdout is not kept: `dlq show --show-phi` prints message content there.
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 120_000,
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr };
}

/** An audit record of the strict channel, read back from the engine-wide topic other tests share. */
interface Audited {
  readonly record: ReadRecord;
  readonly kind: string;
}

let audit: Audited[] = [];
let replayDlq: ReadRecord[] = [];
let replayExit: number | null = null;
let doc: AsyncAPIDocumentInterface | undefined;
let diagnostics: Diagnostic[];
let byChannel: Map<string, MessageContract>;
let ajv: Ajv;
let strict: Run;
let open: Run;

const accepted = (run: Run): number => run.sent.filter((f) => f.code === 'AA').reduce((n, f) => n + f.messages, 0);
const refused = (run: Run): number => run.sent.filter((f) => f.code === 'AR').length;
const all = (topic: keyof TopicRecords): ReadRecord[] => [...(strict.records?.[topic] ?? []), ...(open.records?.[topic] ?? [])];
const stageOf = (r: ReadRecord): string => r.headers['dlq_stage'] ?? '';
const categoryOf = (r: ReadRecord): string => r.headers['dlq_category'] ?? '';

function parsed(): AsyncAPIDocumentInterface {
  assert.ok(doc, 'the parser returned no document');
  return doc;
}

/** hl7_issues headers that do not parse to the document's ConversionIssueList. */
function issueHeaderViolations(records: readonly ReadRecord[]): string[] {
  const schema = parsed().components().schemas().get('ConversionIssueList')?.json();
  const valid = ajv.compile(asSchema(schema, 'ConversionIssueList'));
  return records.flatMap((r) => {
    const header = r.headers['hl7_issues'];
    if (header === undefined) return [];
    return valid(JSON.parse(header)) ? [] : [`${r.partition}:${r.offset} hl7_issues: ${errorsOf(valid.errors)}`];
  });
}

function contract(id: string): MessageContract {
  const c = byChannel.get(id);
  assert.ok(c, `the document has no channel ${id}`);
  return c;
}

before(async () => {
  ({ document: doc, diagnostics } = await parseDocument());
  ajv = contractAjv();
  if (doc) byChannel = contracts(doc, ajv);

  // Strict: refuses ORM (accept list), undeclared non-UTF-8 bytes (fallback reject) and frames
  // over 16 KiB, so ingest writes frame, charset, parse and rejected dead letters; MFN passes
  // ingest and has no mapping, so the transform writes an unsupported one.
  const strictEngine = await startEngine(
    [
      `name: ${uniqueChannel('contract-strict')}`,
      'listener:',
      `  port: ${await freePort()}`,
      '  maxFrameBytes: 16384',
      'accept:',
      '  messageTypes: ["ADT^*", "ORU^*", "MFN^*"]',
      'charset:',
      '  fallback: reject',
      'ack:',
      '  mode: original',
      'dedupe:',
      '  windowSeconds: 0',
      `mapping: ${MAPPING}`,
      '',
    ].join('\n'),
  );
  const one = (label: string, bytes: Buffer, messages = 1): Sent => ({ label, bytes, messages, code: '' });
  strict = {
    te: strictEngine,
    records: null,
    sent: [
      one('adt-a01', message('adt/adt-a01.hl7')),
      one('oru-r01', message('oru/oru-r01.hl7')),
      one('batch of 2', BATCH, 2),
      one('no PID', NO_PID),
      one('charset repair: declared latin1, bytes UTF-8', message('charset/declared-latin1-but-utf8.hl7')),
      one('charset repair: LF terminators', message('charset/lf-terminated.hl7')),
      one('MFN (no mapping)', message('bad/mfn-not-accepted.hl7')),
      one('ORM (not accepted here)', message('orm/orm-o01.hl7')),
      one('not HL7', message('bad/not-hl7.txt')),
      one('latin1 without MSH-18 (fallback reject)', message('charset/latin1-name.hl7')),
    ],
  };
  // Open: the defaults a deployment starts from, fed every hand-made message. Each file is one
  // message (none is a batch), sent as one frame: one raw record per AA.
  const everyMessage = ['adt', 'oru', 'orm', 'financial', 'referral', 'problem', 'charset', 'bad'].flatMap((dir) =>
    readdirSync(join(MESSAGES, dir))
      .filter((f) => f !== 'README.md')
      .sort()
      .map((f) => one(`${dir}/${f}`, message(`${dir}/${f}`))),
  );
  assert.ok(everyMessage.length >= 30, `only ${everyMessage.length} files under test-messages/`);
  // Started once `strict` is set, so after() stops the strict engine when this start fails.
  const openEngine = await startEngine(
    [`name: ${uniqueChannel('contract-open')}`, 'listener:', `  port: ${await freePort()}`, 'ack:', '  mode: original', 'dedupe:', '  windowSeconds: 0', `mapping: ${MAPPING}`, ''].join('\n'),
  );
  open = { te: openEngine, records: null, sent: everyMessage };

  await send(strict.te.port, strict.sent);
  // The oversize frame closes its connection, so it goes last on a connection of its own.
  const big = one('oversize frame', OVERSIZE);
  await send(strict.te.port, [big]);
  strict.sent.push(big);
  await send(open.te.port, open.sent);

  const kafka = testKafka();
  for (const run of [strict, open]) {
    await transformCaughtUp(kafka, run.te, 120_000);
    const t = run.te.channel.topics;
    run.records = { raw: await readAll(kafka, t.raw), fhir: await readAll(kafka, t.fhir), dlq: await readAll(kafka, t.dlq) };
    const r = run.records;
    const byCategory = (stage: string): string =>
      JSON.stringify(Object.fromEntries([...new Set(r.dlq.filter((d) => stageOf(d) === stage).map(categoryOf))].map((c) => [c, r.dlq.filter((d) => stageOf(d) === stage && categoryOf(d) === c).length])));
    console.log(`contract: ${run.te.channel.name}: ${run.sent.length} frames sent, ${r.raw.length} raw, ${r.fhir.length} fhir, dlq ingest ${byCategory('ingest')} transform ${byCategory('transform')}`);
  }

  // An operator's decisions on the strict channel, through the CLI: a replay of every waiting
  // dead letter (nothing changed, so each fails again or is skipped: replay-stage dead letters
  // with and without a raw record), then one dead letter's content shown, which is audited.
  const name = strict.te.channel.name;
  const channels = ['--channels', dirname(strict.te.channel.file), '--channel', name];
  const dlqBefore = strict.records!.dlq.length;
  const replayRun = await hl7Engine(['replay', '--from', 'dlq', ...channels, '--reason', 'contract test: re-drive everything once', '--checkpoint-dir', mkdtempSync(join(tmpdir(), 'hl7-contract-'))]);
  replayExit = replayRun.code;
  assert.ok(replayRun.code === 0 || replayRun.code === 1, `replay exited ${replayRun.code}: ${replayRun.stderr.slice(0, 500)}`);
  const shown = await hl7Engine(['dlq', 'show', '--control-id', 'MFN0001', ...channels, '--show-phi', '--reason', 'contract test: audited look']);
  assert.equal(shown.code, 0, `dlq show exited ${shown.code}: ${shown.stderr.slice(0, 500)}`);
  replayDlq = (await readAll(kafka, strict.te.channel.topics.dlq)).filter((r) => stageOf(r) === 'replay');
  assert.ok(dlqBefore > 0);
  // And a decision on one dead letter that is waiting again, as the console would record it.
  const waiting = replayDlq[0];
  assert.ok(waiting, 'the replay dead-lettered some messages again');
  const decided = await hl7Engine(['dlq', 'assign', `${waiting.partition}:${waiting.offset}`, '--to', 'contract-reviewer', ...channels, '--reason', 'contract test: a decision']);
  assert.equal(decided.code, 0, `dlq assign exited ${decided.code}: ${decided.stderr.slice(0, 500)}`);
  // And one on the whole queue group of that dead letter (its category and cause): one record listing every member.
  const failure = (JSON.parse(waiting.value.toString('utf8')) as { failure: { category: string; message: string } }).failure;
  const grouped = await hl7Engine(['dlq', 'escalate', '--category', failure.category, '--cause', causeOf(failure.message), ...channels, '--reason', 'contract test: a group decision']);
  assert.equal(grouped.code, 0, `dlq escalate --category exited ${grouped.code}: ${grouped.stderr.slice(0, 500)}`);
  audit = (await readAll(kafka, AUDIT_TOPIC))
    .filter((r) => r.key === name)
    .map((record) => ({ record, kind: (JSON.parse(record.value.toString('utf8')) as { kind?: string }).kind ?? '' }));
});

after(async () => {
  await Promise.all([strict?.te.stop(), open?.te.stop()]);
});

// ------------------------------------------------------------------------------------------
// The document itself

test('docs/asyncapi.yaml parses with @asyncapi/parser without errors (warnings are printed)', () => {
  for (const d of diagnostics.filter((x) => x.severity !== DiagnosticSeverity.Error)) {
    console.log(`asyncapi ${DiagnosticSeverity[d.severity]}: ${d.code} ${d.message} at ${d.path.join('.')}`);
  }
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map((d) => `${d.code} ${d.message} at ${d.path.join('.')}`);
  assert.deepEqual(errors, []);
  assert.ok(doc, 'the parser returned no document');
});

test('the document has a channel for the raw, fhir, dlq and audit topics whose addresses are the engine’s topic names', () => {
  const te = strict.te;
  const name = te.channel.name;
  const topicOf = (id: string): string => contract(id).address.replace('{channel}', name);
  assert.deepEqual(
    { raw: topicOf('raw'), fhir: topicOf('fhir'), dlq: topicOf('dlq') },
    { raw: te.channel.topics.raw, fhir: te.channel.topics.fhir, dlq: te.channel.topics.dlq },
  );
  assert.equal(contract('audit').address, AUDIT_TOPIC);
  assert.deepEqual([...byChannel.keys()].sort(), ['audit', 'dlq', 'fhir', 'raw']);
});

test('every example in the document satisfies its own message’s payload and header schemas', () => {
  let examples = 0;
  const problems: string[] = [];
  for (const ch of parsed().channels().all()) {
    const c = contract(ch.id());
    for (const m of ch.messages().all()) {
      for (const ex of m.examples().all()) {
        examples++;
        const name = `${ch.id()} example ${ex.name() ?? '(unnamed)'}`;
        if (!c.payload(ex.payload())) problems.push(`${name} payload: ${errorsOf(c.payload.errors)}`);
        if (!c.headers(ex.headers())) problems.push(`${name} headers: ${errorsOf(c.headers.errors)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(examples >= 4, `expected an example for every message, found ${examples}`);
});

test('the schemas catch drift: a raw envelope with an undocumented field or without its bytes, and a Bundle that is not a transaction, are refused', () => {
  const raw = JSON.parse(strict.records!.raw[0]!.value.toString('utf8')) as Record<string, unknown>;
  const bundle = JSON.parse(strict.records!.fhir[0]!.value.toString('utf8')) as Record<string, unknown>;
  const { raw: _bytes, ...withoutBytes } = raw;
  assert.equal(contract('raw').payload(raw), true, 'the unchanged record is valid');
  assert.equal(contract('raw').payload({ ...raw, undocumented: 1 }), false);
  assert.equal(contract('raw').payload(withoutBytes), false);
  assert.equal(contract('fhir').payload(bundle), true, 'the unchanged Bundle is valid');
  assert.equal(contract('fhir').payload({ ...bundle, type: 'batch' }), false);
  const headers = strict.records!.raw[0]!.headers;
  assert.equal(contract('raw').headers({ ...headers, ce_specversion: '0.3' }), false);
  assert.equal(contract('raw').key('MRN12345'), false, 'a key that is not a patient hash or sender|control id is refused');
});

// ------------------------------------------------------------------------------------------
// Records the engine wrote

test('the strict channel answered as planned: AA for the good messages and MFN, AR for ORM, not-HL7, undecodable bytes and the oversize frame', () => {
  const codes = Object.fromEntries(strict.sent.map((f) => [f.label, f.code]));
  assert.deepEqual(codes, {
    'adt-a01': 'AA',
    'oru-r01': 'AA',
    'batch of 2': 'AA',
    'no PID': 'AA',
    'charset repair: declared latin1, bytes UTF-8': 'AA',
    'charset repair: LF terminators': 'AA',
    'MFN (no mapping)': 'AA',
    'ORM (not accepted here)': 'AR',
    'not HL7': 'AR',
    'latin1 without MSH-18 (fallback reject)': 'AR',
    'oversize frame': 'AR',
  });
});

test('every raw record (one per accepted message) matches the raw channel: envelope value, patient or sender key, CloudEvents headers', () => {
  for (const run of [strict, open]) assert.equal(run.records!.raw.length, accepted(run), `raw records of ${run.te.channel.name}`);
  const raw = all('raw');
  assert.ok(raw.length > 20, `only ${raw.length} raw records to check`);
  assert.deepEqual(raw.flatMap((r) => violations(contract('raw'), r)), []);
  // The records exercise the optional parts of the schema, not only the common case.
  const values = raw.map((r) => JSON.parse(r.value.toString('utf8')) as { batch?: unknown; charset: { repairs: unknown[] } });
  assert.ok(values.some((v) => v.batch !== undefined), 'a batch member was checked');
  assert.ok(values.some((v) => v.charset.repairs.length > 0), 'an envelope with repairs was checked');
  assert.ok(raw.some((r) => r.key?.startsWith('msg:')), 'a sender and control-id (hashed) key was checked');
  assert.ok(raw.some((r) => r.key?.startsWith('pt:')), 'a patient key was checked');
});

test('every fhir record matches the fhir channel: transaction Bundle, the raw record’s key, link headers, and an hl7_issues header that parses to the documented issue list', () => {
  const fhir = all('fhir');
  assert.ok(fhir.length > 10, `only ${fhir.length} Bundles to check`);
  assert.deepEqual(fhir.flatMap((r) => violations(contract('fhir'), r)), []);
  assert.deepEqual(issueHeaderViolations(fhir), []);
  assert.ok(fhir.some((r) => r.headers['hl7_issue_count'] !== '0'), 'a Bundle with issues was checked');
});

test('every raw record became exactly one Bundle or one transform dead letter', () => {
  for (const run of [strict, open]) {
    const r = run.records!;
    const fromTransform = r.dlq.filter((d) => stageOf(d) === 'transform').length;
    assert.equal(r.fhir.length + fromTransform, r.raw.length, `outputs of ${run.te.channel.name}`);
  }
});

test('every ingest dead letter (frame, charset, parse, rejected) matches the dlq channel: envelope plus failure, headers with category and stage', () => {
  const ingest = all('dlq').filter((r) => stageOf(r) === 'ingest');
  for (const run of [strict, open]) {
    assert.equal(run.records!.dlq.filter((r) => stageOf(r) === 'ingest').length, refused(run), `ingest dead letters of ${run.te.channel.name}`);
  }
  assert.deepEqual(ingest.flatMap((r) => violations(contract('dlq'), r)), []);
  const categories = new Set(ingest.map(categoryOf));
  for (const c of ['frame', 'charset', 'parse', 'rejected']) assert.ok(categories.has(c), `no ${c} dead letter was checked`);
  assert.ok(ingest.some((r) => r.key?.startsWith('frame:')), 'a dead letter of a frame without MSH was checked');
});

test('every transform dead letter matches the dlq channel, links to its raw record, and carries a documented hl7_issues list', () => {
  const transform = all('dlq').filter((r) => stageOf(r) === 'transform');
  assert.deepEqual(transform.flatMap((r) => violations(contract('dlq'), r)), []);
  assert.deepEqual(issueHeaderViolations(transform), []);
  assert.ok(transform.some((r) => categoryOf(r) === 'unsupported'), 'the MFN dead letter was checked');
  for (const run of [strict, open]) {
    const r = run.records!;
    const rawAt = new Set(r.raw.map((x) => `${x.partition}:${x.offset}`));
    for (const d of r.dlq.filter((x) => stageOf(x) === 'transform')) {
      const v = JSON.parse(d.value.toString('utf8')) as { rawRecord: { topic: string; partition: number; offset: string } };
      assert.equal(v.rawRecord.topic, run.te.channel.topics.raw);
      assert.ok(rawAt.has(`${v.rawRecord.partition}:${v.rawRecord.offset}`), `dead letter ${d.partition}:${d.offset} links to no raw record`);
      assert.deepEqual(
        [d.headers['hl7_raw_topic'], d.headers['hl7_raw_partition'], d.headers['hl7_raw_offset']],
        [v.rawRecord.topic, String(v.rawRecord.partition), v.rawRecord.offset],
      );
    }
  }
});

test('every dead letter a replay wrote (the CLI re-drove them and they failed again) matches the dlq channel, with the replay id and attempts 2', () => {
  assert.equal(replayExit, 1, 'the replay reports that messages failed again');
  assert.ok(replayDlq.length >= 4, `only ${replayDlq.length} replay dead letters`);
  assert.deepEqual(replayDlq.flatMap((r) => violations(contract('dlq'), r)), []);
  const values = replayDlq.map((r) => JSON.parse(r.value.toString('utf8')) as { rawRecord?: unknown; failure: { attempts: number } });
  assert.ok(values.every((v) => v.failure.attempts === 2));
  assert.ok(values.some((v) => v.rawRecord !== undefined), 'a replay dead letter of a stored message (MFN) was checked');
  assert.ok(values.some((v) => v.rawRecord === undefined), 'a replay dead letter of an ingest refusal was checked');
});

test('every audit record the CLI wrote for the channel (replay started and finished, PHI shown, a decision on one dead letter and one on a group) matches the audit channel', () => {
  assert.deepEqual(audit.map((a) => a.kind).sort(), ['dlq-decision', 'dlq-decision', 'dlq-phi-shown', 'replay-finished', 'replay-started']);
  const decisions = audit.filter((a) => a.kind === 'dlq-decision').map((a) => (JSON.parse(a.record.value.toString('utf8')) as { decision: { target?: unknown; targets?: unknown[] } }).decision);
  assert.deepEqual(decisions.map((d) => [d.target !== undefined, (d.targets?.length ?? 0) > 0]), [[true, false], [false, true]]);
  assert.deepEqual(audit.flatMap((a) => violations(contract('audit'), a.record)), []);
});
