/**
 * Ingest and transform as separate processes: one `start --role ingest` takes the MLLP traffic,
 * two `start --role transform` share the channel's consumer group. One transform process is
 * killed with SIGKILL mid-stream; the other takes over its partitions (once the dead member's
 * session expires) and every AA'd message ends converted, never into two different contents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTopics } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, readTopic, testKafka } from '../support/kafka.js';
import { EngineProcess, FhirAudit, Ledger, SteadyStream, sleep, writeChannelDir, readUntilSeen } from '../support/reliability.js';

test('1 ingest + 2 transform processes, one transform process killed (SIGKILL) mid-stream: every AA’d message converted, no control id with two contents', { timeout: 420_000 }, async () => {
  const list = brokers();
  const name = uniqueChannel('roles');
  const port = await freePort();
  const channelsDir = writeChannelDir({ name, port, mapping: 'default', ackTimeoutMs: 5000 });
  const topics = { raw: `${name}.raw`, fhir: `${name}.fhir`, dlq: `${name}.dlq` };
  await ensureTopics(testKafka(list), Object.values(topics).map((topic) => ({ topic, partitions: 3 })));

  const ingest = await EngineProcess.start({ channelsDir, brokers: list.join(','), role: 'ingest' });
  const transforms = [
    await EngineProcess.start({ channelsDir, brokers: list.join(','), role: 'transform' }),
    await EngineProcess.start({ channelsDir, brokers: list.join(','), role: 'transform' }),
  ];
  const ledger = new Ledger();
  const stream = new SteadyStream({ port, ledger, lanes: 4, tag: 'P', gapMs: 50 });
  try {
    assert.equal(await ingest.metric('hl7_transform_up'), null, 'the ingest process runs no transform');
    await sleep(4000);
    const convertedBefore = (await readTopic(topics.fhir, { list, timeoutMs: 2000, until: () => false })).length;
    await transforms[0]!.kill9();
    await sleep(3000);
    await stream.stop(60_000);
    assert.ok(convertedBefore > 0, 'the transform processes converted before the kill');

    const acked = ledger.acked;
    assert.deepEqual([...ledger.messages.values()].filter((m) => m.ackedAt === null).map((m) => m.controlId), [], 'every message got AA');
    const fhir = new FhirAudit();
    await readUntilSeen(topics.fhir, fhir, acked.map((m) => m.controlId), { list, timeoutMs: 180_000 });
    const missing = acked.filter((m) => !fhir.has(m.controlId)).map((m) => m.controlId);
    const dlq = await readTopic(topics.dlq, { list, timeoutMs: 2000, until: () => false });
    console.log(`# roles: ${acked.length} AA’d, ${convertedBefore} Bundles before the kill, ${fhir.records} in the end (${fhir.identicalCopies} identical repeats), dlq ${dlq.length}`);
    assert.ok(ingest.running, `the ingest process exited:\n${ingest.output()}`);
    assert.ok(transforms[1]!.running, `the surviving transform process exited:\n${transforms[1]!.output()}`);
    assert.deepEqual(missing, [], 'every AA’d message has its Bundle');
    assert.equal(fhir.distinctContentDuplicates, 0, 'no control id or resource id converted into two different contents');
    assert.equal(dlq.length, 0, 'nothing dead-lettered');
    assert.equal(await transforms[1]!.metric('hl7_transform_up'), 1, 'the surviving transform reports itself consuming');
  } finally {
    await stream.stop(0).catch(() => undefined);
    await Promise.all([ingest.stop(), ...transforms.map((t) => t.stop())]);
  }
});
