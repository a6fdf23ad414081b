/**
 * A write-back destination's dead letters in the console, on the real Kafka: a receiver answers
 * AR (its ERR naming the patient) to what a real DeliveryWorker sends, so three messages land on
 * <destination>.dlq. The console's queue shows them under the destination, labelled outbound;
 * decisions are the audit records `hl7-engine dlq --destination` writes, so the terminal agrees;
 * a viewer cannot decide; edit-and-resubmit is refused with the reason; a replay goes through the
 * outbound replay path after its dry run, delivers once the receiver answers AA, and the dead
 * letter leaves the queue with the replay in its history. Steps build on each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningConsole } from '../../src/console/index.js';
import { DeliveryWorker, dlqTopicOf, loadDestination, type Destination } from '../../src/delivery/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { chromium } from 'playwright-core';
import { readTopic, testKafka } from '../support/kafka.js';
import { REPO_DIR } from '../support/repo.js';
import { startRecordingReceiver, type RecordingReceiver } from '../support/mllp-receiver.js';
import { addUsers, call, login, openTestConsole, PASSWORD, refPath, type Client } from './fixture.js';

const MESSAGES = ['OQ-0001', 'OQ-0002', 'OQ-0003'].map(
  (id, i) => `MSH|^~\\&|EHR|GEN|LAB|GEN|2026120307000${i}||ORU^R01|${id}|P|2.5.1\rPID|1||MRN-OQ-${i}^^^GEN^MR||QUINTERO${i}^ROSA||19700101|F\rOBX|1|NM|1234-5^Glucose^LN||5.${i}|mmol/L\r`,
);
/** Only the ERR (the receiver's own words) and the message carry these; no console answer may. */
const PHI = ['QUINTERO', 'MRN-OQ-'];

const kafka = testKafka();
let work: string;
let destination: Destination;
let receiver: RecordingReceiver;
/** What the receiver answers now, and the control ids it received, in order. */
let answer: 'AA' | 'AR' = 'AR';
const received: string[] = [];
let running: RunningConsole;
let viewer: Client;
let operator: Client;

interface QueueEntry {
  channel: string;
  destination?: string;
  direction: string;
  slaMinutes: number;
  waiting: number;
  overdue: number;
  groups: Array<{ category: string; stage: string; cause: string; count: number; overdue: number; members: string }>;
}
interface Member {
  ref: { topic: string; partition: number; offset: string };
  controlId: string;
  ageSeconds: number;
  overdue: boolean;
}

/** An hour after the dead letters were written: past the destination's review.slaMinutes (30). */
const LATER = (): Date => new Date(Date.now() + 3600_000);

const outboundQueue = async (): Promise<QueueEntry> => {
  const q = await call(running.url, 'GET', '/api/queue', { as: viewer });
  assert.equal(q.status, 200, q.text);
  for (const p of PHI) assert.ok(!q.text.includes(p), `the queue shows ${p}`);
  const entry = (q.body as QueueEntry[]).find((e) => e.destination === destination.name);
  assert.ok(entry, `the queue has an entry for destination ${destination.name}: ${q.text}`);
  return entry;
};
/** The members of the destination's one group, as its members URL pages them. */
const outboundMembers = async (): Promise<Member[]> => {
  const q = await outboundQueue();
  assert.equal(q.groups.length, 1, JSON.stringify(q.groups));
  const r = await call(running.url, 'GET', q.groups[0]!.members, { as: viewer });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.link, null, 'one page holds them');
  for (const p of PHI) assert.ok(!r.text.includes(p), `the members page shows ${p}`);
  return r.body as Member[];
};
const letterOf = async (controlId: string) => {
  const all = await call(running.url, 'GET', `/api/dead-letters?channel=${destination.name}&status=all`, { as: viewer });
  const d = (all.body as Array<{ controlId: string; ref: { topic: string; partition: number; offset: string } }>).find((x) => x.controlId === controlId);
  assert.ok(d, `dead letter ${controlId} is indexed`);
  return (await call(running.url, 'GET', `/api/dead-letters/${refPath(d.ref)}`, { as: viewer })).body;
};
const dlqCommand = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = '';
  let err = '';
  const code = await runDlq([...argv, '--destinations', work, '--destination', destination.name], { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { kafka, env: { ...process.env, HL7_OPERATOR: 'terminal-tess' } });
  return { code, out, err };
};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-console-outbound-'));
  receiver = await startRecordingReceiver({
    answer: (m) => {
      const text = m.bytes.toString('utf8');
      const controlId = text.split('\r')[0]!.split('|')[9]!;
      received.push(controlId);
      const family = /PID\|1\|\|[^|]*\|\|([^^|]*)/.exec(text)?.[1] ?? '';
      return answer === 'AR' ? { code: 'AR', err: `ERR|||204^Unknown patient ${family}^HL70357|E` } : { code: 'AA' };
    },
  });
  const name = `oq-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.src`;
  writeFileSync(
    join(work, 'wb.yaml'),
    `name: ${name}\nsource: { topic: ${topic} }\nmapping: { passThrough: true }\ntarget: { host: 127.0.0.1, port: ${receiver.port}, ackTimeoutMs: 5000 }\nretry: { maxAttempts: 2, backoffMs: 10, maxBackoffMs: 10 }\nreview: { slaMinutes: 30 }\n`,
  );
  const loaded = loadDestination(join(work, 'wb.yaml'));
  assert.deepEqual(loaded.errors, []);
  destination = loaded.destination!;
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopicOf(destination), partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: MESSAGES.map((value, i) => ({ key: `patient-${i}`, value })) });
  await producer.disconnect();
  const worker = new DeliveryWorker({ destination, kafka, outbound: null, groupId: `${name}-group` });
  try {
    await worker.start();
    const dead = await readTopic(dlqTopicOf(destination), { until: (rs) => rs.length >= 3, timeoutMs: 90_000 });
    assert.equal(dead.length, 3, 'the receiver refused all three');
  } finally {
    await worker.stop();
  }
  const usersFile = join(work, 'users.json');
  await addUsers(usersFile, [['vera', 'viewer'], ['otto', 'operator']]);
  running = await openTestConsole({ kafka, channels: [], destinations: [destination], work, usersFile, indexFile: join(work, 'index.sqlite'), now: LATER });
  viewer = await login(running.url, 'vera');
  operator = await login(running.url, 'otto');
});

after(async () => {
  await running?.stop();
  await receiver?.close();
  rmSync(work, { recursive: true, force: true });
});

test('the dead letters a destination\'s receiver refused wait in the queue under the destination, labelled outbound, with category, cause, age and the destination file\'s SLA', async () => {
  const q = await outboundQueue();
  assert.equal(q.direction, 'outbound');
  assert.equal(q.waiting, 3);
  assert.equal(q.slaMinutes, 30, 'review.slaMinutes of the destination file');
  assert.equal(q.overdue, 3, 'an hour later, all three are past 30 minutes');
  assert.deepEqual(q.groups.map((g) => [g.category, g.stage, g.cause, g.count, g.overdue]), [['rejected', 'delivery', 'the receiver rejected the message (AR)', 3, 3]]);
  const members = await outboundMembers();
  assert.deepEqual(members.map((d) => [d.ref.topic, d.controlId, d.overdue]), ['OQ-0001', 'OQ-0002', 'OQ-0003'].map((c) => [dlqTopicOf(destination), c, true]));
  assert.ok(members.every((d) => Number.isInteger(d.ageSeconds) && d.ageSeconds >= 3600 - 120));
  const text = await running.metrics.registry.metrics();
  assert.match(text, new RegExp(`hl7_console_dlq_waiting\\{direction="outbound",channel="${destination.name}",category="rejected"\\} 3\n`));
  assert.match(text, new RegExp(`hl7_console_dlq_overdue\\{direction="outbound",channel="${destination.name}"\\} 3\n`));
  const d = await letterOf('OQ-0001');
  assert.deepEqual([d.direction, d.channel, d.status, d.messageType, d.attempts], ['outbound', destination.name, 'waiting', 'ORU^R01', 1]);
});

test('a viewer cannot decide on, replay or resubmit an outbound dead letter (403)', async () => {
  const d = await letterOf('OQ-0001');
  const path = `/api/dead-letters/${refPath(d.ref)}`;
  for (const [sub, body] of [['decisions', { action: 'resolve', reason: 'x' }], ['replay', { dryRun: true }], ['resubmit', { text: 'MSH|', reason: 'x' }]] as const) {
    const r = await call(running.url, 'POST', `${path}/${sub}`, { as: viewer, body });
    assert.equal(r.status, 403, `${sub}: ${r.text}`);
  }
  const g = await call(running.url, 'POST', '/api/queue/decisions', { as: viewer, body: { destination: destination.name, category: 'rejected', action: 'discard', reason: 'x' } });
  assert.equal(g.status, 403, g.text);
  assert.equal((await outboundQueue()).waiting, 3);
});

test('edit-and-resubmit is refused for an outbound dead letter, with the reason (409)', async () => {
  const d = await letterOf('OQ-0002');
  const r = await call(running.url, 'POST', `/api/dead-letters/${refPath(d.ref)}/resubmit`, { as: operator, body: { text: MESSAGES[1]!, reason: 'try' } });
  assert.equal(r.status, 409, r.text);
  assert.match(r.body.error, /outbound dead letter cannot be edited and resubmitted.*fix the outbound mapping or the receiver and replay/);
});

test('an assignment in the console is the audit record `dlq assign --destination` writes: the terminal lists it, and a terminal decision shows in the console', async () => {
  const d = await letterOf('OQ-0002');
  const r = await call(running.url, 'POST', `/api/dead-letters/${refPath(d.ref)}/decisions`, { as: operator, body: { action: 'assign', assignee: 'mira', reason: 'lab interface owner' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(
    { kind: r.body.decision.kind, channel: r.body.decision.channel, outcome: r.body.decision.outcome, decision: r.body.decision.decision },
    { kind: 'dlq-decision', channel: destination.name, outcome: 'recorded', decision: { action: 'assign', target: d.ref, assignee: 'mira' } },
  );
  assert.equal(r.body.deadLetter.assignee, 'mira');
  // The terminal decides on the third; the console shows it with who took it and the queue loses it.
  const third = await letterOf('OQ-0003');
  const discard = await dlqCommand(['discard', `${third.ref.partition}:${third.ref.offset}`, '--reason', 'test message sent by mistake']);
  assert.equal(discard.code, 0, discard.err);
  await running.indexer.caughtUp(30_000);
  const after = await letterOf('OQ-0003');
  assert.equal(after.status, 'discarded');
  assert.deepEqual(after.history.map((h: { operator: string; action: string; reason: string }) => [h.operator, h.action, h.reason]), [['terminal-tess', 'discard', 'test message sent by mistake']]);
  const list = await dlqCommand(['list']);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^destination ${destination.name}: 2 waiting in `, 'm'));
  assert.deepEqual((await outboundMembers()).map((x) => x.controlId), ['OQ-0001', 'OQ-0002']);
});

test('a replay needs its dry run first; the dry run sends nothing; the replay runs as a job the page polls, delivers through the outbound path, and the dead letter leaves the queue with the replay in its history', async () => {
  const d = await letterOf('OQ-0001');
  const path = `/api/dead-letters/${refPath(d.ref)}/replay`;
  const early = await call(running.url, 'POST', path, { as: operator, body: { dryRun: false, reason: 'receiver fixed' } });
  assert.equal(early.status, 409, early.text);
  const sentBefore = received.length;
  const dry = await call(running.url, 'POST', path, { as: operator, body: { dryRun: true } });
  assert.equal(dry.status, 201, dry.text);
  assert.equal(dry.body.replayId, null);
  assert.deepEqual(dry.body.diff, [`dlq ${d.ref.partition}:${d.ref.offset} ORU^R01 OQ-0001: would send the stored message (${Buffer.byteLength(MESSAGES[0]!)} bytes) to 127.0.0.1:${receiver.port}`]);
  assert.equal(received.length, sentBefore, 'a dry run sends nothing');
  answer = 'AA';
  // async: the answer comes at once (202) with a job; the replay, the receiver's answer included, runs on.
  const started = await call(running.url, 'POST', path, { as: operator, body: { dryRun: false, reason: 'the receiver registered the patient', async: true } });
  assert.equal(started.status, 202, started.text);
  assert.deepEqual([started.body.kind, started.body.state, started.body.operator, started.body.result], ['replay', 'running', 'otto', null]);
  assert.equal((await call(running.url, 'GET', `/api/jobs/${started.body.id}`, { as: viewer })).status, 403, 'jobs are for operators');
  const again = await call(running.url, 'POST', path, { as: operator, body: { dryRun: false, reason: 'second click', async: true } });
  assert.equal(again.status, 409, `a second real replay needs its own dry run: ${again.text}`);
  let job = started.body;
  for (const deadline = Date.now() + 60_000; job.state === 'running'; ) {
    assert.ok(Date.now() < deadline, 'the replay job finished within 60 s');
    await new Promise((r) => setTimeout(r, 200));
    job = (await call(running.url, 'GET', `/api/jobs/${started.body.id}`, { as: operator })).body;
  }
  assert.equal(job.state, 'done', JSON.stringify(job.error));
  const real = { body: job.result };
  assert.deepEqual([real.body.outcome, real.body.counts.selected, real.body.counts.delivered, real.body.counts.failedAgain], ['completed', 1, 1, 0]);
  assert.deepEqual(received.slice(sentBefore), ['OQ-0001'], 'only the replayed one was sent again, with its MSH-10');
  assert.equal(real.body.deadLetter.status, 'resolved');
  assert.deepEqual(
    real.body.deadLetter.history.map((h: { kind: string; operator: string; reason: string; replayId?: string }) => [h.kind, h.operator, h.reason, h.replayId]),
    [['replay-finished', 'otto', 'the receiver registered the patient', real.body.replayId]],
  );
  assert.deepEqual((await outboundMembers()).map((x) => x.controlId), ['OQ-0002']);
});

test('in the browser, the queue page shows the destination\'s dead letter under an outbound heading, and its page offers replay but no editor', async () => {
  const script = (await import(new URL('scripts/chromium.mjs', `file://${REPO_DIR}`).href)) as { ensureChromium(): string };
  const browser = await chromium.launch({ executablePath: script.ensureChromium(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(running.url);
    await page.fill('#login-user', 'otto');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#who:has-text("otto")', { timeout: 10_000 });
    await page.click('#nav-queue');
    const heading = page.locator(`#queue-body h3.outbound[data-destination="${destination.name}"]`);
    await heading.waitFor({ timeout: 20_000 });
    assert.match((await heading.textContent()) ?? '', new RegExp(`^Outbound to destination ${destination.name}: 1 waiting, 1 overdue \\(SLA 30 min\\)`));
    // The group shows its figures; its members appear when it is opened.
    await page.click('#queue-body .group .open-group');
    const row = page.locator('#queue-body tr[data-control-id="OQ-0002"]');
    assert.match((await row.textContent()) ?? '', /ORU\^R01.*assigned to mira/);
    await row.locator('button').click();
    await page.waitForSelector('#detail-title:has-text("Outbound dead letter OQ-0002 (waiting)")', { timeout: 10_000 });
    assert.equal(await page.locator('#dry-run').count(), 1, 'replay starts with a dry run');
    const content = await page.content();
    for (const p of PHI) assert.ok(!content.includes(p), `the page shows ${p}`);
    // For a person to look at: OUTBOUND_QUEUE_SCREENSHOT=FILE keeps the page as a PNG.
    if (process.env['OUTBOUND_QUEUE_SCREENSHOT']) await page.screenshot({ path: process.env['OUTBOUND_QUEUE_SCREENSHOT'], fullPage: true });
  } finally {
    await browser.close();
  }
});

test('a group decision names the destination; it resolves every waiting member in one audit record and the outbound queue is empty', async () => {
  const r = await call(running.url, 'POST', '/api/queue/decisions', { as: operator, body: { destination: destination.name, category: 'rejected', action: 'resolve', reason: 'resent by the lab by hand' } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.count, 1);
  assert.equal(r.body.decision.channel, destination.name);
  const q = await outboundQueue();
  assert.deepEqual([q.waiting, q.groups.length], [0, 0]);
  const both = await call(running.url, 'POST', '/api/queue/decisions', { as: operator, body: { channel: 'x', destination: destination.name, category: 'rejected', action: 'resolve', reason: 'r' } });
  assert.equal(both.status, 400, both.text);
});

test('an index rebuilt from Kafka gives the same outbound queue and the same dead letters, states and histories', async () => {
  const before = await call(running.url, 'GET', `/api/dead-letters?channel=${destination.name}&status=all`, { as: viewer });
  const histories = async (base: string, as: Client, list: Array<{ ref: { topic: string; partition: number; offset: string } }>) =>
    Promise.all(list.map(async (d) => (await call(base, 'GET', `/api/dead-letters/${refPath(d.ref)}`, { as })).body));
  const first = await histories(running.url, viewer, before.body);
  const rebuilt = await openTestConsole({ kafka, channels: [], destinations: [destination], work, usersFile: join(work, 'users.json'), indexFile: join(work, 'index-rebuilt.sqlite'), now: LATER });
  try {
    const vera = await login(rebuilt.url, 'vera');
    const after = await call(rebuilt.url, 'GET', `/api/dead-letters?channel=${destination.name}&status=all`, { as: vera });
    assert.equal(after.body.length, 3);
    // Ages move with the clock between the two reads; everything else must match.
    const still = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === 'ageSeconds' || k === 'oldestAgeSeconds' ? 0 : v)));
    assert.deepEqual(still(after.body), still(before.body));
    assert.deepEqual(still(await histories(rebuilt.url, vera, after.body)), still(first));
    const queue = (await call(rebuilt.url, 'GET', '/api/queue', { as: vera })).body as QueueEntry[];
    assert.deepEqual(still(queue.find((e) => e.destination === destination.name)), still(await outboundQueue()));
  } finally {
    await rebuilt.stop();
  }
});
