/**
 * Audited replay on the real broker with the real mapping set, as an analyst lives it: a mapping
 * broken on purpose dead-letters every ADT message (Patient.gender takes PID-8 as sent, without
 * the table lookup, so "F" is not an R4 gender and each Bundle fails validation); the analyst
 * looks at the DLQ, replays one message too early (it fails again, attempts 2), fixes the
 * mapping, dry-runs, replays in two steps through the checkpoint, replays again (nothing changes
 * downstream), then changes the mapping and re-converts history from the raw topic. The steps build on each other, in file order.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import type { StoredDeadLetter } from '../../src/records/index.js';
import { runDlq } from '../../src/dlq/index.js';
import { AUDIT_TOPIC, type AuditRecord } from '../../src/records/index.js';
import { freePort } from '../support/net.js';
import { runReplay, type Checkpoint } from '../../src/replay/index.js';
import { REPO_DIR } from '../support/repo.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic, testKafka, type ReadRecord } from '../support/kafka.js';
import { RawMllpClient, readAck } from '../support/mllp-client.js';
import { endOffsets } from '../transform/support.js';

const ADT_A01 = readFileSync(join(REPO_DIR, 'test-messages', 'adt', 'adt-a01.hl7'), 'latin1');

/** Three admissions of three patients; names and MRNs are the PHI that must not reach a screen. */
const PATIENTS = [
  { controlId: 'RPL-1', mrn: 'MRN-RPL-1001', family: 'QUIGLEYFAMILY', given: 'ROSALIND' },
  { controlId: 'RPL-2', mrn: 'MRN-RPL-1002', family: 'VANDERMEER', given: 'OTTILIE' },
  { controlId: 'RPL-3', mrn: 'MRN-RPL-1003', family: 'ABERNATHY', given: 'CASIMIR' },
];

function admission(p: (typeof PATIENTS)[number]): Buffer {
  const text = ADT_A01.replace('|MSG00001|', `|${p.controlId}|`)
    .replace('123456789^^^GENHOSP^MR', `${p.mrn}^^^GENHOSP^MR`)
    .replace('DOE^JANE^Q^^MS^^L~DOE^JANIE^^^^^N', `${p.family}^${p.given}^^^^^L`);
  return Buffer.from(text, 'latin1');
}

const kafka = testKafka();
const env = { ...process.env, HL7_OPERATOR: 'analyst-ana' };
let work: string;
let setDir: string;
let channelsDir: string;
let channelName: string;
let topics: { raw: string; fhir: string; dlq: string };
let checkpointDir: string;

async function cli(run: typeof runDlq, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) }, { kafka, env });
  return { code, out, err };
}

const dlq = (...argv: string[]) => cli(runDlq, [...argv, '--channels', channelsDir, '--channel', channelName]);
const replay = (...argv: string[]) => cli(runReplay, [...argv, '--channels', channelsDir, '--channel', channelName, '--checkpoint-dir', checkpointDir]);

async function all(topic: string, atLeast = 0): Promise<ReadRecord[]> {
  const ends = await endOffsets(kafka, topic);
  const total = [...ends.values()].reduce((n, o) => n + Number(o), 0);
  return readTopic(topic, { until: (rs) => rs.length >= Math.max(total, atLeast), timeoutMs: 20_000 });
}

async function auditOfThisChannel(): Promise<AuditRecord[]> {
  const records = await all(AUDIT_TOPIC);
  return records.map((r) => JSON.parse(r.value.toString()) as AuditRecord).filter((a) => a.channel === channelName);
}

function assertNoPhi(text: string): void {
  for (const p of PATIENTS) {
    for (const v of [p.family, p.given, p.mrn]) assert.ok(!text.includes(v), `output shows ${v}`);
  }
}

function gender(r: ReadRecord): string | undefined {
  const b = JSON.parse(r.value.toString()) as Bundle;
  return (b.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient | undefined)?.gender;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl7-engine-replay-'));
  setDir = join(work, 'mappings', 'adt-set');
  cpSync(join(REPO_DIR, 'mappings', 'default'), setDir, { recursive: true });
  // The mistake: PID-8 as sent where the table lookup belongs. The load-time check cannot see it
  // (a code element gets text); every message's "F" or "M" fails validation.
  const common = readFileSync(join(setDir, 'common.yaml'), 'utf8');
  assert.ok(common.includes('      gender: "PID-8 | code(hl7-0001)"'));
  writeFileSync(join(setDir, 'common.yaml'), common.replace('      gender: "PID-8 | code(hl7-0001)"', '      gender: "PID-8"'));
  checkpointDir = join(work, 'checkpoints');

  channelName = uniqueChannel('replay');
  const te = await startEngine(
    `name: ${channelName}\nlistener:\n  port: ${await freePort()}\nack:\n  mode: original\ndedupe:\n  windowSeconds: 0\nmapping: ${setDir}\n`,
  );
  channelsDir = dirname(te.channel.file);
  topics = te.channel.topics;
  try {
    const client = await RawMllpClient.open(te.port);
    try {
      for (const p of PATIENTS) assert.equal(readAck((await client.roundTrip(admission(p)))!).code, 'AA');
    } finally {
      client.close();
    }
    const dead = await readTopic(topics.dlq, { until: (rs) => rs.length >= 3, timeoutMs: 40_000 });
    assert.equal(dead.length, 3, 'each admission is dead-lettered by the broken mapping');
  } finally {
    await te.stop();
  }
});

after(async () => {
  // Nothing to stop: the engine stopped in before(); topics are unique to this run.
});

test('dlq list shows what waits, grouped by category and cause, with control ids and senders but no names or MRNs', async () => {
  const r = await dlq('list');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`channel ${channelName}: 3 waiting in ${topics.dlq.replace('.', '\\.')}`));
  assert.match(r.out, /^validation at transform \(3\): /m);
  for (const p of PATIENTS) assert.match(r.out, new RegExp(`ADT\\^A01  ${p.controlId}  EPIC\\|GENHOSP`));
  assertNoPhi(r.out);
});

test('dlq stats counts the waiting dead letters by category and by cause', async () => {
  const r = await dlq('stats');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /holds 3 dead letter\(s\): 3 waiting, 0 resolved by replay, 0 failed again on replay/);
  assert.match(r.out, /^ {2}validation +3$/m);
  assert.match(r.out, /^ +3 {2}validation\/transform .*\(ADT\^A01 x3;/m);
  assertNoPhi(r.out);
});

test('dlq show displays one dead letter’s metadata and hides its content', async () => {
  const r = await dlq('show', '--control-id', 'RPL-2');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /category {6}validation/);
  assert.match(r.out, /stage {9}transform/);
  assert.match(r.out, /attempts {6}1/);
  assert.match(r.out, /control id {4}RPL-2/);
  assert.match(r.out, new RegExp(`raw record {4}${topics.raw.replace('.', '\\.')} \\d+:\\d+`));
  assert.match(r.out, /content {7}hidden/);
  assertNoPhi(r.out);
});

test('dlq show --show-phi prints the message and first writes who looked, when, why and at what to the audit topic', async () => {
  const before = (await auditOfThisChannel()).length;
  const r = await dlq('show', '--control-id', 'RPL-2', '--show-phi', '--reason', 'ticket 4711: check PID-8');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /PID\|1\|\|MRN-RPL-1002\^\^\^GENHOSP\^MR~[^|]*\|\|VANDERMEER\^OTTILIE/);
  const audit = await auditOfThisChannel();
  assert.equal(audit.length, before + 1);
  const a = audit[audit.length - 1]!;
  assert.equal(a.kind, 'dlq-phi-shown');
  assert.equal(a.operator, 'analyst-ana');
  assert.equal(a.reason, 'ticket 4711: check PID-8');
  assert.deepEqual(a.shown?.map((s) => s.controlId), ['RPL-2']);
  assert.ok(Date.now() - Date.parse(a.at) < 60_000);
  assert.ok(!JSON.stringify(a).includes('VANDERMEER'), 'the audit record names the record, not its content');
});

test('dlq show --show-phi without a reason is refused and shows nothing', async () => {
  const r = await dlq('show', '--control-id', 'RPL-2', '--show-phi');
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.match(r.err, /--show-phi needs --reason/);
});

test('a message replayed while the mapping is still broken fails again: back in the DLQ with attempts 2 and its first failure time kept', async () => {
  const original = (await all(topics.dlq)).map((r) => JSON.parse(r.value.toString()) as StoredDeadLetter).find((d) => d.msh?.controlId === 'RPL-1')!;
  const r = await replay('--from', 'dlq', '--control-id', 'RPL-1', '--reason', 'too early, on purpose');
  assert.equal(r.code, 1, 'a message that fails again makes the replay exit 1');
  assert.match(r.out, /1 converted|0 converted/);
  assert.match(r.out, /1 failed again/);
  const dead = (await all(topics.dlq, 4)).map((x) => JSON.parse(x.value.toString()) as StoredDeadLetter);
  const again = dead.filter((d) => d.msh?.controlId === 'RPL-1' && d.failure.stage === 'replay');
  assert.equal(again.length, 1);
  assert.equal(again[0]!.failure.attempts, 2);
  assert.equal(again[0]!.failure.firstAt, original.failure.firstAt);
  assert.equal(again[0]!.failure.category, 'validation');
  assert.deepEqual(again[0]!.rawRecord, original.rawRecord);
  assert.ok(again[0]!.replay?.previous, 'the new dead letter points at the one it replaces');

  const list = await dlq('list');
  assert.match(list.out, /3 waiting .*1 failed again on replay/);
  assert.match(list.out, /^validation at replay \(1\): /m);
});

test('after the fix, a dry run shows the resources each message would produce and writes nothing anywhere', async () => {
  cpSync(join(REPO_DIR, 'mappings', 'default', 'common.yaml'), join(setDir, 'common.yaml'));
  const ends = await Promise.all([topics.raw, topics.fhir, topics.dlq, AUDIT_TOPIC].map((t) => endOffsets(kafka, t)));
  const r = await replay('--from', 'dlq', '--dry-run');
  assert.equal(r.code, 0, r.err + r.out);
  const lines = r.out.split('\n').filter((l) => l.includes('would write Bundle'));
  assert.equal(lines.length, 3, r.out);
  for (const l of lines) assert.match(l, /\+Patient\/[0-9a-f-]{36} .*\+Encounter\//);
  assert.match(r.out, /dry run, nothing written/);
  assertNoPhi(r.out);
  const after = await Promise.all([topics.raw, topics.fhir, topics.dlq, AUDIT_TOPIC].map((t) => endOffsets(kafka, t)));
  assert.deepEqual(after, ends);
});

test('a replay stopped after one message resumes from its checkpoint and converts the rest, each run audited', async () => {
  const first = await replay('--from', 'dlq', '--reason', 'mapping fixed (gender lookup restored)', '--limit', '1', '--replay-id', 'fix-gender-1');
  assert.equal(first.code, 1, 'a stopped replay is not done');
  assert.match(first.out, /selected 1: 1 converted/);
  assert.match(first.out, /resume with --resume fix-gender-1/);
  const cp = JSON.parse(readFileSync(join(checkpointDir, 'fix-gender-1.json'), 'utf8')) as Checkpoint;
  assert.equal(cp.done, false);
  assert.equal(cp.counts.converted, 1);

  const second = await replay('--resume', 'fix-gender-1');
  assert.equal(second.code, 0, second.err + second.out);
  assert.match(second.out, /selected 2: 2 converted, 0 stored again in the raw topic, 0 failed again/);
  assert.match(second.out, /all runs of this replay: read \d+, selected 3: 3 converted/);

  const fhir = await all(topics.fhir, 3);
  assert.deepEqual(fhir.map((r) => r.headers['hl7_control_id']).sort(), ['RPL-1', 'RPL-2', 'RPL-3']);
  const audit = (await auditOfThisChannel()).filter((a) => a.replayId === 'fix-gender-1');
  assert.deepEqual(audit.map((a) => `${a.kind}:${a.outcome ?? ''}`), ['replay-started:', 'replay-finished:stopped', 'replay-started:', 'replay-finished:completed']);
  for (const a of audit) {
    assert.equal(a.operator, 'analyst-ana');
    assert.equal(a.reason, 'mapping fixed (gender lookup restored)');
    assert.equal(a.selection?.['source'], 'dlq');
  }
  assert.deepEqual(audit[1]!.counts, { read: 1, selected: 1, converted: 1, storedRaw: 0, failedAgain: 0, skipped: 0 });
  assert.equal(audit[3]!.counts?.['converted'], 2);

  const list = await dlq('list');
  assert.match(list.out, /: 0 waiting /);
});

test('replaying the same dead letters again changes nothing downstream: same resource ids, same bytes', async () => {
  const before = await all(topics.fhir, 3);
  const r = await replay('--from', 'dlq', '--include-resolved', '--reason', 'idempotence check');
  // The superseded attempt-1 dead letter of RPL-1 is taken too: RPL-1 converts twice in this run.
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /selected 4: 4 converted/);
  const after = await all(topics.fhir, before.length + 1);
  const byRaw = new Map<string, Set<string>>();
  for (const rec of after) {
    const k = `${rec.headers['hl7_raw_partition']}:${rec.headers['hl7_raw_offset']}`;
    if (!byRaw.has(k)) byRaw.set(k, new Set());
    byRaw.get(k)!.add(`${rec.key}\n${rec.value.toString()}\n${JSON.stringify(Object.entries(rec.headers).sort())}`);
  }
  assert.equal(byRaw.size, 3, 'three raw records, three distinct Bundles');
  for (const [k, versions] of byRaw) assert.equal(versions.size, 1, `raw record ${k} has ${versions.size} different outputs`);
  assert.ok(after.length > before.length);
});

test('after a mapping change, replay --from raw re-converts history: the dry run names the changed Patient, the run publishes it', async () => {
  const table = join(setDir, 'tables', 'hl7-0001.yaml');
  writeFileSync(table, readFileSync(table, 'utf8').replace('F: { code: female, display: Female }', 'F: { code: other, display: Other }'));
  const dry = await replay('--from', 'raw', '--dry-run');
  assert.equal(dry.code, 0, dry.err + dry.out);
  const lines = dry.out.split('\n').filter((l) => l.startsWith('raw '));
  assert.equal(lines.length, 3);
  for (const l of lines) assert.match(l, /~Patient\/[0-9a-f-]{36}/);

  const before = await all(topics.fhir, 3);
  const r = await replay('--from', 'raw', '--reason', 'site asked for F → other');
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /read 3, selected 3: 3 converted/);
  const after = await all(topics.fhir, before.length + 3);
  const old = new Set(before.map((x) => `${x.partition}:${x.offset}`));
  const newest = after.filter((x) => !old.has(`${x.partition}:${x.offset}`));
  assert.deepEqual(newest.map(gender), ['other', 'other', 'other']);
  assert.deepEqual(before.map(gender).filter((g) => g !== 'female'), []);
  const audit = (await auditOfThisChannel()).filter((a) => a.reason === 'site asked for F → other');
  assert.equal(audit.length, 2);
  assert.equal(audit[1]!.counts?.['converted'], 3);
});

/** The raw records of the three admissions, by control id, with their position and receive time. */
async function rawPositions(): Promise<Map<string, { partition: number; offset: string; at: string }>> {
  const raw = await all(topics.raw, 3);
  assert.equal(raw.length, 3);
  return new Map(raw.map((r) => [r.headers['hl7_control_id'] ?? '', { partition: r.partition, offset: r.offset, at: r.headers['ce_time'] ?? '' }]));
}

test('replay --from raw --offsets P:O re-drives exactly the records named, and the run converts only that one', async () => {
  const raw = await rawPositions();
  const two = raw.get('RPL-2')!;
  const three = raw.get('RPL-3')!;

  const both = await replay('--from', 'raw', '--offsets', `${two.partition}:${two.offset},${three.partition}:${three.offset}`, '--dry-run');
  assert.equal(both.code, 0, both.err + both.out);
  assert.match(both.out, /read 3, selected 2: /);

  const before = await all(topics.fhir, 3);
  const r = await replay('--from', 'raw', '--offsets', `${two.partition}:${two.offset}`, '--reason', 'one message, by position');
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /read 3, selected 1: 1 converted/);
  const after = await all(topics.fhir, before.length + 1);
  const old = new Set(before.map((x) => `${x.partition}:${x.offset}`));
  const newest = after.filter((x) => !old.has(`${x.partition}:${x.offset}`));
  assert.deepEqual(
    newest.map((x) => [x.headers['hl7_control_id'], x.headers['hl7_raw_partition'], x.headers['hl7_raw_offset']]),
    [['RPL-2', String(two.partition), two.offset]],
  );
  const audit = (await auditOfThisChannel()).filter((a) => a.reason === 'one message, by position');
  assert.deepEqual(audit[0]?.selection?.['offsets'], [{ partition: two.partition, offset: two.offset }], 'the audit names the positions');
});

test('replay --offsets that is not PARTITION:OFFSET is refused with exit 2 and replays nothing', async () => {
  const r = await replay('--from', 'raw', '--offsets', '0-1', '--reason', 'typo');
  assert.equal(r.code, 2);
  assert.match(r.err, /"0-1" is not a record position: use PARTITION:OFFSET/);
  assert.equal(r.out, '');
});

test('replay --from raw --since/--until select by receive time: from the second message on, before it, after all, and an age', async () => {
  const times = [...(await rawPositions()).values()].map((p) => p.at).sort();
  assert.equal(new Set(times).size, 3, `three distinct receive times: ${times.join(', ')}`);
  const second = times[1]!;
  const afterAll = new Date(Date.parse(times[2]!) + 1).toISOString();
  const selected = async (...args: string[]): Promise<string> => {
    const r = await replay('--from', 'raw', ...args, '--dry-run');
    assert.equal(r.code, 0, r.err + r.out);
    return /read (\d+), selected (\d+):/.exec(r.out)?.slice(1, 3).join('/') ?? r.out;
  };
  assert.equal(await selected('--since', second), '3/2', '--since includes the message received at that time');
  assert.equal(await selected('--until', second), '3/1', '--until excludes it');
  assert.equal(await selected('--since', second, '--until', times[2]!), '3/1', 'a window holding only the second message');
  assert.equal(await selected('--since', afterAll), '3/0');
  assert.equal(await selected('--since', '1h'), '3/3', 'an age: everything received in the last hour');
});

test('replay --from dlq --since after the last failure selects nothing; --offsets picks one dead letter', async () => {
  const dead = await all(topics.dlq, 4);
  const latest = Math.max(...dead.map((r) => Date.parse((JSON.parse(r.value.toString()) as StoredDeadLetter).failure.lastAt)));
  const none = await replay('--from', 'dlq', '--include-resolved', '--since', new Date(latest + 1).toISOString(), '--dry-run');
  assert.equal(none.code, 0, none.err + none.out);
  assert.match(none.out, /selected 0: /);

  const first = dead[0]!;
  const one = await replay('--from', 'dlq', '--include-resolved', '--offsets', `${first.partition}:${first.offset}`, '--dry-run');
  assert.equal(one.code, 0, one.err + one.out);
  assert.match(one.out, new RegExp(`read ${dead.length}, selected 1: `));
});

test('replay refuses to start without a reason', async () => {
  const r = await replay('--from', 'dlq');
  assert.equal(r.code, 2);
  assert.match(r.err, /replay needs --reason/);
});
