import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOk } from './helpers.js';

function message(nameBytes: readonly number[]): Buffer {
  return Buffer.concat([Buffer.from('MSH|^~\\&|A\rPID|1||X||', 'latin1'), Buffer.from(nameBytes), Buffer.from('\r')]);
}
const name = (text: string): string => text.split('\r')[1]?.split('|')[5] ?? '';

test('"JosÃ©" in UTF-8 (double-encoded é) is repaired to "José"', () => {
  // J o s, then Ã (C3 83) and © (C2 A9)
  const result = decodeOk(message([0x4a, 0x6f, 0x73, 0xc3, 0x83, 0xc2, 0xa9]));
  assert.equal(name(result.text), 'José');
  assert.deepEqual(result.repairs.map((r) => [r.kind, r.count]), [['double-encoded-utf8', 1]]);
});

test('mojibake that went through windows-1252 ("MÃœLLER", œ = 0x9C) is repaired', () => {
  // M, Ã (C3 83), œ (C5 93), LLER
  const result = decodeOk(message([0x4d, 0xc3, 0x83, 0xc5, 0x93, 0x4c, 0x4c, 0x45, 0x52]));
  assert.equal(name(result.text), 'MÜLLER');
});

test('mojibake that went through ISO-8859-1 (C1 controls "â\\u0080\\u0099") is repaired to ’', () => {
  // â (C3 A2), U+0080 (C2 80), U+0099 (C2 99): the bytes E2 80 99 of ’ read as Latin-1
  const result = decodeOk(message([0x44, 0xc3, 0xa2, 0xc2, 0x80, 0xc2, 0x99, 0x53]));
  assert.equal(name(result.text), 'D’S');
});

test('a three-byte character double-encoded ("â€‹", U+200B) is repaired', () => {
  const result = decodeOk(message([0xc3, 0xa2, 0xe2, 0x82, 0xac, 0xe2, 0x80, 0xb9]));
  assert.equal(name(result.text), '\u200b');
  assert.equal(result.repairs[0]?.count, 1);
});

test('mojibake in text decoded by the windows-1252 fallback is repaired as well', () => {
  // "Ã©" as raw windows-1252 bytes C3 A9 next to a lone E9 (é), which makes the message invalid UTF-8
  const result = decodeOk(message([0xc3, 0xa9, 0x20, 0xe9]));
  assert.equal(result.decision.source, 'fallback');
  assert.equal(name(result.text), 'é é');
  assert.deepEqual(result.repairs.map((r) => r.kind), ['double-encoded-utf8']);
});

test('correct UTF-8 accented names are left alone', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\rPID|1||X||MÜLLER^JOSÉ^GARCÍA^Straße°\r', 'utf8'));
  assert.equal(name(result.text), 'MÜLLER^JOSÉ^GARCÍA^Straße°');
  assert.deepEqual(result.repairs, []);
});

test('a run that is not whole UTF-8 sequences once re-encoded is left alone ("Ã©Ã")', () => {
  const result = decodeOk(Buffer.from('MSH|^~\\&|A\rPID|1||X||AÃ©Ã\r', 'utf8'));
  assert.equal(name(result.text), 'AÃ©Ã');
  assert.deepEqual(result.repairs, []);
});

test('a run that would decode to a control character is left alone ("Â\\u0085" would give NEL)', () => {
  // Â (C3 82) then U+0085 (C2 85): re-encoded C2 85 is U+0085, a C1 control
  const result = decodeOk(message([0xc3, 0x82, 0xc2, 0x85]));
  assert.equal(name(result.text), 'Â\u0085');
  assert.deepEqual(result.repairs, []);
});

test('mojibake is not looked for in text decoded from a non-Latin charset', () => {
  // 8859/5: C3 = У, A9 = Љ; "УЉ" must stay
  const bytes = Buffer.concat([Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1||||||8859/5\rPID|1||X||', 'latin1'), Buffer.from([0xc3, 0xa9, 0xff]), Buffer.from('\r')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.charset, 'iso-8859-5');
  assert.deepEqual(result.repairs, []);
});
