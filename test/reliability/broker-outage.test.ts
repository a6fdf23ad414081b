/**
 * Zero loss across a Kafka outage: the only broker (this test's own) is stopped for 10 s in the
 * middle of a steady stream into a running engine process, then started again. While it is
 * down no message may be answered AA; once it is back the engine must recover by itself (no
 * restart), every message must end up AA'd, stored and converted, and no `publish` failure may be
 * left behind in the DLQ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureTopics } from '../../src/kafka/index.js';
import { LocalKafka } from '../../devtools/local-kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { EngineProcess, FhirAudit, Ledger, RawAudit, SteadyStream, recordFigures, scenarioPassed, scenarioStarted, sleep, writeChannelDir, readUntilSeen } from '../support/reliability.js';

const LANES = 8;
const OUTAGE_MS = 10_000;

interface DlqView {
  readonly failure?: { readonly category?: string };
}

test('Kafka stopped for 10 s mid-stream: no AA while it is down, automatic recovery, nothing lost, no publish dead letters left', { timeout: 240_000 }, async () => {
  scenarioStarted('broker-outage', 'broker-outage', 'Kafka broker stopped for 10 s mid-stream');
  const kafka = new LocalKafka({ name: 'reliability-outage', fresh: true });
  await kafka.start();
  const list = [kafka.bootstrap];
  const name = uniqueChannel('outage');
  const port = await freePort();
  // A short ACK timeout, so senders hear AE within a second instead of holding their message.
  const channelsDir = writeChannelDir({ name, port, mapping: 'default', ackTimeoutMs: 1000 });
  const topics = { raw: `${name}.raw`, fhir: `${name}.fhir`, dlq: `${name}.dlq` };
  await ensureTopics(testKafka(list), Object.values(topics).map((topic) => ({ topic, partitions: 3 })));

  const ledger = new Ledger();
  const engine = await EngineProcess.start({ channelsDir, brokers: kafka.bootstrap });
  const stream = new SteadyStream({ port, ledger, lanes: LANES, tag: 'O', gapMs: 50 });
  try {
    await sleep(3000);
    await kafka.stop({ removeData: false });
    const downAt = Date.now();
    await sleep(OUTAGE_MS);
    const restartAt = Date.now();
    await kafka.start();
    const upAt = Date.now();
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !ledger.exchanges.some((e) => e.sentAt > upAt && e.code === 'AA')) await sleep(200);
    const firstAaAfter = Math.min(...ledger.exchanges.filter((e) => e.sentAt > upAt && e.code === 'AA').map((e) => e.answeredAt));
    await sleep(2000);
    await stream.stop(60_000);

    const sent = [...ledger.messages.values()];
    const acked = ledger.acked;
    const during = ledger.exchanges.filter((e) => e.sentAt >= downAt && e.answeredAt <= restartAt);
    const codes = (list: readonly { code: string | null }[]) => [...new Set(list.map((e) => e.code ?? 'none'))].sort().join(',');
    console.log(
      `# outage: ${ledger.exchanges.length} exchanges; while down ${during.length} (${codes(during)}); first AA ${firstAaAfter - upAt} ms after the broker was back; ` +
        `sends without an answer ${ledger.exchanges.filter((e) => e.code === null).length}`,
    );
    assert.ok(engine.running, `the engine process exited:\n${engine.output()}`);
    assert.ok(ledger.exchanges.some((e) => e.answeredAt < downAt && e.code === 'AA'), 'AA before the outage');
    assert.ok(during.length > 0, 'messages were sent while Kafka was down');
    assert.deepEqual(during.filter((e) => e.code === 'AA' || e.code === 'CA').map((e) => e.controlId), [], 'no AA while Kafka is down');
    assert.ok(Number.isFinite(firstAaAfter), 'AA again after Kafka is back, without restarting the engine');
    assert.deepEqual(sent.filter((m) => m.ackedAt === null).map((m) => m.controlId), [], 'every message got AA in the end');

    const raw = new RawAudit();
    await readUntilSeen(topics.raw, raw, acked.map((m) => m.identity), { list, timeoutMs: 60_000 });
    const missingRaw = acked.filter((m) => !raw.has(m.identity)).map((m) => m.controlId);
    const fhir = new FhirAudit();
    await readUntilSeen(topics.fhir, fhir, acked.map((m) => m.controlId), { list, timeoutMs: 120_000 });
    const missingDownstream = acked.filter((m) => !fhir.has(m.controlId)).map((m) => m.controlId);
    const dlq = await readTopic(topics.dlq, { list, timeoutMs: 3000, until: () => false });
    const publishFailures = dlq.filter((r) => (JSON.parse(r.value.toString('utf8')) as DlqView).failure?.category === 'publish');

    const figures = {
      sent: sent.length,
      transmissions: ledger.transmissions,
      acked: acked.length,
      foundRaw: acked.length - missingRaw.length,
      foundDownstream: acked.length - missingDownstream.length,
      lost: new Set([...missingRaw, ...missingDownstream]).size,
      duplicatesDownstream: fhir.distinctContentDuplicates,
    };
    console.log(`# outage: ${JSON.stringify(figures)}; raw extra copies ${raw.extraCopies}; identical Bundle redeliveries ${fhir.identicalCopies}; dlq ${dlq.length}`);
    recordFigures('broker-outage', {
      scenario: 'broker-outage',
      title: `Kafka broker stopped for ${OUTAGE_MS / 1000} s during a steady stream from ${LANES} connections`,
      ...figures,
      faultsInjected: { 'Kafka broker stopped': 1 },
      details: {
        'answers while Kafka was down': during.length,
        'AA while Kafka was down': during.filter((e) => e.code === 'AA').length,
        'time from broker back to the first AA (ms)': firstAaAfter - upAt,
        'raw records stored twice (absorbed by dedupe)': raw.extraCopies,
        'Bundles delivered again, byte-identical': fhir.identicalCopies,
        'publish dead letters left': publishFailures.length,
      },
    });

    assert.deepEqual(missingRaw, [], 'every AA’d message is in the raw topic');
    assert.deepEqual(missingDownstream, [], 'every AA’d message has its Bundle in the fhir topic');
    assert.equal(fhir.distinctContentDuplicates, 0, 'no message or resource id converted into two different contents');
    assert.equal(publishFailures.length, 0, 'no publish failure left in the DLQ');
    assert.equal(dlq.length, 0, 'nothing dead-lettered at all');
  } finally {
    await stream.stop(0).catch(() => undefined);
    await engine.stop();
    await kafka.stop({ removeData: true });
  }
  scenarioPassed('broker-outage');
});
