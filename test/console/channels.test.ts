/**
 * The channel overview (GET /api/channels), on the real broker. A channel that accepts only
 * ADT^A01 answers two admissions AA and refuses an ORU AR (one dead letter, waiting). Two
 * consoles read the same topics: one beside the engine (as `start --console` runs it, with the
 * engine's metrics and readiness) and one on its own (as `hl7-engine console` runs it). Both know
 * the traffic, ACK codes, transform lag and queue; only the first knows the listener and its
 * connections, and the second says why it does not instead of showing a number.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runUsers } from '../../src/auth/index.js';
import { ChannelOverviews, startConsole, type ChannelOverview, type RunningConsole } from '../../src/console/index.js';
import { createLogger } from '../../src/ops/index.js';
import { startEngine, uniqueChannel, type TestEngine } from '../support/engine.js';
import { testKafka } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { freePort } from '../support/net.js';
import { REPO_DIR } from '../support/repo.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');
const ORU_R01 = readFileSync(join(REPO_DIR, 'test-messages', 'oru', 'oru-r01.hl7'), 'latin1');
const PASSWORD = 'a long enough secret';

const kafka = testKafka();
let te: TestEngine;
let client: RawMllpClient;
let embedded: RunningConsole;
let standalone: RunningConsole;

async function overviewOf(c: RunningConsole, name: string): Promise<ChannelOverview> {
  const login = await fetch(`${c.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'vera', password: PASSWORD }) });
  assert.equal(login.status, 200, await login.clone().text());
  const res = await fetch(`${c.url}/api/channels`, { headers: { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0]! } });
  assert.equal(res.status, 200, await res.clone().text());
  const all = (await res.json()) as ChannelOverview[];
  const mine = all.find((o) => o.name === name);
  assert.ok(mine, `${name} is in the overview`);
  return mine;
}

/** The overview once the transform has committed everything (bounded: the transform is real). */
async function settled(c: RunningConsole, name: string): Promise<ChannelOverview> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const o = await overviewOf(c, name);
    if (o.transformLag === 0) return o;
    assert.ok(Date.now() < deadline, `transform lag still ${o.transformLag} after 30 s: ${JSON.stringify(o)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

before(async () => {
  const work = mkdtempSync(join(tmpdir(), 'hl7-engine-channels-'));
  te = await startEngine(
    `name: ${uniqueChannel('overview')}\nlistener:\n  port: ${await freePort()}\naccept:\n  messageTypes: [ADT^A01]\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${join(REPO_DIR, 'mappings', 'default')}\n`,
  );
  const usersFile = join(work, 'users.json');
  assert.equal(await runUsers(['add', 'vera', '--role', 'viewer', '--users', usersFile], { stdout: () => undefined, stderr: () => undefined, readSecret: async () => PASSWORD }), 0);
  const quiet = createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const common = { kafka, channels: [te.channel], logger: quiet, port: 0, usersFile };
  embedded = await startConsole({ ...common, indexFile: join(work, 'embedded.sqlite'), engine: { registry: te.metrics.registry, readiness: () => te.engine.readiness() } });
  standalone = await startConsole({ ...common, indexFile: join(work, 'standalone.sqlite') });
  client = await RawMllpClient.open(te.port);
  for (const id of ['OVW-1', 'OVW-2']) assert.equal(readAck((await client.roundTrip(Buffer.from(ADT_A01.replace('|MSG00001|', `|${id}|`), 'latin1')))!).code, 'AA');
  assert.equal(readAck((await client.roundTrip(Buffer.from(ORU_R01.replace(/\|[^|]*\|P\|2/, '|OVW-ORU|P|2'), 'latin1')))!).code, 'AR');
  const deadline = Date.now() + 40_000;
  for (const c of [embedded, standalone]) {
    while (c.queries.search({ channel: te.channel.name }).length < 3) {
      assert.ok(Date.now() < deadline, 'both consoles indexed the three messages within 40 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

after(async () => {
  client?.close();
  await embedded?.stop();
  await standalone?.stop();
  await te?.stop();
});

test('beside the engine: the listener is listening with the one open connection, and nothing is unknown but what has no value', async () => {
  const o = await settled(embedded, te.channel.name);
  assert.equal(o.listener, 'listening');
  assert.equal(o.connections, 1, 'the test client is connected');
  assert.deepEqual(Object.keys(o.unknown), []);
});

test('on its own: listener and connections are null, each with the reason, not a guess', async () => {
  const o = await settled(standalone, te.channel.name);
  assert.equal(o.listener, null);
  assert.equal(o.connections, null);
  assert.match(o.unknown['listener'] ?? '', /only inside the engine process.*start --console/);
  assert.match(o.unknown['connections'] ?? '', /only inside the engine process/);
});

test('both know the traffic from the index: three messages answered in the last minute, by ACK code', async () => {
  for (const c of [embedded, standalone]) {
    const o = await overviewOf(c, te.channel.name);
    assert.deepEqual(o.ackCodes, { AA: 2, AR: 1 });
    assert.equal(o.messagesPerSecond, 0.05, '3 messages in the last 60 s');
  }
});

test('both know the queue: the refused ORU waits, with the age of the oldest dead letter', async () => {
  for (const c of [embedded, standalone]) {
    const o = await overviewOf(c, te.channel.name);
    assert.equal(o.deadLetters.waiting, 1);
    assert.equal(o.deadLetters.overdue, 0);
    assert.ok(typeof o.deadLetters.oldestAgeSeconds === 'number' && o.deadLetters.oldestAgeSeconds >= 0 && o.deadLetters.oldestAgeSeconds < 600, JSON.stringify(o.deadLetters));
  }
});

test('both read the transform lag from Kafka: the two admissions, once converted and committed, leave it at 0', async () => {
  for (const c of [embedded, standalone]) {
    const o = await settled(c, te.channel.name);
    assert.equal(o.transformLag, 0);
    assert.equal(o.unknown['transformLag'], undefined);
  }
});

test('a transform group that never committed lags by every raw record Kafka still holds (here the two admissions)', async () => {
  // Same raw topic, another channel name: its transform group has no offsets at all.
  const idle = { ...te.channel, name: `${te.channel.name}-idle` };
  const overviews = new ChannelOverviews(kafka, [idle], standalone.queries, undefined);
  try {
    const [o] = await overviews.overview();
    assert.equal(o?.transformLag, 2);
  } finally {
    await overviews.close();
  }
});

test('with Kafka unreachable the lag is null with the reason, within the 5 s bound, and the index figures still answer', async () => {
  const nowhere = testKafka([`127.0.0.1:${await freePort()}`]);
  const overviews = new ChannelOverviews(nowhere, [te.channel], standalone.queries, undefined);
  try {
    const started = Date.now();
    const [o] = await overviews.overview();
    assert.ok(Date.now() - started < 30_000, 'a hang bound: the Kafka timeout ends the wait, not kafkajs retries');
    assert.equal(o?.transformLag, null);
    assert.match(o?.unknown['transformLag'] ?? '', /^Kafka did not give the transform group's offsets: /);
    assert.deepEqual(o?.ackCodes, { AA: 2, AR: 1 });
    assert.equal(o?.deadLetters.waiting, 1);
  } finally {
    await overviews.close();
  }
});
