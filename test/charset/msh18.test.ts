import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, readMsh18 } from '../../src/charset/index.js';
import { decodeOk, msh } from './helpers.js';

test('readMsh18 returns MSH-18, the 17th piece after "MSH"', () => {
  const bytes = Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1|||AL|NE|USA|8859/1|EN\rPID|1\r', 'latin1');
  assert.equal(readMsh18(bytes), '8859/1');
});

test('readMsh18 uses the field separator the message declares', () => {
  const bytes = Buffer.from('MSH#^~\\&#S#F#R#F#20240101##ADT^A01#C1#P#2.5.1######UNICODE UTF-8\r', 'latin1');
  assert.equal(readMsh18(bytes), 'UNICODE UTF-8');
});

test('readMsh18 keeps repeats exactly as sent', () => {
  assert.equal(readMsh18(Buffer.from(`${msh('8859/1~ISO IR87')}\r`, 'latin1')), '8859/1~ISO IR87');
});

test('readMsh18 is empty when MSH has fewer than 18 fields', () => {
  assert.equal(readMsh18(Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1\rPID|1||||||||||||||||||X\r', 'latin1')), '');
});

test('readMsh18 is empty when there is no MSH segment', () => {
  assert.equal(readMsh18(Buffer.from('OBX|1|NM|X||1\r', 'latin1')), '');
});

test('readMsh18 stops at an LF-terminated MSH segment', () => {
  assert.equal(readMsh18(Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1\nPID|1|||||||||||||||||X\n', 'latin1')), '');
});

test('readMsh18 reads past junk before MSH', () => {
  assert.equal(readMsh18(Buffer.from(`\x0b \r\n${msh('ASCII')}\r`, 'latin1')), 'ASCII');
});

test('a declared 8859/1 decodes high bytes as ISO-8859-1', () => {
  // 0xC9 is É in ISO-8859-1; on its own it is not valid UTF-8
  const bytes = Buffer.concat([Buffer.from(`${msh('8859/1')}\rPID|1||X||JOS`, 'latin1'), Buffer.from([0xc9]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'iso-8859-1');
  assert.equal(result.decision.declared, '8859/1');
  assert.match(result.text, /\|JOSÉ\r$/);
  assert.deepEqual(result.repairs, []);
});

test('a declared UNICODE UTF-8 with valid UTF-8 bytes decodes as UTF-8 from MSH-18', () => {
  const bytes = Buffer.from(`${msh('UNICODE UTF-8')}\rPID|1||X||MÜLLER\r`, 'utf8');
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'utf-8');
  assert.match(result.text, /MÜLLER/);
});

test('repeated MSH-18 uses the first repetition as the message charset', () => {
  // 8859/2: 0xA3 is Ł (in ISO-8859-1 it would be £)
  const bytes = Buffer.concat([Buffer.from(`${msh('8859/2~ISO IR87')}\rPID|1||X||`, 'latin1'), Buffer.from([0xa3]), Buffer.from('ODZ\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.charset, 'iso-8859-2');
  assert.equal(result.decision.declared, '8859/2~ISO IR87');
  assert.match(result.text, /\|ŁODZ\r$/);
});

test('an unknown MSH-18 is recorded and the bytes decide', () => {
  const bytes = Buffer.from(`${msh('code1~code2')}\rPID|1||X||MÜLLER\r`, 'utf8');
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'utf8-valid');
  assert.equal(result.decision.declared, 'code1~code2');
  const repair = result.repairs.find((r) => r.kind === 'unknown-declared-charset');
  assert.equal(repair?.count, 1);
  assert.doesNotMatch(repair?.detail ?? '', /code1/, 'the detail does not quote message content');
});

test('CNS 11643-1992 is recognised but reported as having no decoder', () => {
  const result = decodeOk(Buffer.from(`${msh('CNS 11643-1992')}\r`, 'latin1'));
  const repair = result.repairs.find((r) => r.kind === 'unknown-declared-charset');
  assert.match(repair?.detail ?? '', /no decoder/);
  assert.equal(result.decision.source, 'utf8-valid');
});

test('declared 8859/1 but the bytes are valid non-ASCII UTF-8: decoded as UTF-8, contradiction recorded', () => {
  // C3 A9 is é in UTF-8; as ISO-8859-1 it would read "Ã©"
  const bytes = Buffer.concat([Buffer.from(`${msh('8859/1')}\rPID|1||X||JOS`, 'latin1'), Buffer.from([0xc3, 0xa9]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'utf8-valid');
  assert.equal(result.decision.charset, 'utf-8');
  assert.match(result.text, /\|JOSé\r$/);
  assert.deepEqual(result.repairs.map((r) => r.kind), ['declared-charset-contradicted']);
});

test('declared ASCII but the bytes are valid UTF-8: decoded as UTF-8, contradiction recorded', () => {
  const bytes = Buffer.concat([Buffer.from(`${msh('ASCII')}\rPID|1||X||M`, 'latin1'), Buffer.from([0xc3, 0x9c]), Buffer.from('LLER\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.charset, 'utf-8');
  assert.match(result.text, /MÜLLER/);
  assert.deepEqual(result.repairs.map((r) => r.kind), ['declared-charset-contradicted']);
});

test('declared ASCII with 8-bit bytes that are not UTF-8: the channel fallback decodes them', () => {
  const bytes = Buffer.concat([Buffer.from(`${msh('ASCII')}\rPID|1||X||M`, 'latin1'), Buffer.from([0xdc]), Buffer.from('LLER\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'fallback');
  assert.equal(result.decision.charset, 'windows-1252');
  assert.match(result.text, /MÜLLER/);
  assert.deepEqual(result.repairs.map((r) => r.kind), ['declared-charset-contradicted']);
});

test('declared UNICODE UTF-8 but the bytes are invalid UTF-8: the channel fallback decodes them', () => {
  // E9 alone is é in windows-1252 and an invalid UTF-8 lead byte
  const bytes = Buffer.concat([Buffer.from(`${msh('UNICODE UTF-8')}\rPID|1||X||JOS`, 'latin1'), Buffer.from([0xe9]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'fallback');
  assert.equal(result.decision.charset, 'windows-1252');
  assert.match(result.text, /\|JOSé\r$/);
  assert.deepEqual(result.repairs.map((r) => r.kind), ['declared-charset-contradicted']);
});

test('declared UNICODE UTF-16 on single-byte text is a contradiction', () => {
  const result = decodeOk(Buffer.from(`${msh('UNICODE UTF-16')}\rPID|1||X||DOE\r`, 'latin1'));
  assert.equal(result.decision.charset, 'utf-8');
  assert.deepEqual(result.repairs.map((r) => r.kind), ['declared-charset-contradicted']);
});

test('declared Shift_JIS-compatible ISO IR14 keeps a short run that is also valid UTF-8', () => {
  // B1 B2 are half-width katakana ｱｲ in JIS X 0201; they are not valid UTF-8, so no doubt arises
  const bytes = Buffer.concat([Buffer.from(`${msh('ISO IR14')}\rPID|1||X||`, 'latin1'), Buffer.from([0xb1, 0xb2]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'shift_jis');
  assert.match(result.text, /\|ｱｲ\r$/);
});

test('declared GB 18030 whose bytes are valid in GB 18030 is not called contradicted even if also valid UTF-8', () => {
  // C3 A9 is valid UTF-8 (é) and also the GB 18030 hanzi 茅: the declaration stands
  const bytes = Buffer.concat([Buffer.from(`${msh('GB 18030-2000')}\rPID|1||X||`, 'latin1'), Buffer.from([0xc3, 0xa9]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'gb18030');
  assert.deepEqual(result.repairs, []);
});

test('kanji sent through ISO 2022 escapes with MSH-18 "~ISO IR87" decode as ISO-2022-JP', () => {
  // ESC $ B 3B 33 45 44 ESC ( B is 山田 in ISO-2022-JP
  const bytes = Buffer.concat([
    Buffer.from(`${msh('~ISO IR87')}\rPID|1||X||`, 'latin1'),
    Buffer.from([0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42]),
    Buffer.from('\r'),
  ]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'msh18');
  assert.equal(result.decision.charset, 'iso-2022-jp');
  assert.match(result.text, /\|山田\r$/);
});

test('MSH-18 does not change the decision when the message has no 8-bit bytes and no escapes', () => {
  const result = decodeMessage(Buffer.from(`${msh('~ISO IR87')}\rPID|1||X||DOE\r`, 'latin1'), { fallback: 'windows-1252' });
  assert.ok(result.ok);
  assert.equal(result.decision.source, 'utf8-valid');
});
