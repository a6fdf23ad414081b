import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage } from '../../src/charset/index.js';
import { decodeOk } from './helpers.js';

test('pure ASCII without MSH-18 is valid UTF-8 and needs no repair', () => {
  const bytes = Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1\rPID|1||X||DOE^JANE\r', 'latin1');
  const result = decodeOk(bytes);
  assert.deepEqual(result.decision, { source: 'utf8-valid', charset: 'utf-8', declared: '' });
  assert.equal(result.text, bytes.toString('latin1'));
  assert.deepEqual(result.repairs, []);
});

test('valid non-ASCII UTF-8 without MSH-18 decodes as UTF-8', () => {
  // C3 9C = Ü, C3 89 = É
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\rPID|1||X||M', 'latin1'), Buffer.from([0xc3, 0x9c]), Buffer.from('LLER^JOS'), Buffer.from([0xc3, 0x89]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'utf8-valid');
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1||X||MÜLLER^JOSÉ\r');
});

test('invalid UTF-8 without MSH-18 uses the channel fallback, windows-1252 by default', () => {
  // 0x93 and 0x94 are curly quotes only in windows-1252 (C1 controls in ISO-8859-1); 0x80 is €
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\rNTE|1||', 'latin1'), Buffer.from([0x93, 0x41, 0x94, 0x20, 0x80]), Buffer.from('\r')]);
  const result = decodeMessage(bytes, { fallback: '' });
  assert.ok(result.ok);
  assert.deepEqual(result.decision, { source: 'fallback', charset: 'windows-1252', declared: '' });
  assert.equal(result.text, 'MSH|^~\\&|A\rNTE|1||“A” €\r');
});

test('a channel fallback of iso-8859-15 decodes 0xA4 as €', () => {
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\rNTE|1||', 'latin1'), Buffer.from([0xa4]), Buffer.from('\r')]);
  const result = decodeOk(bytes, { fallback: 'iso-8859-15' });
  assert.equal(result.decision.charset, 'iso-8859-15');
  assert.equal(result.text, 'MSH|^~\\&|A\rNTE|1||€\r');
});

test('a channel fallback may be written as an HL7 table 0211 value', () => {
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\rNTE|1||', 'latin1'), Buffer.from([0xa3]), Buffer.from('\r')]);
  const result = decodeOk(bytes, { fallback: '8859/2' });
  assert.equal(result.decision.charset, 'iso-8859-2');
  assert.equal(result.text, 'MSH|^~\\&|A\rNTE|1||Ł\r');
});

test('fallback "reject" refuses invalid UTF-8 and names the byte offset of the first bad sequence', () => {
  // "MSH|^~\\&|A\r" is 11 bytes, "PID|1||JOS" 10 more: 0xE9 is byte 21
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\rPID|1||JOS', 'latin1'), Buffer.from([0xe9]), Buffer.from('\r')]);
  assert.equal(bytes.indexOf(0xe9), 21);
  const result = decodeMessage(bytes, { fallback: 'reject' });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.category, 'charset');
  assert.match(result.message, /byte offset 21\b/);
  assert.doesNotMatch(result.message, /JOS/, 'no message content in the error');
  assert.equal(result.decision.source, 'fallback');
});

test('a refused message carries us-ascii as its charset, so its NAK can still be encoded', () => {
  const result = decodeMessage(Buffer.from([0x4d, 0x53, 0x48, 0x7c, 0xff]), { fallback: 'reject' });
  assert.equal(result.ok, false);
  assert.equal(result.decision.charset, 'us-ascii');
});

test('fallback "reject" still accepts valid UTF-8', () => {
  const result = decodeMessage(Buffer.from('MSH|^~\\&|A\rPID|1||JOSÉ\r', 'utf8'), { fallback: 'reject' });
  assert.ok(result.ok);
});

test('fallback "reject" still accepts a declared single-byte charset', () => {
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1||||||8859/1\rPID|1||JOS', 'latin1'), Buffer.from([0xc9]), Buffer.from('\r')]);
  const result = decodeMessage(bytes, { fallback: 'reject' });
  assert.ok(result.ok);
  assert.equal(result.text.endsWith('JOSÉ\r'), true);
});

test('a fallback naming no known charset fails with a message that names the setting', () => {
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|A\r', 'latin1'), Buffer.from([0xff])]);
  const result = decodeMessage(bytes, { fallback: 'klingon-8' });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.match(result.message, /"klingon-8" is not a supported charset/);
});

test('decoding never throws, whatever the bytes', () => {
  const samples = [Buffer.alloc(0), Buffer.from([0xff, 0xfe]), Buffer.from([0xef, 0xbb]), Buffer.from('MSH'), Buffer.from('MSH|'), Buffer.from([0x1b, 0x24])];
  for (const bytes of samples) {
    assert.doesNotThrow(() => decodeMessage(bytes, { fallback: 'windows-1252' }));
  }
});
