/**
 * A destination's dead letters in the operator commands, on the real Kafka: a receiver rejects
 * three v2 messages (AR, its ERR quoting the patient's name), the delivery worker dead-letters
 * them to <destination>.dlq, and then `dlq list|stats|show`, the decisions and `replay` work on
 * that queue with `--destination` as they do on a channel's: nothing identifying the patient is
 * printed without --show-phi, every decision and replay is an audit record, a dry run sends
 * nothing, and a replay sends the stored message again (same bytes, same MSH-10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryWorker, dlqTopicOf, loadDestination, type OutboundDeadLetter } from '../../src/delivery/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { ensureTopics } from '../../src/kafka/index.js';
import type { AuditRecord } from '../../src/records/index.js';
import { runReplay } from '../../src/replay/index.js';
import { readTopic, testKafka } from '../support/kafka.js';
import { startRecordingReceiver, type RecordingReceiver } from '../support/mllp-receiver.js';

const MESSAGES = [
  'MSH|^~\\&|EHR|GEN|LAB|GEN|20261203070000||ORU^R01|WB-0001|P|2.5.1\rPID|1||MRN100^^^GEN^MR||DOE^JANE||19700101|F\rOBR|1||F1|1234-5^Glucose^LN\rOBX|1|NM|1234-5^Glucose^LN||5.4|mmol/L\r',
  'MSH|^~\\&|EHR|GEN|LAB|GEN|20261203070001||ORU^R01|WB-0002|P|2.5.1\rPID|1||MRN200^^^GEN^MR||ROE^RICHARD||19800202|M\rOBR|1||F2|1234-5^Glucose^LN\rOBX|1|NM|1234-5^Glucose^LN||6.1|mmol/L\r',
  'MSH|^~\\&|EHR|GEN|LAB|GEN|20261203070002||ORU^R01|WB-0003|P|2.5.1\rPID|1||MRN300^^^GEN^MR||POE^EDGAR||19900303|M\rOBR|1||F3|1234-5^Glucose^LN\rOBX|1|NM|1234-5^Glucose^LN||4.9|mmol/L\r',
];
const NAMES = ['DOE', 'ROE', 'POE', 'MRN100', 'MRN200', 'MRN300'];

interface Received {
  readonly text: string;
  readonly controlId: string;
  readonly answer: string;
}

/** Answers with whatever `answerFor` says for the message's MSH-10; AR carries an ERR naming the patient. */
function receiver(received: Received[], answerFor: (controlId: string) => 'AA' | 'AR'): Promise<RecordingReceiver> {
  return startRecordingReceiver({
    answer: (m) => {
      const text = m.bytes.toString('utf8');
      const p = parseMessage(text);
      assert.ok(p.ok);
      const controlId = p.message.msh().controlId;
      const family = p.message.get('PID-5.1') ?? '';
      const answer = answerFor(controlId);
      received.push({ text, controlId, answer });
      return answer === 'AR' ? { code: answer, err: `ERR|||204^Unknown patient ${family}^HL70357|E` } : { code: answer };
    },
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('outbound dead letters: dlq list/show/decisions and replay with --destination, audited, no PHI without --show-phi', { timeout: 240_000 }, async () => {
  const kafka = testKafka();
  const env = { ...process.env, HL7_OPERATOR: 'analyst-ana' };
  const name = `wb-${randomUUID().slice(0, 8)}`;
  const topic = `${name}.src`;
  const auditTopic = `${name}.audit`;
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  const received: Received[] = [];
  let answers: (controlId: string) => 'AA' | 'AR' = () => 'AR';
  const server = await receiver(received, (c) => answers(c));
  const port = server.port;
  writeFileSync(
    join(dir, 'wb.yaml'),
    `name: ${name}\nsource: { topic: ${topic} }\nmapping: { passThrough: true }\ntarget: { host: 127.0.0.1, port: ${port}, ackTimeoutMs: 5000 }\nretry: { maxAttempts: 2, backoffMs: 10, maxBackoffMs: 10 }\n`,
  );
  const { destination, errors } = loadDestination(join(dir, 'wb.yaml'));
  assert.deepEqual(errors, []);
  assert.ok(destination);
  const dlqTopic = dlqTopicOf(destination);
  await ensureTopics(kafka, [{ topic, partitions: 1 }, { topic: dlqTopic, partitions: 1 }, { topic: auditTopic, partitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: MESSAGES.map((value, i) => ({ key: `patient-${i}`, value })) });
  await producer.disconnect();

  const run = async (cmd: typeof runDlq, argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await cmd([...argv, '--destinations', dir, '--destination', name, '--audit-topic', auditTopic], { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { kafka, env });
    return { code, out, err };
  };
  const audit = async (): Promise<AuditRecord[]> => {
    const admin = kafka.admin();
    await admin.connect();
    const high = Number((await admin.fetchTopicOffsets(auditTopic))[0]?.high ?? '0');
    await admin.disconnect();
    return (await readTopic(auditTopic, { until: (rs) => rs.length >= high })).map((r) => JSON.parse(r.value.toString('utf8')) as AuditRecord);
  };
  const noPhi = (text: string, where: string): void => {
    for (const n of NAMES) assert.ok(!text.includes(n), `${where} shows ${n}: ${text}`);
  };

  const worker = new DeliveryWorker({ destination, kafka, outbound: null, groupId: `${name}-group` });
  try {
    await worker.start();
    await until('three dead letters', async () => (await readTopic(dlqTopic, { until: (rs) => rs.length >= 3, timeoutMs: 2000 })).length >= 3);
  } finally {
    await worker.stop();
  }
  assert.equal(received.length, 3, 'AR is dead-lettered at once, never resent');
  const firstSent = new Map(received.map((r) => [r.controlId, r.text]));

  // list and stats: the queue by category and cause, counts, MSH-10s; no names, no identifiers, no ERR text.
  const list = await run(runDlq, ['list']);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^destination ${name}: 3 waiting in ${name}\\.dlq \\(3 waiting, 0 resolved by replay, 0 failed again on replay\\)$`, 'm'));
  assert.match(list.out, /^rejected at delivery \(3\): the receiver rejected the message \(AR\)$/m);
  assert.match(list.out, /^ {2}0:0 {2}attempts 1 .* ORU\^R01 {2}WB-0001 {2}EHR\|GEN$/m);
  noPhi(list.out, 'dlq list');
  const stats = await run(runDlq, ['stats']);
  assert.equal(stats.code, 0, stats.err);
  assert.match(stats.out, /^ {2}rejected {5}3$/m);
  noPhi(stats.out, 'dlq stats');

  // show without --show-phi: what failed and where the record came from; the content and the receiver's words stay hidden.
  const hidden = await run(runDlq, ['show', '0:1']);
  assert.equal(hidden.code, 0, hidden.err);
  assert.match(hidden.out, /^ {2}stage {9}delivery$/m);
  assert.match(hidden.out, new RegExp(`^ {2}detail {8}ackCode=AR, source=${topic} 0:1$`, 'm'));
  assert.match(hidden.out, /^ {2}content {7}hidden/m);
  noPhi(hidden.out, 'dlq show');
  assert.deepEqual(await audit(), [], 'looking without content writes nothing');

  // show --show-phi: the audit record first, then the v2 message and what the receiver said.
  const shown = await run(runDlq, ['show', '0:1', '--show-phi', '--reason', 'INC-7 why does LAB reject ROE']);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, /^ {4}PID\|1\|\|MRN200\^\^\^GEN\^MR\|\|ROE\^RICHARD\|\|19800202\|M$/m);
  assert.match(shown.out, /^ {4}ERR\|\|\|204\^Unknown patient ROE\^HL70357\|E$/m);
  const afterShow = await audit();
  assert.equal(afterShow.length, 1);
  assert.equal(afterShow[0]!.kind, 'dlq-phi-shown');
  assert.equal(afterShow[0]!.channel, name);
  assert.deepEqual(afterShow[0]!.shown, [{ topic: dlqTopic, partition: 0, offset: '1', controlId: 'WB-0002' }]);

  // A single decision and a group decision, each one audit record.
  const discard = await run(runDlq, ['discard', '0:2', '--reason', 'test patient, not to be sent']);
  assert.equal(discard.code, 0, discard.err);
  assert.match(discard.out, new RegExp(`^discard ${name}\\.dlq 0:2 \\(WB-0003\\) by analyst-ana`, 'm'));
  const escalate = await run(runDlq, ['escalate', '--category', 'rejected', '--reason', 'LAB must register these patients']);
  assert.equal(escalate.code, 0, escalate.err);
  assert.match(escalate.out, /^escalate 2 dead letter\(s\) of category rejected in /m);
  const decisions = (await audit()).filter((a) => a.kind === 'dlq-decision');
  assert.deepEqual(
    decisions.map((a) => [a.decision?.action, a.channel, a.decision?.target ?? a.decision?.targets]),
    [
      ['discard', name, { topic: dlqTopic, partition: 0, offset: '2' }],
      ['escalate', name, [{ topic: dlqTopic, partition: 0, offset: '0' }, { topic: dlqTopic, partition: 0, offset: '1' }]],
    ],
  );
  assert.match((await run(runDlq, ['list'])).out, /: 2 waiting in .*1 discarded\)$/m);

  // Dry run: lists what would be sent; the receiver gets nothing and the audit trail is unchanged.
  const auditBefore = (await audit()).length;
  const dry = await run(runReplay, ['--from', 'dlq', '--dry-run']);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, new RegExp(`^dlq 0:0 ORU\\^R01 WB-0001: would send the stored message \\(${Buffer.byteLength(MESSAGES[0]!)} bytes\\) to 127\\.0\\.0\\.1:${port}$`, 'm'));
  assert.match(dry.out, /^ {2}read 3, selected 2: 2 would be sent, 0 skipped$/m);
  noPhi(dry.out, 'replay --dry-run');
  assert.equal(received.length, 3);
  assert.equal((await audit()).length, auditBefore);

  // The receiver now takes WB-0001 but still rejects WB-0002: one delivered, one back in the DLQ in place of the old one.
  answers = (c) => (c === 'WB-0001' ? 'AA' : 'AR');
  const again = await run(runReplay, ['--from', 'dlq', '--reason', 'LAB registered the patients']);
  assert.equal(again.code, 1, 'one failed again');
  assert.match(again.out, /^dlq 0:0 ORU\^R01 WB-0001: delivered \(AA\)$/m);
  assert.match(again.out, new RegExp(`^dlq 0:1 ORU\\^R01 WB-0002: failed again, back in ${name}\\.dlq: rejected`, 'm'));
  noPhi(again.out, 'replay');
  const resent = received.slice(3);
  assert.deepEqual(resent.map((r) => r.controlId), ['WB-0001', 'WB-0002'], 'the waiting ones, in DLQ order; the discarded one not');
  for (const r of resent) assert.equal(r.text, firstSent.get(r.controlId), `${r.controlId} sent again byte for byte`);
  const dlq = await readTopic(dlqTopic, { until: (rs) => rs.length >= 4 });
  const newest = JSON.parse(dlq[3]!.value.toString('utf8')) as OutboundDeadLetter;
  assert.deepEqual(newest.replay?.previous, { topic: dlqTopic, partition: 0, offset: '1' });
  assert.equal(newest.failure.attempts, 2);
  assert.equal(dlq[3]!.key, 'patient-1', 'keyed like the first, so it stays in the patient\'s partition');
  const trail = (await audit()).filter((a) => a.kind === 'replay-started' || a.kind === 'replay-finished');
  assert.deepEqual(trail.map((a) => [a.kind, a.channel, a.operator, a.reason]), [
    ['replay-started', name, 'analyst-ana', 'LAB registered the patients'],
    ['replay-finished', name, 'analyst-ana', 'LAB registered the patients'],
  ]);
  assert.deepEqual(trail[1]!.counts, { read: 3, selected: 2, delivered: 1, failedAgain: 1, skipped: 0 });
  assert.deepEqual(trail[1]!.resolved, [[0, '0', '0']]);

  const after = await run(runDlq, ['list', '--all']);
  assert.match(after.out, new RegExp(`^destination ${name}: 4 dead letter\\(s\\) in ${name}\\.dlq \\(1 waiting, 1 resolved by replay, 1 failed again on replay, 1 discarded\\)$`, 'm'));
  assert.match((await run(runDlq, ['list'])).out, /^ {2}0:3 {2}attempts 2 .* WB-0002 /m);

  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('dlq decisions on a destination need a known destination; --channel and --destination together are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'destinations-'));
  writeFileSync(join(dir, 'a.yaml'), 'name: lab-a\nsource: { topic: lab.fhir }\ntarget: { host: 127.0.0.1, port: 2575 }\n');
  const io = { out: '', err: '' };
  const sink = { stdout: (t: string) => (io.out += t), stderr: (t: string) => (io.err += t) };
  assert.equal(await runDlq(['list', '--destinations', dir, '--destination', 'lab-b'], sink), 2);
  assert.match(io.err, /^no destination named lab-b in .* \(destinations: lab-a\)$/m);
  io.err = '';
  assert.equal(await runDlq(['list', '--destinations', dir, '--destination', 'lab-a', '--channel', 'adt'], sink), 2);
  assert.match(io.err, /^--channel and --destination name two different queues: give one$/m);
  io.err = '';
  assert.equal(await runReplay(['--from', 'raw', '--destinations', dir, '--destination', 'lab-a', '--reason', 'x'], sink), 2);
  assert.match(io.err, /^a destination replays its dead letters: use --from dlq$/m);
  rmSync(dir, { recursive: true, force: true });
});
