/**
 * Decisions on a whole queue group, on the real broker. A channel that accepts only ADT^A01, with
 * a mapping broken on purpose (Patient.gender takes PID-8 as sent, so "F" fails validation) and
 * review.maxGroupSize 3, dead-letters:
 *   validation: 3 admissions (one cause)
 *   rejected:   4 ORU^R01 ("message type ORU is not accepted") and 2 ADT^A04 ("event A04 ...")
 * An operator assigns, escalates and resolves the validation group in the console, one audit
 * record per decision listing every member; the terminal discards the A04 cause; the ORU cause
 * (4) and the whole rejected category (6) are larger than the bound and refused with nothing
 * written. Steps build on each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningConsole } from '../../src/console/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { AUDIT_TOPIC, type AuditRecord, type RecordRef } from '../../src/records/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { endOffsets } from '../transform/support.js';
import type { ChannelConfig } from '../../src/channel/index.js';
import { addUsers, brokenGenderMapping, call as apiCall, login as apiLogin, openTestConsole, type Answer, type Client } from './fixture.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORU_R01 = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');

const kafka = testKafka();
let work: string;
let usersFile: string;
let channel: ChannelConfig;
let running: RunningConsole;
let base: string;
let viewer: Client;
let operator: Client;

interface Letter {
  ref: RecordRef;
  controlId: string;
  category: string;
  cause: string;
  status: string;
  assignee: string | null;
  escalated: boolean;
  history: Array<{ auditId: string; action?: string; operator: string; reason: string }>;
}

const call = (method: string, path: string, opts: { as?: Client; body?: unknown; csrf?: boolean } = {}): Promise<Answer> => apiCall(base, method, path, opts);
const login = (user: string): Promise<Client> => apiLogin(base, user);

async function decisions(): Promise<AuditRecord[]> {
  const ends = await endOffsets(kafka, AUDIT_TOPIC);
  const total = [...ends.values()].reduce((n, o) => n + Number(o), 0);
  const records = await readTopic(AUDIT_TOPIC, { until: (rs) => rs.length >= total, timeoutMs: 20_000 });
  return records.map((r) => JSON.parse(r.value.toString()) as AuditRecord).filter((a) => a.channel === channel.name && a.kind === 'dlq-decision');
}

/** Every dead letter of the channel (any status), with its history. */
async function letters(category: string): Promise<Letter[]> {
  const list = (await call('GET', `/api/dead-letters?channel=${channel.name}&category=${category}&status=all`, { as: viewer })).body as Letter[];
  const out: Letter[] = [];
  for (const d of list) out.push((await call('GET', `/api/dead-letters/${encodeURIComponent(d.ref.topic)}/${d.ref.partition}/${d.ref.offset}`, { as: viewer })).body as Letter);
  return out;
}

async function queueGroups(): Promise<Array<{ category: string; cause: string; count: number }>> {
  const q = (await call('GET', '/api/queue', { as: viewer })).body.find((c: { channel: string }) => c.channel === channel.name);
  return q.groups;
}

const refKey = (r: RecordRef): string => `${r.topic}/${r.partition}/${r.offset}`;
const GROUP = '/api/queue/decisions';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-group-'));
  const { setDir } = brokenGenderMapping(work);
  const te = await startEngine(
    `name: ${uniqueChannel('group')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nreview:\n  maxGroupSize: 3\nmapping: ${setDir}\n`,
  );
  channel = te.channel;
  assert.equal(channel.review.maxGroupSize, 3);
  try {
    const client = await RawMllpClient.open(te.port);
    try {
      for (const id of ['GRP-A1', 'GRP-A2', 'GRP-A3']) {
        assert.equal(readAck((await client.roundTrip(Buffer.from(ADT_A01.replace('|MSG00001|', `|${id}|`), 'latin1')))!).code, 'AA');
      }
      for (const id of ['GRP-O1', 'GRP-O2', 'GRP-O3', 'GRP-O4']) {
        assert.equal(readAck((await client.roundTrip(Buffer.from(ORU_R01.replace(/\|[^|]*\|P\|2/, `|${id}|P|2`), 'latin1')))!).code, 'AR');
      }
      for (const id of ['GRP-F1', 'GRP-F2']) {
        const a04 = ADT_A01.replace('|MSG00001|', `|${id}|`).replace('ADT^A01^ADT_A01', 'ADT^A04^ADT_A01');
        assert.equal(readAck((await client.roundTrip(Buffer.from(a04, 'latin1')))!).code, 'AR');
      }
    } finally {
      client.close();
    }
    const dead = await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 9, timeoutMs: 40_000 });
    assert.equal(dead.length, 9, 'three admissions dead-lettered by the mapping, four ORU and two A04 refused at ingest');
  } finally {
    await te.stop();
  }
  usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['vera', 'viewer'], ['otto', 'operator']]);
  running = await openTestConsole({ kafka, channels: [channel], work, usersFile });
  base = running.url;
  viewer = await login('vera');
  operator = await login('otto');
});

after(async () => {
  await running?.stop();
});

test('the queue shows the three groups the decisions below work on', async () => {
  // The cause is the failure message with numbers of 3+ digits as N (so the channel name may change).
  const groups = (await queueGroups()).map((g) => [g.category, g.cause.replace(/ on channel \S+$/, ''), g.count]);
  assert.deepEqual(groups, [
    ['rejected', 'message type ORU is not accepted', 4],
    ['validation', groups.find((g) => g[0] === 'validation')![1], 3],
    ['rejected', 'event A04 is not accepted', 2],
  ]);
});

test('the OpenAPI document describes the group decision endpoint', async () => {
  const doc = (await call('GET', '/api/openapi.json', { as: viewer })).body;
  const schema = doc.paths[GROUP].post.requestBody.content['application/json'].schema;
  assert.deepEqual(schema.required, ['category', 'action', 'reason']);
  // The queue: a channel's, or a write-back destination's (outbound dead letters).
  assert.deepEqual(schema.oneOf, [{ required: ['channel'] }, { required: ['destination'] }]);
  assert.ok(doc.paths[GROUP].post.responses['422'], 'the too-large answer is described');
});

test('a viewer cannot take a group decision (403), nor an operator without the CSRF token (403); nothing is written', async () => {
  const before = (await decisions()).length;
  const body = { channel: channel.name, category: 'validation', action: 'resolve', reason: 'x' };
  const asViewer = await call('POST', GROUP, { as: viewer, body });
  assert.equal(asViewer.status, 403);
  assert.match(asViewer.body.error, /operator role/);
  const noCsrf = await call('POST', GROUP, { as: operator, csrf: false, body });
  assert.equal(noCsrf.status, 403);
  assert.match(noCsrf.body.error, /CSRF/);
  assert.equal((await decisions()).length, before);
  assert.ok((await letters('validation')).every((d) => d.status === 'waiting' && d.history.length === 0));
});

test('a group larger than review.maxGroupSize is refused (422) with the count and the bound; nothing is written', async () => {
  const before = (await decisions()).length;
  const oru = (await queueGroups()).find((g) => g.cause.startsWith('message type ORU '))!;
  const byCause = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'rejected', cause: oru.cause, action: 'discard', reason: 'the lab sends ORU here by mistake' } });
  assert.equal(byCause.status, 422, byCause.text);
  assert.match(byCause.body.error, /^4 dead letters of category rejected with that cause in channel .* are waiting; one group decision takes at most 3 \(review\.maxGroupSize\)/);
  const whole = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'rejected', action: 'discard', reason: 'all of it' } });
  assert.equal(whole.status, 422, whole.text);
  assert.match(whole.body.error, /^6 dead letters of category rejected in channel/);
  assert.equal((await decisions()).length, before);
  assert.equal((await letters('rejected')).filter((d) => d.status === 'waiting').length, 6);
});

test('a group nobody waits in answers 404; a decision body without a reason 400', async () => {
  assert.equal((await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'mapping', action: 'resolve', reason: 'x' } })).status, 404);
  assert.equal((await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'validation', action: 'resolve' } })).status, 400);
});

test('assigning a group by cause is one audit record listing every member; each member shows the assignee and the decision in its history', async () => {
  const before = await decisions();
  const group = (await queueGroups()).find((g) => g.category === 'validation')!;
  const r = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'validation', cause: group.cause, action: 'assign', assignee: 'ana', reason: 'ana owns the PID-8 mapping' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.count, 3);
  const written = (await decisions()).slice(before.length);
  assert.equal(written.length, 1, 'one audit record for the whole group');
  const a = written[0]!;
  assert.equal(a.id, r.body.decision.id);
  assert.equal(a.operator, 'otto');
  assert.equal(a.reason, 'ana owns the PID-8 mapping');
  assert.deepEqual(a.decision?.group, { category: 'validation', cause: group.cause });
  const members = await letters('validation');
  assert.deepEqual(a.decision?.targets?.map(refKey).sort(), members.map((d) => refKey(d.ref)).sort());
  for (const d of members) {
    assert.equal(d.status, 'waiting', d.controlId);
    assert.equal(d.assignee, 'ana', d.controlId);
    assert.deepEqual(d.history.map((h) => [h.auditId, h.action, h.operator]), [[a.id, 'assign', 'otto']], d.controlId);
  }
});

test('escalating a whole category marks every member, and they keep waiting', async () => {
  const r = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'validation', action: 'escalate', reason: 'every admission fails' } });
  assert.equal(r.status, 201, r.text);
  const members = await letters('validation');
  assert.equal(members.length, 3);
  for (const d of members) {
    assert.equal(d.escalated, true, d.controlId);
    assert.equal(d.status, 'waiting', d.controlId);
    assert.equal(d.history.at(-1)?.auditId, r.body.decision.id, d.controlId);
  }
});

test('resolving the group takes every member out of the queue, here and in `hl7-engine dlq list`', async () => {
  const r = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'validation', action: 'resolve', reason: 'mapping fixed; Bundles re-sent by the sender' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.body.deadLetters.map((d: Letter) => d.status), ['resolved', 'resolved', 'resolved']);
  const members = await letters('validation');
  assert.deepEqual(members.map((d) => [d.status, d.history.at(-1)?.action, d.history.at(-1)?.auditId]), members.map(() => ['resolved', 'resolve', r.body.decision.id]));
  assert.ok(!(await queueGroups()).some((g) => g.category === 'validation'), 'the group left the queue');
  let out = '';
  assert.equal(await runDlq(['list', '--channels', join(channel.file, '..'), '--channel', channel.name], { stdout: (t) => (out += t), stderr: () => undefined }, { kafka }), 0);
  assert.match(out, /: 6 waiting in /);
  assert.ok(!/GRP-A\d/.test(out), out);
  const again = await call('POST', GROUP, { as: operator, body: { channel: channel.name, category: 'validation', action: 'resolve', reason: 'again' } });
  assert.equal(again.status, 404, 'a decided group has nobody waiting');
});

test('`hl7-engine dlq discard --category --cause` decides a group from the terminal; the console shows it in each member\'s history', async () => {
  const a04 = (await queueGroups()).find((g) => g.cause.startsWith('event A04 '))!;
  let out = '';
  let err = '';
  const argv = ['discard', '--category', 'rejected', '--cause', a04.cause, '--reason', 'A04 goes to the registration channel', '--channels', join(channel.file, '..'), '--channel', channel.name];
  const code = await runDlq(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { kafka, env: { ...process.env, HL7_OPERATOR: 'terminal-tess' } });
  assert.equal(code, 0, err);
  assert.match(out, /^discard 2 dead letter\(s\) of category rejected with cause "event A04 is not accepted on channel .*" in .* by terminal-tess: audit record /);
  await running.indexer.caughtUp(20_000);
  const rejected = await letters('rejected');
  const discarded = rejected.filter((d) => d.status === 'discarded').map((d) => d.controlId).sort();
  assert.deepEqual(discarded, ['GRP-F1', 'GRP-F2']);
  for (const d of rejected.filter((x) => x.status === 'discarded')) assert.deepEqual(d.history.map((h) => [h.action, h.operator]), [['discard', 'terminal-tess']]);
  assert.equal(rejected.filter((d) => d.status === 'waiting').length, 4, 'the ORU cause is untouched');
});

test('the terminal refuses a group over review.maxGroupSize too, and writes nothing', async () => {
  const before = (await decisions()).length;
  let err = '';
  const argv = ['resolve', '--category', 'rejected', '--reason', 'all of it', '--channels', join(channel.file, '..'), '--channel', channel.name];
  const code = await runDlq(argv, { stdout: () => undefined, stderr: (t) => (err += t) }, { kafka });
  assert.equal(code, 1);
  assert.match(err, /^nothing decided: 4 dead letters of category rejected in .* are waiting; one group decision takes at most 3 \(review\.maxGroupSize of channel /);
  assert.equal((await decisions()).length, before);
});

test('the terminal refuses a decision naming both one dead letter and a group, and --cause without --category', async () => {
  const dirs = ['--channels', join(channel.file, '..'), '--channel', channel.name, '--reason', 'x'];
  let err = '';
  assert.equal(await runDlq(['resolve', '0:0', '--category', 'rejected', ...dirs], { stdout: () => undefined, stderr: (t) => (err = t) }, { kafka }), 2);
  assert.match(err, /not both/);
  assert.equal(await runDlq(['resolve', '0:0', '--cause', 'x', ...dirs], { stdout: () => undefined, stderr: (t) => (err = t) }, { kafka }), 2);
  assert.match(err, /--cause narrows a group decision/);
});
