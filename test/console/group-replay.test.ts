/**
 * Replaying a whole queue group from the console, on the real broker. A mapping broken on
 * purpose (Patient.gender takes PID-8 as sent, so "F" fails validation) dead-letters four
 * admissions: one group (category validation, one cause) in a channel whose review.maxGroupSize
 * is 3. The group is too large until one member is discarded; the replay needs its dry run
 * first; a group that changed since its dry run needs a new one; the replay converts every
 * member once the mapping is fixed, and each shows the replay in its history. Steps build on
 * each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelConfig } from '../../src/channel/index.js';
import type { RunningConsole } from '../../src/console/index.js';
import { readTopicRange } from '../../src/kafka/index.js';
import { AUDIT_TOPIC, type AuditRecord } from '../../src/records/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { addUsers, brokenGenderMapping, call, login, openTestConsole, refPath, type Client } from './fixture.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const kafka = testKafka();
let work: string;
let mapping: { setDir: string; fix(): void };
let channel: ChannelConfig;
let running: RunningConsole;
let base: string;
let viewer: Client;
let operator: Client;
let group: { channel: string; category: string; cause: string };

async function audits(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  await readTopicRange(kafka, AUDIT_TOPIC, { onRecord: (r) => void out.push(JSON.parse(r.value!.toString('utf8')) as AuditRecord) });
  return out.filter((a) => a.channel === channel.name);
}

const waiting = async (): Promise<string[]> =>
  (await call(base, 'GET', `/api/dead-letters?channel=${channel.name}`, { as: viewer })).body.map((d: { controlId: string }) => d.controlId).sort();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-group-replay-'));
  mapping = brokenGenderMapping(work);
  const te = await startEngine(
    `name: ${uniqueChannel('group-replay')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nreview:\n  maxGroupSize: 3\nmapping: ${mapping.setDir}\n`,
  );
  channel = te.channel;
  try {
    const client = await RawMllpClient.open(te.port);
    try {
      for (const id of ['GRR-1', 'GRR-2', 'GRR-3', 'GRR-4']) assert.equal(readAck((await client.roundTrip(Buffer.from(ADT_A01.replace('|MSG00001|', `|${id}|`), 'latin1')))!).code, 'AA');
    } finally {
      client.close();
    }
    const dead = await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 4, timeoutMs: 40_000 });
    assert.equal(dead.length, 4, 'four admissions dead-lettered by the mapping');
  } finally {
    await te.stop();
  }
  const usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['vera', 'viewer'], ['otto', 'operator']]);
  running = await openTestConsole({ kafka, channels: [channel], work, usersFile });
  base = running.url;
  viewer = await login(base, 'vera');
  operator = await login(base, 'otto');
  const [q] = (await call(base, 'GET', '/api/queue', { as: viewer })).body;
  assert.equal(q.groups.length, 1, 'one group: the four validation failures share their cause');
  group = { channel: channel.name, category: q.groups[0].category, cause: q.groups[0].cause };
  assert.equal(group.category, 'validation');
});

after(async () => {
  await running?.stop();
});

test('a viewer may not replay a group (403), nor an operator without the CSRF token (403)', async () => {
  const v = await call(base, 'POST', '/api/queue/replay', { as: viewer, body: { ...group, dryRun: true } });
  assert.equal(v.status, 403, v.text);
  const o = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: true }, csrf: false });
  assert.equal(o.status, 403, o.text);
  assert.match(o.body.error, /CSRF/);
});

test('a group larger than review.maxGroupSize is refused (422) with the count, even for a dry run; nothing is written', async () => {
  const before = (await audits()).length;
  const r = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: true } });
  assert.equal(r.status, 422, r.text);
  assert.match(r.body.error, /4 dead letters .* at most 3 \(review\.maxGroupSize\)/);
  assert.equal((await audits()).length, before);
});

test('the replay needs a dry run of the group first (409); the dry run shows the diff of every member and changes nothing', async () => {
  const [fourth] = (await call(base, 'GET', `/api/dead-letters?channel=${channel.name}`, { as: viewer })).body.filter((d: { controlId: string }) => d.controlId === 'GRR-4');
  const discarded = await call(base, 'POST', `/api/dead-letters/${refPath(fourth.ref)}/decisions`, { as: operator, body: { action: 'discard', reason: 'test admission sent twice by the sender' } });
  assert.equal(discarded.status, 201, discarded.text);
  const early = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: false, reason: 'mapping fixed' } });
  assert.equal(early.status, 409, early.text);
  assert.match(early.body.error, /dry run of this group first/);
  mapping.fix();
  const before = (await audits()).length;
  const dry = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: true } });
  assert.equal(dry.status, 201, dry.text);
  assert.equal(dry.body.count, 3);
  assert.equal(dry.body.counts.converted, 3);
  assert.equal(dry.body.diff.filter((l: string) => /would write Bundle: \+Patient\//.test(l)).length, 3, dry.body.diff.join('\n'));
  assert.deepEqual(await waiting(), ['GRR-1', 'GRR-2', 'GRR-3'], 'a dry run changes nothing');
  assert.equal((await audits()).length, before, 'a dry run writes nothing');
});

test('a group that changed since its dry run needs a new one (409)', async () => {
  const [third] = (await call(base, 'GET', `/api/dead-letters?channel=${channel.name}`, { as: viewer })).body.filter((d: { controlId: string }) => d.controlId === 'GRR-3');
  assert.equal((await call(base, 'POST', `/api/dead-letters/${refPath(third.ref)}/decisions`, { as: operator, body: { action: 'resolve', reason: 'fixed at the sender' } })).status, 201);
  const r = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: false, reason: 'mapping fixed' } });
  assert.equal(r.status, 409, r.text);
  assert.match(r.body.error, /the group changed since its dry run \(3 then, 2 now\)/);
});

test('the replay converts every member; they leave the queue, the audit records list them, and each history shows the replay', async () => {
  assert.equal((await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: true } })).status, 201);
  const r = await call(base, 'POST', '/api/queue/replay', { as: operator, body: { ...group, dryRun: false, reason: 'mapping fixed: PID-8 through table 0001' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.outcome, 'completed');
  assert.equal(r.body.counts.converted, 2);
  assert.deepEqual(r.body.deadLetters.map((d: { controlId: string; status: string }) => `${d.controlId}:${d.status}`).sort(), ['GRR-1:resolved', 'GRR-2:resolved']);
  assert.deepEqual(await waiting(), []);
  const trail = (await audits()).filter((a) => a.replayId === r.body.replayId);
  assert.deepEqual(trail.map((a) => [a.kind, a.operator, a.reason]), [
    ['replay-started', 'otto', 'mapping fixed: PID-8 through table 0001'],
    ['replay-finished', 'otto', 'mapping fixed: PID-8 through table 0001'],
  ]);
  const listed = (trail[0]!.selection?.['offsets'] as Array<{ partition: number; offset: string }>).map((o) => `${o.partition}:${o.offset}`).sort();
  assert.deepEqual(listed, r.body.deadLetters.map((d: { ref: { partition: number; offset: string } }) => `${d.ref.partition}:${d.ref.offset}`).sort(), 'the members, listed when the replay started');
  for (const d of r.body.deadLetters) {
    const h = (await call(base, 'GET', `/api/dead-letters/${refPath(d.ref)}`, { as: viewer })).body.history;
    assert.deepEqual(h.map((e: { kind: string; operator: string }) => `${e.kind}:${e.operator}`), ['replay-finished:otto']);
  }
});
