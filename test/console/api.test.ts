/**
 * The operator console's API on the real broker, as an analyst lives it: a mapping broken on
 * purpose (Patient.gender takes PID-8 as sent, so "F" fails validation) dead-letters three
 * admissions, and the channel refuses an ORU at ingest (AR). The console indexes the topics,
 * finds messages by control id, type, ACK, outcome and patient hash; operators assign, escalate,
 * resolve and discard dead letters, each an audit record first; one is replayed after a dry
 * run once the mapping is fixed; content is shown only to an operator who gave a reason, after
 * the audit record is stored. Deleting the index rebuilds it with the same answers. Steps build
 * on each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningConsole } from '../../src/console/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { AUDIT_TOPIC, type AuditRecord } from '../../src/records/index.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';
import { endOffsets } from '../transform/support.js';
import type { ChannelConfig } from '../../src/channel/index.js';
import { addUsers, brokenGenderMapping, call as apiCall, login as apiLogin, openTestConsole, PASSWORD, type Answer, type Client } from './fixture.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORU_R01 = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');

/** The PHI that must never reach an answer unless a content view was asked for and audited. */
const PATIENTS = [
  { controlId: 'CON-1', mrn: 'MRN-CON-7001', family: 'WINTERBOTTOM', given: 'PERPETUA' },
  { controlId: 'CON-2', mrn: 'MRN-CON-7002', family: 'FAIRWEATHER', given: 'BARNABY' },
  { controlId: 'CON-3', mrn: 'MRN-CON-7003', family: 'HOLLINGSWORTH', given: 'EUGENIA' },
];
const PHI = PATIENTS.flatMap((p) => [p.mrn, p.family, p.given]);

function admission(p: (typeof PATIENTS)[number]): Buffer {
  const text = ADT_A01.replace('|MSG00001|', `|${p.controlId}|`)
    .replace('123456789^^^GENHOSP^MR', `${p.mrn}^^^GENHOSP^MR`)
    .replace('DOE^JANE^Q^^MS^^L~DOE^JANIE^^^^^N', `${p.family}^${p.given}^^^^^L`);
  assert.ok(text.includes(p.mrn) && text.includes(p.family));
  return Buffer.from(text, 'latin1');
}

const kafka = testKafka();
/** Two hours after the messages arrive: with slaMinutes 60, everything waiting is overdue. */
const LATER = new Date(Date.now() + 2 * 3600_000);
let work: string;
let mapping: { setDir: string; fix(): void };
let usersFile: string;
let channel: ChannelConfig;
let running: RunningConsole;
let base: string;
/** Every answer body the test saw, but those of content views, for the PHI check at the end. */
const seen: string[] = [];

/** An API call as `fixture.call`, its answer kept for the PHI check unless `record: false`. */
async function call(method: string, path: string, opts: { as?: Client; body?: unknown; csrf?: boolean; record?: boolean } = {}): Promise<Answer> {
  const answer = await apiCall(base, method, path, opts);
  if (opts.record !== false) seen.push(answer.text);
  return answer;
}

const login = (user: string): Promise<Client> => apiLogin(base, user);

async function auditRecords(): Promise<AuditRecord[]> {
  const ends = await endOffsets(kafka, AUDIT_TOPIC);
  const total = [...ends.values()].reduce((n, o) => n + Number(o), 0);
  const records = await readTopic(AUDIT_TOPIC, { until: (rs) => rs.length >= total, timeoutMs: 20_000 });
  return records.map((r) => JSON.parse(r.value.toString()) as AuditRecord).filter((a) => a.channel === channel.name);
}

async function openConsole(indexFile: string): Promise<void> {
  running = await openTestConsole({ kafka, channels: [channel], work, usersFile, indexFile, now: () => LATER });
  base = running.url;
}

let viewer: Client;
let operator: Client;
let admin: Client;
const ref = (r: { topic: string; partition: number; offset: string }): string => `${encodeURIComponent(r.topic)}/${r.partition}/${r.offset}`;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-console-'));
  mapping = brokenGenderMapping(work);
  const name = uniqueChannel('console');
  const te = await startEngine(
    `name: ${name}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nreview:\n  slaMinutes: 60\nmapping: ${mapping.setDir}\n`,
  );
  channel = te.channel;
  try {
    const client = await RawMllpClient.open(te.port);
    try {
      for (const p of PATIENTS) assert.equal(readAck((await client.roundTrip(admission(p)))!).code, 'AA');
      assert.equal(readAck((await client.roundTrip(Buffer.from(ORU_R01.replace(/\|[^|]*\|P\|2/, '|CON-ORU|P|2'), 'latin1')))!).code, 'AR');
    } finally {
      client.close();
    }
    const dead = await readTopic(channel.topics.dlq, { until: (rs) => rs.length >= 4, timeoutMs: 40_000 });
    assert.equal(dead.length, 4, 'three admissions dead-lettered by the mapping, one ORU refused at ingest');
  } finally {
    await te.stop();
  }
  usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['vera', 'viewer'], ['otto', 'operator'], ['ada', 'admin']]);
  await openConsole(join(work, 'index-1.sqlite'));
  viewer = await login('vera');
  operator = await login('otto');
  admin = await login('ada');
});

after(async () => {
  await running?.stop();
});

test('without a session every endpoint answers 401, the OpenAPI document included', async () => {
  for (const path of ['/api/messages', '/api/queue', '/api/openapi.json', '/api/session']) {
    assert.equal((await call('GET', path)).status, 401, path);
  }
});

test('the OpenAPI 3.1 document lists every endpoint the API serves', async () => {
  const r = await call('GET', '/api/openapi.json', { as: viewer });
  assert.equal(r.status, 200);
  assert.equal(r.body.openapi, '3.1.0');
  for (const p of ['/api/session', '/api/messages', '/api/queue', '/api/dead-letters/{topic}/{partition}/{offset}/decisions', '/api/records/{topic}/{partition}/{offset}/content']) {
    assert.ok(r.body.paths[p], `${p} is described`);
  }
});

test('search by control id finds the one admission, dead-lettered after it was ACKed AA', async () => {
  const r = await call('GET', '/api/messages?controlId=CON-2', { as: viewer });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.length, 1);
  const m = r.body[0];
  assert.equal(m.kind, 'raw');
  assert.equal(m.messageType, 'ADT^A01');
  assert.equal(m.sendingApplication, 'EPIC');
  assert.equal(m.ackCode, 'AA');
  assert.equal(m.outcome, 'dead-lettered');
  assert.match(m.patientKey, /^pt:[0-9a-f]{32}$/);
});

test('search by type, ACK code and outcome: the ORU refused at ingest was answered AR', async () => {
  const oru = await call('GET', '/api/messages?messageType=ORU%5ER01', { as: viewer });
  assert.equal(oru.body.length, 1);
  assert.equal(oru.body[0].ackCode, 'AR');
  assert.equal(oru.body[0].failure.category, 'rejected');
  assert.equal((await call('GET', `/api/messages?channel=${channel.name}&outcome=dead-lettered`, { as: viewer })).body.length, 4);
  assert.equal((await call('GET', `/api/messages?channel=${channel.name}&ackCode=AA`, { as: viewer })).body.length, 3);
  assert.equal((await call('GET', `/api/messages?channel=${channel.name}&outcome=converted`, { as: viewer })).body.length, 0);
  assert.equal((await call('GET', '/api/messages?outcome=lost', { as: viewer })).status, 400);
});

test('search pages by cursor: a full page links to the next with rel="next", and following the links gives the one-page answer', async () => {
  const all = await call('GET', `/api/messages?channel=${channel.name}`, { as: viewer });
  assert.equal(all.body.length, 4, 'three admissions and the ORU refused at ingest');
  assert.equal(all.link, null, 'a page that is not full has no next page');
  const pages: unknown[][] = [];
  let next: string | null = `/api/messages?channel=${channel.name}&limit=3`;
  while (next !== null && pages.length < 10) {
    const r: Answer = await call('GET', next, { as: viewer });
    assert.equal(r.status, 200);
    pages.push(r.body);
    next = r.link === null ? null : /^<([^>]+)>; rel="next"$/.exec(r.link)![1]!;
    if (next !== null) assert.match(next, new RegExp(`^/api/messages\\?channel=${channel.name}&limit=3&after=[A-Za-z0-9_-]+$`));
  }
  assert.deepEqual(pages.map((p) => p.length), [3, 1], 'a full page, then the rest without a link');
  assert.deepEqual(pages.flat(), all.body);
  const bad = await call('GET', '/api/messages?after=bm90LWEtY3Vyc29y', { as: viewer });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /after must be the cursor/);
});

test('a patient is found by the hash of the identifier, which is posted, never put in a URL', async () => {
  const key = await call('POST', '/api/patient-key', { as: viewer, body: { identifier: PATIENTS[0]!.mrn, authority: 'GENHOSP', sendingFacility: 'GENHOSP' }, record: false });
  assert.equal(key.status, 200, key.text);
  const r = await call('GET', `/api/messages?patientKey=${encodeURIComponent(key.body.patientKey)}`, { as: viewer });
  assert.deepEqual(r.body.map((m: { controlId: string }) => m.controlId), ['CON-1']);
  assert.equal((await call('GET', `/api/messages?patientKey=${PATIENTS[0]!.mrn}`, { as: viewer })).status, 400, 'an identifier in clear is refused');
});

test('the queue groups waiting dead letters by category and cause, with ages past the channel SLA overdue', async () => {
  const r = await call('GET', '/api/queue', { as: viewer });
  const q = r.body.find((c: { channel: string }) => c.channel === channel.name);
  assert.equal(q.slaMinutes, 60);
  assert.equal(q.waiting, 4);
  assert.equal(q.overdue, 4);
  assert.ok(q.oldestAgeSeconds >= 2 * 3600 - 120, `oldest age ${q.oldestAgeSeconds}`);
  assert.deepEqual(q.groups.map((g: { category: string; count: number; overdue: number }) => [g.category, g.count, g.overdue]), [['validation', 3, 3], ['rejected', 1, 1]]);
  assert.ok(q.groups.every((g: { oldestAgeSeconds: number }) => g.oldestAgeSeconds >= 2 * 3600 - 120), JSON.stringify(q.groups));
  assert.ok(!('deadLetters' in q.groups[0]), 'a group carries counts, not its members');
});

test('a group\'s members come a page at a time from its members URL, oldest first, each page linking the next', async () => {
  const q = (await call('GET', '/api/queue', { as: viewer })).body.find((c: { channel: string }) => c.channel === channel.name);
  const group = q.groups.find((g: { category: string }) => g.category === 'validation');
  assert.match(group.members, /^\/api\/queue\/members\?channel=/);
  const ids: string[] = [];
  const sizes: number[] = [];
  let next: string | null = `${group.members}&limit=2`;
  for (let n = 0; next !== null; n++) {
    assert.ok(n < 5, 'the pages end');
    const r = await call('GET', next, { as: viewer });
    assert.equal(r.status, 200, r.text);
    sizes.push(r.body.length);
    ids.push(...r.body.map((d: { controlId: string; overdue: boolean; category: string }) => `${d.controlId}:${d.category}:${d.overdue}`));
    next = r.link === null ? null : /^<([^>]+)>; rel="next"$/.exec(r.link)![1]!;
  }
  assert.deepEqual(sizes, [2, 1], 'a full page with a link, then the last without');
  assert.deepEqual(ids.sort(), ['CON-1:validation:true', 'CON-2:validation:true', 'CON-3:validation:true']);
  const params = new URLSearchParams(group.members.split('?')[1]);
  params.delete('stage');
  const noStage = await call('GET', `/api/queue/members?${params}`, { as: viewer });
  assert.equal(noStage.status, 400);
  assert.match(noStage.body.error, /stage is required/);
  assert.equal((await call('GET', `${group.members}&after=junk`, { as: viewer })).status, 400, 'a cursor not from a Link header');
  assert.equal((await call('GET', `/api/queue/members?channel=nope&category=validation&stage=transform&cause=x`, { as: viewer })).status, 409, 'a channel this console does not serve');
  assert.equal((await call('GET', group.members)).status, 401);
});

test('the dead-letter list comes a page at a time, oldest first, each full page linking the next', async () => {
  const all = await call('GET', `/api/dead-letters?channel=${channel.name}`, { as: viewer });
  assert.equal(all.status, 200, all.text);
  assert.equal(all.body.length, 4, 'three validation failures and the ORU refused at ingest');
  assert.equal(all.link, null, 'a page that is not full has no next page');
  const pages: unknown[][] = [];
  let next: string | null = `/api/dead-letters?channel=${channel.name}&limit=3`;
  while (next !== null && pages.length < 10) {
    const r: Answer = await call('GET', next, { as: viewer });
    assert.equal(r.status, 200, r.text);
    pages.push(r.body);
    next = r.link === null ? null : /^<([^>]+)>; rel="next"$/.exec(r.link)![1]!;
    if (next !== null) assert.match(next, new RegExp(`^/api/dead-letters\\?channel=${channel.name}&limit=3&after=[A-Za-z0-9_-]+$`));
  }
  assert.deepEqual(pages.map((p) => p.length), [3, 1], 'a full page, then the rest without a link');
  assert.deepEqual(pages.flat(), all.body);
  assert.equal((await call('GET', `/api/dead-letters?channel=${channel.name}&after=junk`, { as: viewer })).status, 400, 'a cursor not from a Link header');
  const unknown = await call('GET', `/api/dead-letters?chanel=${channel.name}`, { as: viewer });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error, /unknown parameter chanel/);
});

test('the queue is in the metrics: waiting by channel and category, overdue, oldest age, as the inbound direction', async () => {
  const text = await running.metrics.registry.metrics();
  assert.match(text, new RegExp(`hl7_console_dlq_waiting\\{direction="inbound",channel="${channel.name}",category="validation"\\} 3\n`));
  assert.match(text, new RegExp(`hl7_console_dlq_waiting\\{direction="inbound",channel="${channel.name}",category="rejected"\\} 1\n`));
  assert.match(text, new RegExp(`hl7_console_dlq_overdue\\{direction="inbound",channel="${channel.name}"\\} 4\n`));
  const oldest = new RegExp(`hl7_console_dlq_oldest_age_seconds\\{direction="inbound",channel="${channel.name}"\\} (\\d+)`).exec(text);
  assert.ok(oldest && Number(oldest[1]) >= 2 * 3600 - 120, text);
});

function waitingLetter(controlId: string): Promise<{ ref: { topic: string; partition: number; offset: string } }> {
  return call('GET', `/api/dead-letters?channel=${channel.name}`, { as: viewer }).then((r) => {
    const d = r.body.find((x: { controlId: string }) => x.controlId === controlId);
    assert.ok(d, `${controlId} waits`);
    return d;
  });
}

test('a viewer cannot decide (403), and an operator without the CSRF token cannot either (403)', async () => {
  const d = await waitingLetter('CON-1');
  const asViewer = await call('POST', `/api/dead-letters/${ref(d.ref)}/decisions`, { as: viewer, body: { action: 'resolve', reason: 'x' } });
  assert.equal(asViewer.status, 403);
  assert.match(asViewer.body.error, /operator role/);
  const noCsrf = await call('POST', `/api/dead-letters/${ref(d.ref)}/decisions`, { as: operator, csrf: false, body: { action: 'resolve', reason: 'x' } });
  assert.equal(noCsrf.status, 403);
  assert.match(noCsrf.body.error, /CSRF/);
  assert.equal((await waitingLetter('CON-1')).ref.offset, d.ref.offset, 'still waiting');
});

test('assign and escalate are audit records (who, when, why, what) and show in the history; the dead letter keeps waiting', async () => {
  const d = await waitingLetter('CON-1');
  const a = await call('POST', `/api/dead-letters/${ref(d.ref)}/decisions`, { as: operator, body: { action: 'assign', assignee: 'ana', reason: 'ana knows the PID-8 mapping' } });
  assert.equal(a.status, 201, a.text);
  const e = await call('POST', `/api/dead-letters/${ref(d.ref)}/decisions`, { as: operator, body: { action: 'escalate', reason: 'affects every admission' } });
  assert.equal(e.status, 201, e.text);
  const audit = (await auditRecords()).filter((x) => x.kind === 'dlq-decision' && x.decision?.target?.offset === d.ref.offset && x.decision.target.topic === d.ref.topic);
  assert.deepEqual(audit.map((x) => [x.operator, x.decision?.action, x.reason, x.decision?.assignee ?? null]), [
    ['otto', 'assign', 'ana knows the PID-8 mapping', 'ana'],
    ['otto', 'escalate', 'affects every admission', null],
  ]);
  const detail = (await call('GET', `/api/dead-letters/${ref(d.ref)}`, { as: viewer })).body;
  assert.equal(detail.status, 'waiting');
  assert.equal(detail.assignee, 'ana');
  assert.equal(detail.escalated, true);
  assert.deepEqual(detail.history.map((h: { action: string; auditId: string }) => [h.action, h.auditId]), audit.map((x) => [x.decision?.action, x.id]));
});

test('resolve and discard take dead letters out of the queue, here and in `hl7-engine dlq list`', async () => {
  const oru = await waitingLetter('CON-ORU');
  const two = await waitingLetter('CON-2');
  assert.equal((await call('POST', `/api/dead-letters/${ref(oru.ref)}/decisions`, { as: operator, body: { action: 'resolve', reason: 'sender fixed its routing; ORU goes to the lab channel' } })).status, 201);
  assert.equal((await call('POST', `/api/dead-letters/${ref(two.ref)}/decisions`, { as: operator, body: { action: 'discard', reason: 'test admission sent to production by mistake' } })).status, 201);
  assert.equal((await call('POST', `/api/dead-letters/${ref(two.ref)}/decisions`, { as: operator, body: { action: 'resolve', reason: 'again' } })).status, 409, 'a decided dead letter takes no more decisions');
  assert.equal((await call('GET', `/api/dead-letters/${ref(two.ref)}`, { as: viewer })).body.status, 'discarded');
  const q = (await call('GET', '/api/queue', { as: viewer })).body.find((c: { channel: string }) => c.channel === channel.name);
  assert.equal(q.waiting, 2);
  let out = '';
  const code = await runDlq(['list', '--channels', join(channel.file, '..'), '--channel', channel.name], { stdout: (t) => (out += t), stderr: () => undefined }, { kafka });
  assert.equal(code, 0);
  assert.match(out, /: 2 waiting in /);
  assert.ok(!out.includes('CON-2') && !out.includes('CON-ORU'), out);
});

test('a decision taken with `hl7-engine dlq assign` in the terminal shows in the console history, with who took it', async () => {
  const d = await waitingLetter('CON-1');
  let out = '';
  let err = '';
  const argv = ['assign', `${d.ref.partition}:${d.ref.offset}`, '--to', 'bo', '--reason', 'ana is away this week', '--channels', join(channel.file, '..'), '--channel', channel.name];
  const code = await runDlq(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { kafka, env: { ...process.env, HL7_OPERATOR: 'terminal-tess' } });
  assert.equal(code, 0, err);
  assert.match(out, /^assign .* by terminal-tess: audit record /);
  await running.indexer.caughtUp(20_000);
  const detail = (await call('GET', `/api/dead-letters/${ref(d.ref)}`, { as: viewer })).body;
  assert.equal(detail.assignee, 'bo');
  assert.deepEqual(detail.history.at(-1), { ...detail.history.at(-1), operator: 'terminal-tess', action: 'assign', assignee: 'bo', reason: 'ana is away this week' });
  const again = await runDlq(['resolve', `${d.ref.partition}:${d.ref.offset}`, '--channels', join(channel.file, '..'), '--channel', channel.name], { stdout: () => undefined, stderr: (t) => (err = t) }, { kafka });
  assert.equal(again, 2, 'no decision without a reason');
  assert.match(err, /--reason/);
});

test('a replay needs its dry run first; the dry run shows the diff, the replay converts and the dead letter leaves the queue', async () => {
  mapping.fix();
  const d = await waitingLetter('CON-3');
  const path = `/api/dead-letters/${ref(d.ref)}/replay`;
  const early = await call('POST', path, { as: operator, body: { dryRun: false, reason: 'mapping fixed' } });
  assert.equal(early.status, 409);
  assert.match(early.body.error, /dry run/);
  const dry = await call('POST', path, { as: operator, body: { dryRun: true } });
  assert.equal(dry.status, 201, dry.text);
  assert.equal(dry.body.counts.converted, 1);
  assert.match(dry.body.diff.join('\n'), /would write Bundle: \+Patient\//);
  assert.equal((await call('GET', `/api/dead-letters/${ref(d.ref)}`, { as: viewer })).body.status, 'waiting', 'a dry run changes nothing');
  const real = await call('POST', path, { as: operator, body: { dryRun: false, reason: 'mapping fixed: PID-8 through table 0001' } });
  assert.equal(real.status, 201, real.text);
  assert.equal(real.body.outcome, 'completed');
  assert.equal(real.body.counts.converted, 1);
  assert.equal(real.body.deadLetter.status, 'resolved');
  const kinds = real.body.deadLetter.history.map((h: { kind: string; operator: string }) => `${h.kind}:${h.operator}`);
  assert.deepEqual(kinds, ['replay-finished:otto']);
  const started = (await auditRecords()).filter((a) => a.replayId === real.body.replayId).map((a) => a.kind);
  assert.deepEqual(started, ['replay-started', 'replay-finished']);
});

test('lineage: the raw record leads to its dead letter (resolved by the replay) and to the Bundle the replay wrote', async () => {
  const [m] = (await call('GET', '/api/messages?controlId=CON-3', { as: viewer })).body;
  assert.equal(m.outcome, 'converted');
  const l = (await call('GET', `/api/messages/${ref(m.ref)}`, { as: viewer })).body;
  assert.equal(l.message.controlId, 'CON-3');
  assert.equal(l.deadLetters.length, 1);
  assert.deepEqual(l.deadLetters[0].rawRecord, m.ref);
  assert.equal(l.deadLetters[0].status, 'resolved');
  assert.equal(l.bundles.length, 1);
  assert.equal(l.bundles[0].ref.topic, channel.topics.fhir);
  assert.ok(l.bundles[0].resources.some((r: string) => r.startsWith('Patient/')));
});

test('content is for operators with a reason, and its audit record is in Kafka before the text is returned', async () => {
  const [m] = (await call('GET', '/api/messages?controlId=CON-1', { as: viewer })).body;
  const path = `/api/records/${ref(m.ref)}/content`;
  assert.equal((await call('POST', path, { as: viewer, body: { reason: 'curious' }, record: false })).status, 403);
  assert.equal((await call('POST', path, { as: operator, body: {}, record: false })).status, 400, 'no reason, no content');
  const before = (await auditRecords()).filter((a) => a.kind === 'content-shown').length;
  const r = await call('POST', path, { as: operator, body: { reason: 'checking PID-8 as the sender wrote it' }, record: false });
  assert.equal(r.status, 201, r.text);
  assert.ok(r.body.text.includes(PATIENTS[0]!.family), 'the content view shows the message');
  const shown = (await auditRecords()).filter((a) => a.kind === 'content-shown');
  assert.equal(shown.length, before + 1);
  const a = shown.at(-1)!;
  assert.equal(a.id, r.body.audit);
  assert.equal(a.operator, 'otto');
  assert.equal(a.reason, 'checking PID-8 as the sender wrote it');
  assert.deepEqual(a.shown?.map((s) => [s.topic, s.partition, s.offset, s.controlId]), [[m.ref.topic, m.ref.partition, m.ref.offset, 'CON-1']]);
  const history = (await call('GET', `/api/dead-letters/${ref((await waitingLetter('CON-1')).ref)}`, { as: viewer })).body.history;
  assert.ok(history.every((h: { kind: string }) => h.kind === 'dlq-decision'), 'the raw record was shown, not the dead letter');
});

test('deleting the index rebuilds it from Kafka with the same answers', async () => {
  const questions = [
    `/api/messages?channel=${channel.name}`,
    `/api/messages?channel=${channel.name}&outcome=converted`,
    `/api/messages?channel=${channel.name}&outcome=dead-lettered`,
    `/api/messages?channel=${channel.name}&outcome=stored`,
    '/api/queue',
    `/api/dead-letters?channel=${channel.name}&status=all`,
  ];
  const answers = [];
  for (const q of questions) answers.push((await call('GET', q, { as: viewer })).body);
  // Each group's first page of members, read the same way from the rebuilt index.
  const groups = (answers[4] as Array<{ groups: Array<{ members: string }> }>).flatMap((e) => e.groups.map((g) => g.members));
  assert.ok(groups.length > 0, 'something still waits to compare');
  for (const m of groups) {
    questions.push(m);
    answers.push((await call('GET', m, { as: viewer })).body);
  }
  const letters = answers[5] as Array<{ ref: { topic: string; partition: number; offset: string } }>;
  const details = [];
  for (const d of letters) details.push((await call('GET', `/api/dead-letters/${ref(d.ref)}`, { as: viewer })).body);
  await running.stop();
  await openConsole(join(work, 'index-2.sqlite'));
  // Sessions live in the console process: the new one needs new logins.
  [viewer, operator, admin] = [await login('vera'), await login('otto'), await login('ada')];
  for (const [i, q] of questions.entries()) assert.deepEqual((await call('GET', q, { as: viewer })).body, answers[i], q);
  for (const [i, d] of letters.entries()) assert.deepEqual((await call('GET', `/api/dead-letters/${ref(d.ref)}`, { as: viewer })).body, details[i]);
  assert.equal(letters.length, 4, 'three admissions and the ORU; the replay converted, so no new dead letter');
});

test('repeated failed logins are throttled (429) and counted in a metric', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await call('POST', '/api/session', { body: { user: 'ada', password: `wrong password ${i}` } });
    assert.equal(r.status, 401);
  }
  await call('POST', '/api/session', { body: { user: 'ada', password: 'wrong password 5' } });
  const r = await call('POST', '/api/session', { body: { user: 'ada', password: PASSWORD } });
  assert.equal(r.status, 429);
  const metrics = await running.metrics.registry.metrics();
  assert.match(metrics, /hl7_console_login_failures_total\{reason="bad-credentials"\} 6/);
  assert.match(metrics, /hl7_console_login_failures_total\{reason="throttled"\} 1/);
});

test('an admin sees the users (without hashes); an operator may not (403)', async () => {
  assert.equal((await call('GET', '/api/users', { as: operator })).status, 403);
  const r = await call('GET', '/api/users', { as: admin });
  assert.deepEqual(r.body.map((u: { name: string; role: string }) => `${u.name}:${u.role}`).sort(), ['ada:admin', 'otto:operator', 'vera:viewer']);
  assert.ok(!r.text.includes('scrypt'), 'no hash in the answer');
});

test('logging out ends the session', async () => {
  assert.equal((await call('DELETE', '/api/session', { as: viewer })).status, 200);
  assert.equal((await call('GET', '/api/messages', { as: viewer })).status, 401);
});

test('no answer but the audited content views carried a name or an identifier of the test patients', () => {
  assert.ok(seen.length > 40, `${seen.length} answers checked`);
  for (const body of seen) for (const v of PHI) assert.ok(!body.includes(v), `an answer shows ${v}: ${body.slice(0, 200)}`);
});
