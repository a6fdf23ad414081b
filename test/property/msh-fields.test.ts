/**
 * MSH fields of any length and any delimiters, sent over MLLP to the real engine (real Kafka):
 * every frame gets exactly one answer; a field over its HL7 bound (MSH-10 199, MSH-3/4 227 and
 * 199 per component) is refused AR with the version's "value too long" code and dead-lettered;
 * every other frame is AA'd and stored; and MSA-2 always reads back as the control id that was
 * sent, including when MSH-2 has no escape character (seed 355966602 once got "ADTS01" back for
 * "ADT^01").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeValue, parseMessage, readDelimiters, type Delimiters } from '../../src/hl7/index.js';
import type { DlqRecord, RawEnvelope } from '../../src/records/index.js';
import { freePort } from '../support/net.js';
import { startEngine, uniqueChannel } from '../support/engine.js';
import { readTopic } from '../support/kafka.js';
import { RawMllpClient } from '../support/mllp-client.js';
import { topicsReady } from '../support/topics.js';

const RUNS = 150;

const DELIMITER_CHARS = [...'!"#$%&\'()*+,-/:;<=>?@[\\]^_`{|}~'];
/** Standard delimiters, any five others, or a three-character MSH-2 (one role missing; "^~&" often). */
const delimitersArb = fc
  .tuple(fc.uniqueArray(fc.constantFrom(...DELIMITER_CHARS), { minLength: 5, maxLength: 5 }), fc.constantFrom('standard', 'other', 'three', 'no-escape'))
  .map(([c, kind]): Delimiters | null => {
    if (kind === 'standard') return { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: null };
    // The common real case: MSH-2 "^~&", no escape character.
    if (kind === 'no-escape') return { field: '|', component: '^', repetition: '~', escape: '', subcomponent: '&', truncation: null };
    if (kind === 'other') return { field: c[0]!, component: c[1]!, repetition: c[2]!, escape: c[3]!, subcomponent: c[4]!, truncation: null };
    // Three encoding characters: which role goes missing is the parser's reading of MSH-2
    // ("^~&" has no escape character, "^~\\" no subcomponent separator), so ask it.
    return readDelimiters(`MSH${c[0]!}${c[1]!}${c[2]!}${c[3]!}${c[0]!}`);
  })
  .filter((d): d is Delimiters => d !== null);

/** Lengths around every bound, and some far past them. */
const lengthArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }) },
  { weight: 2, arbitrary: fc.integer({ min: 190, max: 240 }) },
  { weight: 1, arbitrary: fc.integer({ min: 241, max: 200_000 }) },
);
// No character of DELIMITER_CHARS, so a plain value never splits a field.
const PLAIN = [...'ABCXYZ0123456789. '];

interface Generated {
  readonly d: Delimiters;
  /** The control id as a value (unescaped). */
  readonly controlId: string;
  /** MSH-3 and MSH-4 as sent: components of plain characters. */
  readonly app: string[];
  readonly facility: string[];
  readonly version: '2.3' | '2.5.1' | '2.7';
  readonly withPid: boolean;
}

function valueOf(length: number, seed: number, alphabet: string[]): string {
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet[(seed + i * 7) % alphabet.length];
  return s;
}

const generatedArb: fc.Arbitrary<Generated> = fc
  .record({
    d: delimitersArb,
    idLength: lengthArb,
    idSeed: fc.nat(),
    // Control ids may hold delimiter characters: escaped when the message has an escape
    // character, as sent (components and all) when it has none.
    idDelims: fc.boolean(),
    app: fc.array(fc.tuple(lengthArb, fc.nat()), { minLength: 1, maxLength: 3 }),
    facility: fc.array(fc.tuple(fc.integer({ min: 1, max: 30 }), fc.nat()), { minLength: 1, maxLength: 3 }),
    version: fc.constantFrom('2.3' as const, '2.5.1' as const, '2.7' as const),
    withPid: fc.boolean(),
  })
  .map((r) => {
    // Without an escape character a repetition separator in MSH-10 starts a second repetition
    // of a field that has one (the control id is the first), so it is not control id data there.
    const roles = [r.d.component, r.d.subcomponent, ...(r.d.escape ? [r.d.repetition] : [])].filter((c) => c !== '');
    const idAlphabet = r.idDelims ? [...PLAIN, ...roles, ...(r.d.escape ? [r.d.escape, r.d.field] : [])] : PLAIN;
    return {
      d: r.d,
      controlId: valueOf(r.idLength, r.idSeed, idAlphabet).trim() || 'X',
      app: r.app.map(([n, s]) => valueOf(n, s, PLAIN)),
      facility: r.facility.map(([n, s]) => valueOf(n, s, PLAIN)),
      version: r.version,
      withPid: r.withPid,
    };
  })
  // '.' and digits stay out of the delimiters (asserted by the arbitrary above); "2.5.1" is safe.
  .filter((g) => g.controlId.trim() === g.controlId);

function frameOf(g: Generated): Buffer {
  const { d } = g;
  const enc = d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
  const id = d.escape === '' ? g.controlId : escapeValue(g.controlId, d);
  const msh = ['MSH' + d.field + enc, g.app.join(d.component), g.facility.join(d.component), 'ENGINE', 'FAC', '20260301120000', '', `ADT${d.component}A08`, id, 'P', g.version].join(d.field);
  const pid = g.withPid ? `\rPID${d.field}1${d.field}${d.field}MRN1${d.component}${d.component}${d.component}HOSP${d.component}MR` : '';
  return Buffer.from(`${msh}${pid}\r`, 'latin1');
}

/** Whether the engine must refuse the message for a length bound, and with which ERR code. */
function expectedBreach(g: Generated): number | null {
  const hdTooLong = (parts: string[]) => parts.join('^').length > 227 || parts.some((p) => p.length > 199);
  if (g.controlId.length > 199 || hdTooLong(g.app) || hdTooLong(g.facility)) return g.version === '2.7' ? 104 : 102;
  return null;
}

/** MSA-1, MSA-2 (as the ACK's own parser reads it, unescaped) and the ERR code, from an ACK. */
function readAnswer(ack: Buffer, version: string): { code: string; controlId: string; errCode: string } {
  const p = parseMessage(ack.toString('latin1'));
  assert.ok(p.ok, `the ACK parses: ${p.ok ? '' : p.error.message}`);
  const m = p.message;
  const errCode = version === '2.7' || version === '2.5.1' ? (m.get('ERR-3.1') ?? '') : (m.get('ERR-1.4.1') ?? '');
  return { code: m.get('MSA-1') ?? '', controlId: m.get('MSA-2') ?? '', errCode };
}

/** Runs the property over one connection; what was answered AA and AR, by control id. */
async function sendAll(port: number): Promise<{ runs: number; accepted: string[]; refused: string[] }> {
  const accepted: string[] = [];
  const refused: string[] = [];
  let runs = 0;
  const client = await RawMllpClient.open(port);
  try {
    await fc.assert(
      fc.asyncProperty(generatedArb, async (g) => {
        runs++;
        const ack = await client.roundTrip(frameOf(g), 60_000);
        assert.ok(ack, 'an answer within 60 s');
        const a = readAnswer(ack, g.version);
        assert.equal(a.controlId, g.controlId, 'MSA-2 reads back as the control id sent');
        const breach = expectedBreach(g);
        if (breach === null) {
          assert.equal(a.code, 'AA');
          accepted.push(g.controlId);
        } else {
          assert.equal(a.code, 'AR');
          assert.equal(a.errCode, String(breach));
          refused.push(g.controlId);
        }
      }),
      { numRuns: RUNS },
    );
    assert.equal(await client.nextAnswer(500), null, 'no frame got a second answer');
  } finally {
    client.close();
  }
  return { runs, accepted, refused };
}

test(`MSH fields of any length and delimiters, through ingest on the real engine: one answer each, AR for an over-long field, AA means stored, MSA-2 is the control id sent (${RUNS} runs)`, { timeout: 480_000 }, async () => {
  const name = uniqueChannel('msh-fields');
  await topicsReady(name);
  const te = await startEngine(`name: ${name}\nlistener:\n  port: ${await freePort()}\n  maxFrameBytes: 1048576\ndedupe:\n  windowSeconds: 0\n`);
  // The engine stops whatever fails, or the test process would wait on its open sockets.
  try {
    const { runs, accepted, refused } = await sendAll(te.port);
    assert.equal(runs, RUNS, `the property ran ${runs} times`);
    assert.equal(accepted.length + refused.length, RUNS);
    assert.ok(accepted.length > 0 && refused.length > 0, `both outcomes were exercised (${accepted.length} AA, ${refused.length} AR)`);
    const raw = await readTopic(te.channel.topics.raw, { until: (rs) => rs.length >= accepted.length, timeoutMs: 120_000 });
    assert.deepEqual(raw.map((r) => (JSON.parse(r.value.toString('utf8')) as RawEnvelope).msh?.controlId).sort(), [...accepted].sort(), 'AA means stored, and only AA');
    for (const r of raw) assert.ok((r.key ?? '').length <= 42, `a key of ${r.key?.length} characters`);
    const dlq = await readTopic(te.channel.topics.dlq, { until: (rs) => rs.length >= refused.length, timeoutMs: 120_000 });
    assert.equal(dlq.length, refused.length, 'each AR has its dead letter');
    for (const r of dlq) {
      assert.equal((JSON.parse(r.value.toString('utf8')) as DlqRecord).failure.category, 'rejected');
      assert.ok((r.key ?? '').length <= 42, `a key of ${r.key?.length} characters`);
    }
    console.log(`# msh-fields property: ${runs} frames, ${accepted.length} AA, ${refused.length} AR`);
  } finally {
    await te.stop();
  }
});
