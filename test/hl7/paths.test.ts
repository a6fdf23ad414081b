import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, type Hl7Message } from '../../src/hl7/index.js';

function parse(text: string): Hl7Message {
  const result = parseMessage(text);
  if (!result.ok) throw new Error(`fixture did not parse: ${result.error.code} ${result.error.message}`);
  return result.message;
}

const adt = parse(
  [
    'MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240101120000||ADT^A01^ADT_A01|MSG0001|P|2.5.1',
    'PID|1||100^^^HOSP^MR~200^^^SSA^SS&2.16.840.1.113883.4.1&ISO||DOE^JOHN^Q||19800101|M|||1 MAIN ST^^TOWN^ST^12345',
    'OBX|1|NM|GLU^Glucose||95|mg/dL',
    'OBX|2|ST|NOTE^Note||Patient \\T\\ family informed',
    'ZPI|1|custom^value',
    'Z01|a~b',
    '',
  ].join('\r'),
);

test('MSH-1 is the field separator and MSH-2 the encoding characters', () => {
  assert.equal(adt.get('MSH-1'), '|');
  assert.equal(adt.get('MSH-2'), '^~\\&');
});

test('MSH-3 is the second piece after splitting MSH on the field separator', () => {
  assert.equal(adt.get('MSH-3'), 'EPIC');
  assert.equal(adt.get('MSH-9'), 'ADT^A01^ADT_A01');
  assert.equal(adt.get('MSH-9.2'), 'A01');
  assert.equal(adt.get('MSH-10'), 'MSG0001');
});

test('BHS and FHS are numbered like MSH (BHS-3 is the sending application)', () => {
  const m = parse('MSH|^~\\&|A\rBHS|^~\\&|BATCHAPP|BATCHFAC\r');
  assert.equal(m.get('BHS-1'), '|');
  assert.equal(m.get('BHS-3'), 'BATCHAPP');
  assert.equal(m.get('BHS-4'), 'BATCHFAC');
});

test('a field path without a repetition index reads the first repetition', () => {
  assert.equal(adt.get('PID-3'), '100^^^HOSP^MR');
});

test('PID-3[2].4.1 reads a subcomponent of a component of the second repetition', () => {
  assert.equal(adt.getRaw('PID-3[2]'), '200^^^SSA^SS&2.16.840.1.113883.4.1&ISO');
  assert.equal(adt.get('PID-3[2].4.1'), 'SSA');
  assert.equal(adt.get('PID-3[2].5.2'), '2.16.840.1.113883.4.1');
});

test('PID-5.1 reads a component', () => {
  assert.equal(adt.get('PID-5.1'), 'DOE');
  assert.equal(adt.get('PID-5.3'), 'Q');
});

test('PID-3[*] returns every repetition', () => {
  assert.deepEqual(adt.getAll('PID-3[*].1'), ['100', '200']);
  assert.deepEqual(adt.getAll('PID-3[*]'), ['100^^^HOSP^MR', '200^^^SSA^SS&2.16.840.1.113883.4.1&ISO']);
});

test('OBX[2]-5 reads the second OBX; OBX-5 reads the first', () => {
  assert.equal(adt.get('OBX-5'), '95');
  assert.equal(adt.get('OBX[2]-5'), 'Patient & family informed');
});

test('OBX[*]-3.1 collects the field from every OBX', () => {
  assert.deepEqual(adt.getAll('OBX[*]-3.1'), ['GLU', 'NOTE']);
});

test('get() unescapes and getRaw() returns the text as sent', () => {
  assert.equal(adt.get('OBX[2]-5'), 'Patient & family informed');
  assert.equal(adt.getRaw('OBX[2]-5'), 'Patient \\T\\ family informed');
});

test('a component of a field without components is the whole field for .1 and "" beyond', () => {
  assert.equal(adt.get('OBX-5.1'), '95');
  assert.equal(adt.get('OBX-5.2'), '');
  assert.equal(adt.get('OBX-5.1.1'), '95');
  assert.equal(adt.get('OBX-5.1.2'), '');
});

test('get() is undefined for a missing segment, field or repetition and "" for an empty field', () => {
  assert.equal(adt.get('PV1-2'), undefined);
  assert.equal(adt.get('OBX[3]-5'), undefined);
  assert.equal(adt.get('PID-40'), undefined);
  assert.equal(adt.get('PID-3[3]'), undefined);
  assert.equal(adt.get('PID-2'), '');
});

test('an empty field has no repetitions for getAll', () => {
  assert.deepEqual(adt.getAll('PID-2[*]'), []);
});

test('Z-segments with letters or digits are addressable like any segment', () => {
  assert.equal(adt.get('ZPI-2.2'), 'value');
  assert.deepEqual(adt.getAll('Z01-1[*]'), ['a', 'b']);
});

test('invalid path syntax throws an Error that names the path', () => {
  for (const bad of ['PID', 'pid-3', 'PID-0', 'PID-3.', 'PID-3[0]', 'PID-3.*', 'PIDX-1', 'PID-3[2', '']) {
    assert.throws(() => adt.get(bad), (err: unknown) => err instanceof Error && err.message.includes(`"${bad}"`), bad);
  }
});

test('get() refuses a "*" path, which selects several values', () => {
  assert.throws(() => adt.get('PID-3[*]'), /getAll/);
});

test('segments(id) iterates occurrences with field access relative to the segment', () => {
  const obx = adt.segments('OBX');
  assert.deepEqual(obx.map((s) => [s.id, s.get(1), s.get('3.1'), s.get('5')]), [
    ['OBX', '1', 'GLU', '95'],
    ['OBX', '2', 'NOTE', 'Patient & family informed'],
  ]);
});

test('segment(id, n) gives the n-th occurrence and its raw text', () => {
  assert.equal(adt.segment('OBX', 2)?.toString(), 'OBX|2|ST|NOTE^Note||Patient \\T\\ family informed');
  assert.equal(adt.segment('OBX', 3), undefined);
});

test('segmentIds lists ids in order and segmentCount counts them', () => {
  assert.deepEqual(adt.segmentIds(), ['MSH', 'PID', 'OBX', 'OBX', 'ZPI', 'Z01']);
  assert.equal(adt.segmentCount, 6);
});
