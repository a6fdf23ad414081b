/**
 * Edit-and-resubmit on the real broker, with the engine running (so its transform converts
 * what is resubmitted). A sender labels two admissions HL7 version 2.9, which the channel
 * refuses at ingest (AR, dead letter `rejected`). An operator reads the first one's text (an
 * audited content view), corrects MSH-12 to 2.5.1 and resubmits it through the console; the
 * second is corrected from the terminal with `hl7-engine dlq resubmit`. Each becomes a new raw
 * record linked to its dead letter and is converted to a Bundle; the dead letters' bytes stay
 * as they were and they leave the queue; the audit record is in Kafka before the raw record.
 * Steps build on each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningConsole } from '../../src/console/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { readTopicRange, type TopicRecord } from '../../src/kafka/index.js';
import { AUDIT_TOPIC, HEADERS, type AuditRecord, type RecordRef } from '../../src/records/index.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { eventually } from '../transform/support.js';
import { addUsers, call, login, openTestConsole, refPath, type Client } from './fixture.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const kafka = testKafka();

/** An admission the sender mislabelled as HL7 2.9 (the channel takes 2.1 to 2.8). */
function mislabelled(controlId: string): string {
  const text = ADT_A01.replace('|MSG00001|P|2.5.1|', `|${controlId}|P|2.9|`);
  assert.ok(text.includes(`|${controlId}|P|2.9|`));
  return text;
}

let work: string;
let te: TestEngine;
let running: RunningConsole;
let base: string;
let viewer: Client;
let operator: Client;
/** The dead letters as Kafka held them before anything was resubmitted, by control id. */
const originals = new Map<string, TopicRecord>();

async function topicRecords(topic: string): Promise<TopicRecord[]> {
  const out: TopicRecord[] = [];
  await readTopicRange(kafka, topic, { onRecord: (r) => void out.push(r) });
  return out;
}

async function audits(): Promise<Array<{ record: AuditRecord; kafka: TopicRecord }>> {
  return (await topicRecords(AUDIT_TOPIC))
    .map((r) => ({ record: JSON.parse(r.value!.toString('utf8')) as AuditRecord, kafka: r }))
    .filter((a) => a.record.channel === te.channel.name);
}

const letterOf = (controlId: string): RecordRef => {
  const r = originals.get(controlId);
  assert.ok(r, `${controlId} was dead-lettered`);
  return { topic: r.topic, partition: r.partition, offset: r.offset };
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-resubmit-'));
  te = await startEngine(
    `name: ${uniqueChannel('resubmit')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${join(REPO_DIR, 'mappings', 'default')}\n`,
  );
  const client = await RawMllpClient.open(te.port);
  try {
    for (const id of ['RSB-1', 'RSB-2']) assert.equal(readAck((await client.roundTrip(Buffer.from(mislabelled(id), 'latin1')))!).code, 'AR');
  } finally {
    client.close();
  }
  assert.ok(await eventually(async () => (await topicRecords(te.channel.topics.dlq)).length === 2, 40_000), 'both admissions dead-lettered at ingest');
  for (const r of await topicRecords(te.channel.topics.dlq)) originals.set(r.headers[HEADERS.controlId]!, r);
  const usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['vera', 'viewer'], ['otto', 'operator']]);
  running = await openTestConsole({ kafka, channels: [te.channel], work, usersFile });
  base = running.url;
  viewer = await login(base, 'vera');
  operator = await login(base, 'otto');
});

after(async () => {
  await running?.stop();
  await te?.stop();
});

const resubmitPath = (r: RecordRef): string => `/api/dead-letters/${refPath(r)}/resubmit`;
const corrected = (text: string): string => text.replace('|P|2.9|', '|P|2.5.1|').split('\r').join('\n');

test('a viewer may not resubmit (403), nor an operator without the CSRF token (403); nothing is written', async () => {
  const before = { audit: (await audits()).length, raw: (await topicRecords(te.channel.topics.raw)).length };
  const body = { text: corrected(mislabelled('RSB-1')), reason: 'sender mislabelled the version' };
  const v = await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: viewer, body });
  assert.equal(v.status, 403, v.text);
  assert.match(v.body.error, /operator/);
  const o = await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: operator, body, csrf: false });
  assert.equal(o.status, 403, o.text);
  assert.match(o.body.error, /CSRF/);
  assert.deepEqual({ audit: (await audits()).length, raw: (await topicRecords(te.channel.topics.raw)).length }, before);
});

test('an edit ingest would refuse answers 422 with the reason, and nothing is audited or stored', async () => {
  const before = { audit: (await audits()).length, raw: (await topicRecords(te.channel.topics.raw)).length };
  const cases: Array<[string, string, RegExp]> = [
    ['still version 2.9', mislabelled('RSB-1').replace('EVN|', 'EVN|x'), /would refuse it: HL7 version 2\.9 is not supported/],
    ['no MSH', 'PID|1||X', /does not start with MSH/],
    ['a line break typed inside PID-5', corrected(mislabelled('RSB-1')).replace('DOE^JANE^Q', 'DOE\n^JANE^Q'), /cannot be parsed: segment \d+ .*does not start with a 3-character id/],
    ['unchanged', mislabelled('RSB-1'), /changes nothing/],
  ];
  for (const [what, text, reason] of cases) {
    const r = await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: operator, body: { text, reason: 'trying' } });
    assert.equal(r.status, 422, `${what}: ${r.text}`);
    assert.match(r.body.error, reason, what);
  }
  assert.equal((await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: operator, body: { reason: 'no text' } })).status, 400);
  assert.equal((await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: operator, body: { text: corrected(mislabelled('RSB-1')) } })).status, 400, 'no reason');
  assert.deepEqual({ audit: (await audits()).length, raw: (await topicRecords(te.channel.topics.raw)).length }, before);
  assert.equal((await call(base, 'GET', `/api/dead-letters/${refPath(letterOf('RSB-1'))}`, { as: viewer })).body.status, 'waiting');
});

let resubmitted: { newRecord: RecordRef; decision: AuditRecord; finished: AuditRecord };

test('an operator reads the text (audited), corrects MSH-12 and resubmits: the diff shows the one segment, the dead letter leaves the queue', async () => {
  const letter = letterOf('RSB-1');
  const shown = await call(base, 'POST', `/api/records/${refPath(letter)}/content`, { as: operator, body: { reason: 'the sender says the version is wrong' } });
  assert.equal(shown.status, 201, shown.text);
  const r = await call(base, 'POST', resubmitPath(letter), { as: operator, body: { text: corrected(shown.body.text), reason: 'sender mislabelled MSH-12; confirmed 2.5.1 by phone' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.body.diff, [
    '- MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000.123-0500||ADT^A01^ADT_A01|RSB-1|P|2.9|||AL|NE||UNICODE UTF-8',
    '+ MSH|^~\\&|EPIC|GENHOSP|HL7ENGINE|GENHOSP|20261121083000.123-0500||ADT^A01^ADT_A01|RSB-1|P|2.5.1|||AL|NE||UNICODE UTF-8',
    `  (${shown.body.text.split('\r').filter(Boolean).length - 1} segments unchanged)`,
  ]);
  assert.equal(r.body.deadLetter.status, 'resubmitted');
  assert.deepEqual(r.body.deadLetter.resubmittedAs, r.body.newRecord);
  assert.equal(r.body.newRecord.topic, te.channel.topics.raw);
  resubmitted = r.body;
  const waiting = (await call(base, 'GET', `/api/dead-letters?channel=${te.channel.name}`, { as: viewer })).body.map((d: { controlId: string }) => d.controlId);
  assert.deepEqual(waiting, ['RSB-2']);
});

test('the audit record is in Kafka before the raw record, names the dead letter and the hashes, never the text', async () => {
  const trail = (await audits()).filter((a) => a.record.decision?.action === 'resubmit');
  assert.deepEqual(trail.map((a) => [a.record.id, a.record.outcome]), [[resubmitted.decision.id, 'recorded'], [resubmitted.finished.id, 'completed']]);
  const [decision, finished] = trail;
  const raw = (await topicRecords(te.channel.topics.raw)).find((r) => r.partition === resubmitted.newRecord.partition && r.offset === resubmitted.newRecord.offset);
  assert.ok(raw, 'the new raw record is in Kafka');
  assert.ok(decision!.kafka.timestamp <= raw.timestamp, 'the decision was sent to Kafka before the raw record');
  assert.equal(raw.headers[HEADERS.resubmitAudit], decision!.record.id);
  const d = decision!.record;
  assert.equal(d.operator, 'otto');
  assert.equal(d.reason, 'sender mislabelled MSH-12; confirmed 2.5.1 by phone');
  assert.deepEqual(d.decision?.target, letterOf('RSB-1'));
  const original = JSON.parse(originals.get('RSB-1')!.value!.toString('utf8')) as { rawSha256: string; text: string };
  const stored = JSON.parse(raw.value!.toString('utf8')) as { rawSha256: string; text: string; listener: string };
  assert.deepEqual(d.resubmission, { originalSha256: original.rawSha256, editedSha256: stored.rawSha256, editedLength: Buffer.from(stored.text, 'utf8').length });
  assert.deepEqual(finished!.record.resubmission?.newRecord, resubmitted.newRecord);
  for (const a of trail) assert.ok(!a.kafka.value!.toString('utf8').includes('GENHOSP') && !a.kafka.value!.toString('utf8').includes('DOE^JANE'), 'no message text in the audit record');
  assert.equal(stored.listener, 'resubmit');
  assert.match(stored.text, /\|RSB-1\|P\|2\.5\.1\|/);
});

test('the new raw record links to the dead letter and is converted to a Bundle; the lineage runs dead letter -> resubmitted -> raw -> Bundle', async () => {
  const raw = (await topicRecords(te.channel.topics.raw)).find((r) => r.offset === resubmitted.newRecord.offset && r.partition === resubmitted.newRecord.partition)!;
  assert.deepEqual(
    [raw.headers[HEADERS.resubmitOfTopic], raw.headers[HEADERS.resubmitOfPartition], raw.headers[HEADERS.resubmitOfOffset]],
    [letterOf('RSB-1').topic, String(letterOf('RSB-1').partition), letterOf('RSB-1').offset],
  );
  let lineage: any;
  const converted = await eventually(async () => {
    await running.indexer.caughtUp(20_000);
    lineage = (await call(base, 'GET', `/api/messages/${refPath(resubmitted.newRecord)}`, { as: viewer })).body;
    return lineage.bundles.length === 1;
  }, 60_000);
  assert.ok(converted, `the engine's transform converted the resubmitted message: ${JSON.stringify(lineage)}`);
  assert.deepEqual(lineage.message.resubmitOf, letterOf('RSB-1'));
  assert.equal(lineage.message.outcome, 'converted');
  assert.equal(lineage.message.controlId, 'RSB-1');
  assert.ok(lineage.bundles[0].resources.some((r: string) => r.startsWith('Patient/')));
  const found = (await call(base, 'GET', '/api/messages?controlId=RSB-1', { as: viewer })).body.map((m: { kind: string; outcome: string }) => `${m.kind}:${m.outcome}`).sort();
  assert.deepEqual(found, ['dlq:dead-lettered', 'raw:converted'], 'found by control id: the refused frame and the resubmitted message');
  const dead = (await call(base, 'GET', `/api/messages/${refPath(letterOf('RSB-1'))}`, { as: viewer })).body;
  assert.deepEqual(dead.deadLetters.map((d: { status: string; resubmittedAs: RecordRef }) => [d.status, d.resubmittedAs]), [['resubmitted', resubmitted.newRecord]]);
});

test('the dead letter keeps its bytes, and its history shows the content view and both resubmit records', async () => {
  const now = (await topicRecords(te.channel.topics.dlq)).find((r) => r.offset === letterOf('RSB-1').offset && r.partition === letterOf('RSB-1').partition)!;
  assert.ok(now.value!.equals(originals.get('RSB-1')!.value!), 'the dead letter is byte for byte as it was');
  const d = (await call(base, 'GET', `/api/dead-letters/${refPath(letterOf('RSB-1'))}`, { as: viewer })).body;
  assert.deepEqual(
    d.history.map((h: { kind: string; action?: string; outcome?: string; operator: string }) => `${h.kind}:${h.action ?? '-'}:${h.outcome}:${h.operator}`),
    ['content-shown:-:shown:otto', 'dlq-decision:resubmit:recorded:otto', 'dlq-decision:resubmit:completed:otto'],
  );
  assert.deepEqual(d.history.at(-1).newRecord, resubmitted.newRecord);
  const again = await call(base, 'POST', resubmitPath(letterOf('RSB-1')), { as: operator, body: { text: corrected(mislabelled('RSB-1')).replace('RSB-1', 'RSB-1b'), reason: 'twice' } });
  assert.equal(again.status, 409, again.text);
  assert.match(again.body.error, /resubmitted/);
});

test('`hl7-engine dlq resubmit` does the same from the terminal: it refuses a bad edit, then prints the diff and where the record landed', async () => {
  const letter = letterOf('RSB-2');
  const file = join(work, 'edited.hl7');
  const args = ['resubmit', `${letter.partition}:${letter.offset}`, '--channels', join(te.channel.file, '..'), '--channel', te.channel.name, '--file', file, '--reason', 'sender mislabelled MSH-12'];
  let out = '';
  let err = '';
  const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (err += t) };
  writeFileSync(file, mislabelled('RSB-2').replace('ADT^A01^ADT_A01', 'ADT^A08^ADT_A01').split('\r').join('\n'));
  assert.equal(await runDlq(args, io, { kafka, env: { ...process.env, HL7_OPERATOR: 'terminal-tess' } }), 1);
  assert.match(err, /nothing resubmitted: .*not supported/);
  assert.equal(await runDlq(args.filter((a) => a !== '--reason' && a !== 'sender mislabelled MSH-12'), io, { kafka }), 2, 'no resubmit without a reason');
  writeFileSync(file, corrected(mislabelled('RSB-2')));
  out = '';
  err = '';
  assert.equal(await runDlq(args, io, { kafka, env: { ...process.env, HL7_OPERATOR: 'terminal-tess' } }), 0, err);
  assert.match(out, new RegExp(`^resubmit ${te.channel.topics.dlq} ${letter.partition}:${letter.offset} \\(RSB-2\\) by terminal-tess: audit record `, 'm'));
  assert.match(out, /^ {2}- MSH\|.*\|RSB-2\|P\|2\.9\|/m);
  assert.match(out, /^ {2}\+ MSH\|.*\|RSB-2\|P\|2\.5\.1\|/m);
  assert.match(out, new RegExp(`^stored as ${te.channel.topics.raw} \\d+:\\d+ `, 'm'));
  await running.indexer.caughtUp(20_000);
  const d = (await call(base, 'GET', `/api/dead-letters/${refPath(letter)}`, { as: viewer })).body;
  assert.equal(d.status, 'resubmitted');
  assert.ok(d.resubmittedAs, 'the console links it to the new raw record');
  assert.equal(d.history.at(-1).operator, 'terminal-tess');
  let listed = '';
  await runDlq(['list', '--channels', join(te.channel.file, '..'), '--channel', te.channel.name], { stdout: (t) => void (listed += t), stderr: () => undefined }, { kafka });
  assert.match(listed, /0 waiting, .* 2 resubmitted/);
});
