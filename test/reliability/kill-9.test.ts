/**
 * Zero loss across a crash: the engine (a real `hl7-engine start` process) is killed with
 * SIGKILL in the middle of a steady stream from 8 connections, then started again. The senders
 * resend, byte for byte, whatever got no AA. Afterwards every message that ever got AA must be in
 * the raw topic (once, after dedupe by sender + MSH-10 + bytes hash) and converted downstream
 * (its Bundle in the fhir topic; any repeat of a Bundle byte-identical, no resource id with two
 * different contents).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTopics } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, readTopic, testKafka } from '../support/kafka.js';
import { EngineProcess, FhirAudit, Ledger, RawAudit, SteadyStream, recordFigures, scenarioPassed, scenarioStarted, sleep, writeChannelDir, readUntilSeen } from '../support/reliability.js';

const LANES = 8;
// One crash: a second one while the new member is still joining the transform group leaves two dead
// members whose sessions must expire one after the other (about 100 s with kafkajs defaults); no
// loss either way, but it would double this test's time.
const CRASHES = 1;

test('kill -9 of the engine during a steady stream from 8 connections loses no AA’d message and converts each once', { timeout: 240_000 }, async () => {
  scenarioStarted('kill-9', 'kill-9', 'kill -9 of the engine during a steady stream');
  const list = brokers();
  const name = uniqueChannel('kill9');
  const port = await freePort();
  const channelsDir = writeChannelDir({ name, port, mapping: 'default', ackTimeoutMs: 5000 });
  const topics = { raw: `${name}.raw`, fhir: `${name}.fhir`, dlq: `${name}.dlq` };
  // Created and answering before the first start, so a slow topic under suite load is not
  // mistaken for the engine failing to come back.
  await ensureTopics(testKafka(list), Object.values(topics).map((topic) => ({ topic, partitions: 3 })));

  const ledger = new Ledger();
  const t0 = Date.now();
  const phase = (what: string) => console.log(`# kill-9 +${Date.now() - t0} ms: ${what}; sent ${ledger.messages.size}, AA ${ledger.acked.length}`);
  let engine = await EngineProcess.start({ channelsDir, brokers: list.join(',') });
  const stream = new SteadyStream({ port, ledger, lanes: LANES, tag: 'K', gapMs: 50 });
  const crashes: Array<{ at: number; unanswered: number; ackedBefore: number }> = [];
  let restartMs = 0;
  try {
    for (let c = 0; c < CRASHES; c++) {
      await sleep(3500);
      const ackedBefore = ledger.acked.length;
      // Sent and not yet answered at the moment of the crash: these are the ones at risk.
      const unanswered = [...ledger.messages.values()].filter((m) => m.ackedAt === null && m.transmissions > 0).length;
      await engine.kill9();
      crashes.push({ at: Date.now(), unanswered, ackedBefore });
      phase(`killed (unanswered ${unanswered})`);
      await sleep(500);
      const restartAt = Date.now();
      engine = await EngineProcess.start({ channelsDir, brokers: list.join(','), port });
      restartMs = Math.max(restartMs, Date.now() - restartAt);
      phase('restarted');
    }
    await sleep(2500);
    await stream.stop(30_000);
    phase('senders drained');

    const sent = [...ledger.messages.values()];
    const acked = ledger.acked;
    const lastCrash = crashes[crashes.length - 1]!.at;
    assert.ok(crashes.every((c) => c.ackedBefore > 0), 'messages were AA’d before each crash');
    assert.ok(acked.some((m) => (m.ackedAt ?? 0) > lastCrash), 'AA resumed after the restart');
    assert.deepEqual(sent.filter((m) => m.ackedAt === null).map((m) => m.controlId), [], 'every message got AA in the end (the senders kept resending)');

    const raw = new RawAudit();
    await readUntilSeen(topics.raw, raw, acked.map((m) => m.identity), { list, timeoutMs: 60_000 });
    phase('raw audited');
    const missingRaw = acked.filter((m) => !raw.has(m.identity)).map((m) => m.controlId);

    const fhir = new FhirAudit();
    await readUntilSeen(topics.fhir, fhir, acked.map((m) => m.controlId), { list, timeoutMs: 120_000 });
    phase('fhir audited');
    const missingDownstream = acked.filter((m) => !fhir.has(m.controlId)).map((m) => m.controlId);
    const dlq = await readTopic(topics.dlq, { list, timeoutMs: 3000, until: () => false });

    // How long senders went without any AA after each crash (kill, restart, reconnect, resend).
    const gaps = crashes.map((c) => Math.min(...ledger.exchanges.filter((e) => e.code === 'AA' && e.answeredAt > c.at).map((e) => e.answeredAt)) - c.at);
    const lost = new Set([...missingRaw, ...missingDownstream]).size;
    const figures = {
      sent: sent.length,
      transmissions: ledger.transmissions,
      acked: acked.length,
      foundRaw: acked.length - missingRaw.length,
      foundDownstream: acked.length - missingDownstream.length,
      lost,
      duplicatesDownstream: fhir.distinctContentDuplicates,
    };
    console.log(
      `# kill-9: ${JSON.stringify(figures)}; raw records ${raw.records} (extra copies ${raw.extraCopies}); fhir records ${fhir.records} ` +
        `(identical redeliveries ${fhir.identicalCopies}, resource ids ${fhir.resourceIds}); unanswered at each crash ${crashes.map((c) => c.unanswered).join(',')}; ` +
        `slowest restart until listening ${restartMs} ms; dlq ${dlq.length}`,
    );
    recordFigures('kill-9', {
      scenario: 'kill-9',
      title: `kill -9 of the engine ×${CRASHES} during a steady stream from ${LANES} connections`,
      ...figures,
      faultsInjected: { 'engine kill -9': CRASHES },
      details: {
        'messages unanswered at the crashes': crashes.map((c) => c.unanswered).reduce((a, b) => a + b, 0),
        'resends (transmissions beyond one per message)': ledger.transmissions - sent.length,
        'raw records stored twice (absorbed by dedupe)': raw.extraCopies,
        'Bundles delivered again, byte-identical': fhir.identicalCopies,
        'slowest restart until the listener accepts (ms)': restartMs,
        'longest time from a crash to the next AA (ms)': Math.max(...gaps),
        'dead letters': dlq.length,
      },
    });

    assert.deepEqual(missingRaw, [], 'every AA’d message is in the raw topic');
    assert.equal(raw.extraCopies, 0, 'no AA’d message was stored twice in the raw topic (the duplicate memory survives the crash)');
    assert.deepEqual(missingDownstream, [], 'every AA’d message has its Bundle in the fhir topic');
    assert.equal(fhir.distinctContentDuplicates, 0, 'no message or resource id converted into two different contents');
    assert.equal(dlq.length, 0, 'nothing was dead-lettered');
  } finally {
    await stream.stop(0).catch(() => undefined);
    await engine.stop();
  }
  scenarioPassed('kill-9');
});
