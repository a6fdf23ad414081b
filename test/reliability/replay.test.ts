/**
 * Zero loss through a mapping mistake: the engine process runs a channel whose mapping set is
 * broken on purpose (Patient.gender takes PID-8 as sent, without the table lookup, so "F" is not
 * an R4 gender and every Bundle fails validation). A steady stream is AA'd and stored, and every
 * message is dead-lettered instead of converted. The mapping is fixed and `hl7-engine replay
 * --from dlq` (the real CLI) re-drives the dead letters: every message must then be converted,
 * nothing may wait in the DLQ, and the replay must have left its audit records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_TOPIC, type AuditRecord } from '../../src/records/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import { freePort } from '../support/net.js';
import { uniqueChannel } from '../support/engine.js';
import { brokers, readTopic, testKafka } from '../support/kafka.js';
import { CLI, EngineProcess, FhirAudit, Ledger, MAPPINGS_ROOT, RawAudit, SteadyStream, recordFigures, scenarioPassed, scenarioStarted, sleep, writeChannelDir, readUntilSeen } from '../support/reliability.js';

const LANES = 4;
const GOOD_GENDER = '      gender: "PID-8 | code(hl7-0001)"';
const BROKEN_GENDER = '      gender: "PID-8"';
const REASON = 'reliability test: Patient.gender mapping fixed';

interface DlqView {
  readonly failure: { readonly category: string; readonly stage: string };
  readonly msh: { readonly controlId: string } | null;
}

/** Runs the CLI like an analyst would; killed (and failed) if it takes longer than timeoutMs. */
function cli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

test('a mapping broken on purpose dead-letters its messages; after the fix, replay from the DLQ converts every one, audited', { timeout: 240_000 }, async () => {
  scenarioStarted('replay', 'replay', 'broken mapping, fix, replay from the DLQ');
  const list = brokers();
  const work = mkdtempSync(join(tmpdir(), 'hl7-reliability-replay-'));
  const setDir = join(work, 'mappings', 'adt-set');
  cpSync(join(MAPPINGS_ROOT, 'default'), setDir, { recursive: true });
  const commonFile = join(setDir, 'common.yaml');
  const common = readFileSync(commonFile, 'utf8');
  assert.ok(common.includes(GOOD_GENDER), 'the default mapping set still maps Patient.gender from PID-8');
  writeFileSync(commonFile, common.replace(GOOD_GENDER, BROKEN_GENDER));

  const name = uniqueChannel('rplrel');
  const port = await freePort();
  const channelsDir = writeChannelDir({ name, port, mapping: setDir, ackTimeoutMs: 5000 });
  const topics = { raw: `${name}.raw`, fhir: `${name}.fhir`, dlq: `${name}.dlq` };
  const kafka = testKafka(list);
  await ensureTopics(kafka, Object.values(topics).map((topic) => ({ topic, partitions: 3 })));

  const ledger = new Ledger();
  const engine = await EngineProcess.start({ channelsDir, brokers: list.join(',') });
  try {
    const stream = new SteadyStream({ port, ledger, lanes: LANES, tag: 'R', gapMs: 30 });
    await sleep(4000);
    await stream.stop(30_000);
    const sent = [...ledger.messages.values()];
    const acked = ledger.acked;
    assert.equal(acked.length, sent.length, 'every message is AA’d: a mapping failure is the engine’s problem, not the sender’s');

    // Every message is dead-lettered by the transform, with its bytes, and none is converted.
    const waiting = new Set(acked.map((m) => m.controlId));
    const dead: DlqView[] = [];
    await readTopic(topics.dlq, {
      list,
      timeoutMs: 90_000,
      until: (records) => {
        while (dead.length < records.length) {
          const d = JSON.parse(records[dead.length]!.value.toString('utf8')) as DlqView;
          dead.push(d);
          waiting.delete(d.msh?.controlId ?? '');
        }
        return waiting.size === 0;
      },
    });
    assert.deepEqual([...waiting], [], 'every AA’d message reached the DLQ');
    assert.deepEqual([...new Set(dead.map((d) => `${d.failure.stage}/${d.failure.category}`))], ['transform/validation']);
    const convertedEarly = await readTopic(topics.fhir, { list, timeoutMs: 3000, until: () => false });
    assert.equal(convertedEarly.length, 0, 'nothing was converted with the broken mapping');

    // The analyst fixes the mapping and replays, as the CLI documents.
    writeFileSync(commonFile, common);
    const env = { ...process.env, KAFKA_BROKERS: list.join(','), HL7_OPERATOR: 'reliability-test' };
    const replay = await cli(
      ['replay', '--from', 'dlq', '--channel', name, '--channels', channelsDir, '--reason', REASON, '--checkpoint-dir', join(work, 'checkpoints')],
      env,
    );
    assert.equal(replay.code, 0, `replay failed:\n${replay.out}\n${replay.err}`);
    console.log(`# replay: ${replay.out.trim().split('\n').join(' | ')}`);

    const fhir = new FhirAudit();
    await readUntilSeen(topics.fhir, fhir, acked.map((m) => m.controlId), { list, timeoutMs: 60_000 });
    const raw = new RawAudit();
    await readUntilSeen(topics.raw, raw, acked.map((m) => m.identity), { list, timeoutMs: 30_000 });

    const audit = (await readTopic(AUDIT_TOPIC, { list, timeoutMs: 5000, until: () => false }))
      .map((r) => JSON.parse(r.value.toString('utf8')) as AuditRecord)
      .filter((a) => a.channel === name);
    const finished = audit.find((a) => a.kind === 'replay-finished');
    const stats = await cli(['dlq', 'stats', '--channel', name, '--channels', channelsDir], env, 60_000);
    const stillWaiting = /(\d+) waiting/.exec(stats.out)?.[1];

    const missingRaw = acked.filter((m) => !raw.has(m.identity)).map((m) => m.controlId);
    const missingDownstream = acked.filter((m) => !fhir.has(m.controlId)).map((m) => m.controlId);
    const figures = {
      sent: sent.length,
      transmissions: ledger.transmissions,
      acked: acked.length,
      foundRaw: acked.length - missingRaw.length,
      foundDownstream: acked.length - missingDownstream.length,
      lost: new Set([...missingRaw, ...missingDownstream]).size,
      duplicatesDownstream: fhir.distinctContentDuplicates,
    };
    console.log(`# replay: ${JSON.stringify(figures)}; dead letters ${dead.length}; audit ${audit.map((a) => a.kind).join(',')}; dlq stats: ${stats.out.trim().split('\n')[0] ?? ''}`);
    recordFigures('replay', {
      scenario: 'replay',
      title: `mapping broken on purpose under a ${LANES}-connection stream, fixed, replayed from the DLQ with the CLI`,
      ...figures,
      faultsInjected: { 'mapping broken on purpose': 1 },
      details: {
        'dead-lettered by the broken mapping': dead.length,
        'converted before the fix': convertedEarly.length,
        'replay audit records': audit.length,
        'replay outcome': finished?.outcome ?? 'no replay-finished record',
        'dead letters waiting after the replay': stillWaiting ?? 'unknown',
      },
    });

    assert.deepEqual(missingRaw, [], 'every AA’d message is in the raw topic');
    assert.deepEqual(missingDownstream, [], 'after the replay every AA’d message has its Bundle in the fhir topic');
    assert.equal(fhir.distinctContentDuplicates, 0, 'no message or resource id converted into two different contents');
    assert.ok(audit.some((a) => a.kind === 'replay-started' && a.reason === REASON && a.operator === 'reliability-test'), 'the replay start is audited with its operator and reason');
    assert.ok(finished, 'the replay end is audited');
    assert.equal(finished.outcome, 'completed');
    assert.equal(finished.reason, REASON);
    assert.equal(stats.code, 0, stats.err);
    assert.equal(stillWaiting, '0', `nothing waits in the DLQ after the replay: ${stats.out}`);
  } finally {
    await engine.stop();
  }
  scenarioPassed('replay');
});
