import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOk } from './helpers.js';

const kinds = (r: { repairs: readonly { kind: string; count: number }[] }): Array<[string, number]> =>
  r.repairs.map((x) => [x.kind, x.count]);

test('NUL bytes are removed and counted', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\r\0PID|1||DO\0E\r\0\0', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1||DOE\r');
  assert.deepEqual(kinds(result), [['nul-bytes', 4]]);
});

test('LF segment terminators become CR and are counted', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\nEVN|A01\nPID|1\n', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rEVN|A01\rPID|1\r');
  assert.deepEqual(kinds(result), [['lf-terminators', 3]]);
});

test('CRLF segment terminators become CR and are counted', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\r\nEVN|A01\r\nPID|1\r\n', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rEVN|A01\rPID|1\r');
  assert.deepEqual(kinds(result), [['crlf-terminators', 3]]);
});

test('mixed CRLF and LF terminators record both', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\r\nEVN|A01\nPID|1\r\n', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rEVN|A01\rPID|1\r');
  assert.deepEqual(kinds(result), [['crlf-terminators', 2], ['lf-terminators', 1]]);
});

test('in a CR-terminated message an LF inside a field is kept, an LF before a segment is a terminator', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\rNTE|1||line one\nline two\nOBX|1\r', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rNTE|1||line one\nline two\rOBX|1\r');
  assert.deepEqual(kinds(result), [['lf-terminators', 1]]);
});

test('whitespace and a stray VT before MSH are removed and counted', () => {
  const result = decodeOk(Buffer.from('  \x0b\r\nMSH|^~\\&|A\rPID|1\r', 'latin1'));
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1\r');
  assert.deepEqual(kinds(result), [['junk-before-msh', 5]]);
});

test('stray bytes before a batch header FHS are removed too', () => {
  const result = decodeOk(Buffer.from('xx FHS|^~\\&|A\rBHS|^~\\&\rMSH|^~\\&|A\r', 'latin1'));
  assert.ok(result.text.startsWith('FHS|'));
  assert.deepEqual(kinds(result), [['junk-before-msh', 3]]);
});

test('text without MSH, FHS or BHS is left as is for the parser to report', () => {
  const result = decodeOk(Buffer.from('OBX|1|NM|X||5\r', 'latin1'));
  assert.equal(result.text, 'OBX|1|NM|X||5\r');
  assert.deepEqual(result.repairs, []);
});

test('a segment that merely contains "MSH" in its data is not treated as junk before a header', () => {
  const result = decodeOk(Buffer.from('OBX|1|CE|LOCALMSH|X\r', 'latin1'));
  assert.equal(result.text, 'OBX|1|CE|LOCALMSH|X\r');
  assert.deepEqual(result.repairs, []);
});

test('repairs compose in a fixed order: NUL, junk, terminators, double-encoded UTF-8', () => {
  // leading "\n", a NUL, LF terminators, and "Ã©" (C3 83 C2 A9) for é
  const bytes = Buffer.concat([Buffer.from('\n\0MSH|^~\\&|A\nPID|1||JOS', 'latin1'), Buffer.from([0xc3, 0x83, 0xc2, 0xa9]), Buffer.from('\n')]);
  const result = decodeOk(bytes);
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1||JOSé\r');
  assert.deepEqual(kinds(result), [['nul-bytes', 1], ['junk-before-msh', 1], ['lf-terminators', 2], ['double-encoded-utf8', 1]]);
});

test('repair details hold counts, never message content', () => {
  const bytes = Buffer.from(' MSH|^~\\&|A\nPID|1||JOSÃ©\0\n', 'utf8');
  const result = decodeOk(bytes);
  assert.equal(result.repairs.length, 4);
  for (const repair of result.repairs) {
    assert.doesNotMatch(repair.detail, /JOS|PID|MSH\|/);
    assert.match(repair.detail, /\d/);
  }
});
