/**
 * v2 in → FHIR (the inbound mappings) → v2 out over test-messages/: the fields the issue names
 * (PID-3, PID-5, PID-7, PID-8, OBR-4, OBX-3, OBX-5, OBX-6, ORC-2) come back equal, per segment
 * occurrence, after normalisation: each field compared as this project's parser reads it, with
 * trailing empty components dropped by the writer; OBX-6 only where OBX-5 has a value (FHIR keeps
 * no units without a value). Every output parses in this project's parser and in HAPI HL7v2, and
 * HAPI's re-encoding of it is the very same text.
 *
 * In scope: the message types with an outbound twin (ADT, ORU, OUL → ORU, ORM, OML, VXU). Left out,
 * each with its reason: messages about two patients (an ADT^A08/A31 carries one), merges (the
 * Bundle's first Patient is not PID's), A20 (no patient), OUL^R22 (one specimen shared by two
 * orders: ORU^R01 nests SPM in each order, so the SPM and its OBX come back once per order).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage } from '../../src/charset/index.js';
import { parseMessage, type Hl7Message } from '../../src/hl7/index.js';
import { convertMessage, loadMappingSet } from '../../src/mapping/index.js';
import { generateMessage } from '../../src/outbound/index.js';
import { hapiCheck } from '../support/hapi.js';
import { REPO_DIR } from '../support/repo.js';
import { loadDefaultOutbound, MESSAGE_TIME } from './cases.js';

const FAMILIES = ['adt', 'oru', 'oul', 'orm', 'vxu'];
const LEFT_OUT: Readonly<Record<string, string>> = {
  'adt/adt-a17.hl7': 'two patients (swap)',
  'adt/adt-a24.hl7': 'two patients (link)',
  'adt/adt-a37.hl7': 'two patients (unlink)',
  'adt/adt-a30.hl7': 'merge: the first Patient of the Bundle is not PID',
  'adt/adt-a39.hl7': 'merge: the first Patient of the Bundle is not PID',
  'adt/adt-a46.hl7': 'merge: the first Patient of the Bundle is not PID',
  'adt/adt-a20.hl7': 'bed status: no patient',
  'oul/oul-r22.hl7': 'one specimen shared by two orders: ORU^R01 nests SPM per order, so its OBX come back twice',
  'orm/omg-o19.hl7': 'OMG^O19 has no outbound twin (its OBX are not ORM order detail)',
};
const FIELDS: Readonly<Record<string, readonly number[]>> = { PID: [3, 5, 7, 8], OBR: [4], OBX: [3, 5, 6], ORC: [2] };

const inbound = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');
const outbound = loadDefaultOutbound();

const cases = FAMILIES.flatMap((dir) =>
  readdirSync(join(REPO_DIR, 'test-messages', dir))
    .filter((f) => f.endsWith('.hl7'))
    .sort()
    .map((f) => `${dir}/${f}`),
).filter((c) => !(c in LEFT_OUT));

function parseFile(path: string): Hl7Message {
  const d = decodeMessage(readFileSync(path), { fallback: 'windows-1252' });
  assert.ok(d.ok, path);
  const p = parseMessage(d.text);
  assert.ok(p.ok, path);
  return p.message;
}

/** The compared fields of a message, per segment occurrence, unescaped. */
function fieldsOf(m: Hl7Message): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [seg, fields] of Object.entries(FIELDS)) {
    for (const n of fields) {
      out[`${seg}-${n}`] = m.segments(seg).map((s) => {
        if (seg === 'OBX' && n === 6 && (s.getRaw(5) ?? '') === '') return '(no value)';
        return s.getAll(n).join('~');
      });
    }
  }
  return out;
}

const outputs = new Map<string, string>();

test('the round trip covers every in-scope test message (count asserted)', () => {
  assert.equal(cases.length, 56);
  for (const left of Object.keys(LEFT_OUT)) assert.ok(readFileSync(join(REPO_DIR, 'test-messages', left)).length > 0, `${left} exists`);
});

for (const c of cases) {
  test(`${c}: v2 → FHIR → v2 keeps PID-3/5/7/8, OBR-4, OBX-3/5/6, ORC-2; the output parses here`, () => {
    const input = parseFile(join(REPO_DIR, 'test-messages', c));
    const bundle = convertMessage(input, inbound).bundle;
    assert.ok(bundle, 'inbound conversion gives a Bundle');
    const r = generateMessage(bundle, outbound, { messageTime: MESSAGE_TIME });
    assert.ok(r.text, `an outbound mapping applies (${r.issues.map((i) => i.message).join('; ')})`);
    const parsed = parseMessage(r.text);
    assert.ok(parsed.ok, 'the output parses in this project\'s parser');
    assert.deepEqual(fieldsOf(parsed.message), fieldsOf(input));
    outputs.set(c, r.text);
  });
}

test('the HAPI referee can fail: it rejects an impossible date that this engine would never write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hl7-hapi-'));
  try {
    const bad = join(dir, 'bad.hl7');
    writeFileSync(bad, 'MSH|^~\\&|A|B|C|D|20261201||ORU^R01^ORU_R01|1|P|2.5.1\rPID|1||x||y||2026-13-45\r');
    const [v] = hapiCheck([bad]);
    assert.equal(v?.ok, false);
    assert.match(v?.detail ?? '', /PID-7/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every round-trip output parses in HAPI HL7v2, which re-encodes it to the same text', () => {
  assert.equal(outputs.size, cases.length, 'every case produced an output');
  const dir = mkdtempSync(join(tmpdir(), 'hl7-outbound-'));
  try {
    const files = [...outputs].map(([c, text], i) => {
      const f = join(dir, `${String(i).padStart(3, '0')}-${c.replace('/', '-')}`);
      writeFileSync(f, text);
      return f;
    });
    const verdicts = hapiCheck(files);
    const failed = verdicts.filter((v) => !v.ok).map((v) => `${v.file}: ${v.detail}`);
    assert.deepEqual(failed, []);
    for (const [i, v] of verdicts.entries()) {
      const ours = [...outputs.values()][i] ?? '';
      assert.equal(v.encoded?.replace(/\r?$/, '\r'), ours, `${v.file}: HAPI re-encodes to the same text`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Whole outputs of the focused tests below, for the HAPI check at the end of this file. */
const focusedOutputs: string[] = [];

/** v2 text (segments joined by CR) → FHIR → v2; the output's segments that match `keep`. */
function roundTrip(lines: readonly string[], keep: RegExp): string[] {
  const p = parseMessage(`${lines.join('\r')}\r`);
  assert.ok(p.ok);
  const bundle = convertMessage(p.message, inbound).bundle;
  assert.ok(bundle, 'inbound conversion gives a Bundle');
  const r = generateMessage(bundle, outbound, { messageTime: MESSAGE_TIME });
  assert.ok(r.text);
  focusedOutputs.push(r.text);
  return r.text.split('\r').filter((s) => keep.test(s));
}

const ORU_HEAD = [
  'MSH|^~\\&|LAB|GENLAB|EHR|GENHOSP|20261121100000-0500||ORU^R01^ORU_R01|R1|P|2.5.1',
  'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F',
  'ORC|RE|ORD1^EPIC|FIL1^LAB',
  'OBR|1|ORD1^EPIC|FIL1^LAB|5196-1^HBsAg^LN|||20261121090000-0500',
];

/** OBX-2, OBX-5 and OBX-6 of each OBX the ORU round trip of these OBX gives back. */
function obxValues(obx: readonly string[]): string[] {
  return roundTrip([...ORU_HEAD, ...obx], /^OBX\|/).map((s) => s.split('|').slice(2, 7).filter((_, i) => i !== 1 && i !== 2).join('|'));
}

test('ORU: answers to ask-at-order-entry questions (OBX-29 QST) come back after the results, OBX-29 kept, OBX-1 counting on', () => {
  const obx = roundTrip(
    [
      'MSH|^~\\&|LAB|GENLAB|EHR|GENHOSP|20261121100000-0500||ORU^R01^ORU_R01|R1|P|2.5.1',
      'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F',
      'ORC|RE|ORD1^EPIC|FIL1^LAB',
      'OBR|1|ORD1^EPIC|FIL1^LAB|94558-4^SARS-CoV-2 Ag^LN|||20261121090000-0500',
      'OBX|1|CWE|94558-4^SARS-CoV-2 Ag^LN||260415000^Not detected^SCT||||||F',
      // OBX-11 F, then 18 delimiters to OBX-29.
      `OBX|2|CWE|95419-8^Has symptoms^LN||N^No^HL70136||||||F${'|'.repeat(18)}QST`,
      `OBX|3|NM|30525-0^Age^LN||42|a^year^UCUM|||||F${'|'.repeat(18)}QST`,
    ],
    /^OBX\|/,
  );
  assert.deepEqual(
    obx.map((s) => { const f = s.split('|'); return [f[1], f[2], f[3], f[5], f[6], f[29] ?? ''].join('|'); }),
    [
      '1|CWE|94558-4^SARS-CoV-2 Ag^LN|260415000^Not detected^SCT||',
      '2|CWE|95419-8^Has symptoms^LN|N^No^HL70136||QST',
      '3|NM|30525-0^Age^LN|42|a^year^UCUM|QST',
    ],
  );
});

test('ORM: an OBX given with the order (ServiceRequest.supportingInfo inbound) comes back after its OBR', () => {
  const lines = roundTrip(
    [
      'MSH|^~\\&|EPIC|GENHOSP|LAB|GENLAB|20261121100000-0500||ORM^O01^ORM_O01|O1|P|2.5.1',
      'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F',
      'ORC|NW|ORD2^EPIC',
      'OBR|1|ORD2^EPIC||85025^CBC^CPT',
      `OBX|1|CWE|11449-6^Pregnancy status^LN||N^No^HL70136||||||F${'|'.repeat(18)}QST`,
    ],
    /^(ORC|OBR|OBX)\|/,
  );
  assert.deepEqual(
    lines.map((s) => s.split('|')[0]),
    ['ORC', 'OBR', 'OBX'],
  );
  const f = (lines[2] ?? '').split('|');
  assert.deepEqual([f[1], f[2], f[3], f[5], f[29]], ['1', 'CWE', '11449-6^Pregnancy status^LN', 'N^No^HL70136', 'QST']);
});

test('a time of birth (PID-7 longer than a date) comes back from the patient-birthTime extension; a date alone stays a date', () => {
  const pid = (dob: string): string[] =>
    roundTrip(
      [
        'MSH|^~\\&|EHR|GENHOSP|X|Y|20261121100000-0500||ADT^A04^ADT_A01|A1|P|2.5.1',
        'EVN|A04|20261121100000-0500',
        `PID|1||123456789^^^GENHOSP^MR||DOE^JANE||${dob}|F`,
        'PV1|1|O',
      ],
      /^PID\|/,
    ).map((s) => s.split('|')[7] ?? '');
  assert.deepEqual(pid('19800215123045-0500'), ['19800215123045-0500']);
  assert.deepEqual(pid('19800215'), ['19800215']);
});

test('a local identifier type (CX.5 not in table 0203) comes back as sent, from Identifier.type.text', () => {
  const pid3 = roundTrip(
    [
      'MSH|^~\\&|EHR|GENHOSP|X|Y|20261121100000-0500||ADT^A04^ADT_A01|A1|P|2.5.1',
      'EVN|A04|20261121100000-0500',
      'PID|1||123456789^^^GENHOSP^MR~9434765919^^^NHS^NHSNMBR||DOE^JANE||19800215|F',
      'PV1|1|O',
    ],
    /^PID\|/,
  ).map((s) => s.split('|')[3] ?? '');
  assert.deepEqual(pid3, ['123456789^^^GENHOSP^MR~9434765919^^^NHS^NHSNMBR']);
});

test('an SN ratio (valueRatio inbound) comes back as SN with its separator, its numbers as sent and its units', () => {
  assert.deepEqual(obxValues(['OBX|1|SN|5196-1^HBsAg titer^LN||^1.0^/^4.0|{titer}^titer^UCUM|||||F', 'OBX|2|SN|5196-1^HBsAg titer^LN||^1^:^128||||||F']), [
    'SN|^1.0^/^4.0|{titer}^titer^UCUM',
    'SN|^1^:^128|',
  ]);
});

test('an SN range comes back as SN and an NR as NR (both valueRange inbound; only the SN keeps its original text)', () => {
  assert.deepEqual(obxValues(['OBX|1|SN|2345-7^Glucose^LN||^10^-^20|mg/dL^mg/dL^UCUM|||||F', 'OBX|2|NR|2345-7^Glucose^LN||10^20||||||F']), [
    'SN|^10^-^20|mg/dL^mg/dL^UCUM',
    'NR|10^20|',
  ]);
});

test('an SN with a comparator comes back with it; a separator and second number IG SN[Quantity] keeps only as text come back from that text', () => {
  assert.deepEqual(obxValues(['OBX|1|SN|2345-7^Glucose^LN||<^0.001|mg/dL^mg/dL^UCUM|||||F', 'OBX|2|SN|2345-7^Glucose^LN||>^1^.^3||||||F']), [
    'SN|<^0.001|mg/dL^mg/dL^UCUM',
    'SN|>^1^.^3|',
  ]);
});

test('ORU: a specimen (SPM) comes back after the results with its own OBX (Observation.focus inbound), found by referencedBy()', () => {
  const lines = roundTrip(
    [
      ...ORU_HEAD,
      'OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||F',
      'SPM|1|S-1&EPIC^F-1&LAB||119297000^Blood specimen^SCT|||||||||||||20261121083000-0500',
      'OBX|1|NM|35659-2^Age at specimen collection^LN||42|a^year^UCUM|||||F',
    ],
    /^(OBR|OBX|SPM)\|/,
  );
  assert.deepEqual(lines.map((s) => s.split('|').slice(0, 6).join('|')), [
    'OBR|1|ORD1^EPIC|FIL1^LAB|5196-1^HBsAg^LN|',
    'OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT',
    'SPM|1|S-1&EPIC^F-1&LAB||119297000^Blood specimen^SCT|',
    'OBX|1|NM|35659-2^Age at specimen collection^LN||42',
  ]);
  assert.equal(lines[2]?.split('|')[17], '20261121083000-0500', 'SPM-17 collection time');
});

test('a TM keeps its fraction of a second (valueTime 22:31:00.0000 inbound; FHIR time holds it, v2 TM up to four digits)', () => {
  assert.deepEqual(obxValues(['OBX|1|TM|8675-3^Time^LN||223100.0000||||||F', 'OBX|2|TM|8675-3^Time^LN||0815||||||F', 'OBX|3|TM|8675-3^Time^LN||081530||||||F']), [
    'TM|223100.0000|',
    // A time to the minute is padded to seconds inbound (FHIR time has them; padded-precision).
    'TM|081500|',
    'TM|081530|',
  ]);
});

test('a repeated OBX-5 (Observation.component inbound, each with the OBX-3 code) comes back as its repetitions, with OBX-2 and OBX-6', () => {
  assert.deepEqual(
    obxValues([
      'OBX|1|CWE|INV161^Confirmation Method^PHINQUESTION||39154008^Clinical diagnosis^SCT~46159000^Laboratory diagnosis^SCT||||||F',
      'OBX|2|NM|2345-7^Glucose^LN||95~110|mg/dL^mg/dL^UCUM|||||F',
    ]),
    ['CWE|39154008^Clinical diagnosis^SCT~46159000^Laboratory diagnosis^SCT|', 'NM|95~110|mg/dL^mg/dL^UCUM'],
  );
});

test('a DR (valuePeriod inbound) comes back as DR, start ^ end', () => {
  assert.deepEqual(obxValues(['OBX|1|DR|8675-3^Interval^LN||20230501102531-0400^20230501112531-0400||||||F', 'OBX|2|DR|8675-3^Interval^LN||20230501||||||F']), [
    'DR|20230501102531-0400^20230501112531-0400|',
    // A date alone stays a date (inbound keeps the precision sent).
    'DR|20230501|',
  ]);
});

test('an ED or RP (the IG valueAttachment extension inbound) comes back as ED with Base64 data, or RP with its url', () => {
  assert.deepEqual(
    obxValues([
      'OBX|1|ED|11502-2^Lab report^LN||LAB^AP^PDF^Base64^JVBERi0xLjQK||||||F',
      // Hex and A (text) data are kept as base64 inbound, so they come back as Base64.
      'OBX|2|ED|11502-2^Lab report^LN||^TEXT^^A^Hello||||||F',
      'OBX|3|RP|11502-2^Lab report^LN||https://lab.example/r/1.pdf^^AP^PDF||||||F',
    ]),
    ['ED|^AP^PDF^Base64^JVBERi0xLjQK|', 'ED|^TEXT^^Base64^SGVsbG8=|', 'RP|https://lab.example/r/1.pdf^^AP^PDF|'],
  );
});

test('PID-3 gets back PID-3\'s identifiers once: a PID-2 or PID-4 equal to one of them is not repeated, the SSN (PID-19) goes back to PID-19', () => {
  const pid = roundTrip(
    [
      'MSH|^~\\&|EHR|GENHOSP|X|Y|20261121100000-0500||ADT^A04^ADT_A01|A1|P|2.5.1',
      'EVN|A04|20261121100000-0500',
      'PID|1|123456789^^^GENHOSP^MR|123456789^^^GENHOSP^MR~9434765919^^^NHS^NHSNMBR|123456789^^^GENHOSP^MR|DOE^JANE||19800215|F|||||||||||444-33-3333',
      'PV1|1|O',
    ],
    /^PID\|/,
  ).map((s) => s.split('|'));
  assert.deepEqual(pid.map((f) => [f[2] ?? '', f[3] ?? '', f[4] ?? '', f[19] ?? '']), [['', '123456789^^^GENHOSP^MR~9434765919^^^NHS^NHSNMBR', '', '444-33-3333']]);
});

test('ORU: the SSN goes back to PID-19, not PID-3; an SS identifier sent in PID-3 stays in PID-3', () => {
  const pid = roundTrip(
    [
      'MSH|^~\\&|LAB|GENHOSP|X|Y|20261121100000-0500||ORU^R01^ORU_R01|R1|P|2.5.1',
      'PID|1||PAT1^^^GENHOSP^MR~555-12-3456^^^SSA^SS||DOE^JANE||19800215|F|||||||||||123-45-6789',
      'OBR|1|P1|F1|2345-7^Glucose^LN|||20261121090000-0500',
      'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|||||F',
    ],
    /^PID\|/,
  ).map((s) => s.split('|'));
  assert.deepEqual(pid.map((f) => [f[3] ?? '', f[19] ?? '']), [['PAT1^^^GENHOSP^MR~555-12-3456^^^SSA^SS', '123-45-6789']]);
});

test('the outputs of the focused round trips above parse in HAPI HL7v2, which re-encodes them to the same text', () => {
  assert.equal(focusedOutputs.length, 15, "every focused round trip above ran first and gave an output");
  const dir = mkdtempSync(join(tmpdir(), 'hl7-outbound-focused-'));
  try {
    const files = focusedOutputs.map((text, i) => {
      const f = join(dir, `${String(i).padStart(3, '0')}.hl7`);
      writeFileSync(f, text);
      return f;
    });
    const verdicts = hapiCheck(files);
    assert.deepEqual(verdicts.filter((v) => !v.ok).map((v) => `${v.file}: ${v.detail}`), []);
    verdicts.forEach((v, i) => assert.equal(v.encoded?.replace(/\r?$/, '\r'), focusedOutputs[i], `${v.file}: HAPI re-encodes to the same text`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
