import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBytes, encodeText, isSupportedCharset } from '../../src/charset/index.js';
import { decodeOk } from './helpers.js';

test('encodeText writes UTF-8', () => {
  assert.deepEqual([...encodeText('é', 'utf-8')], [0xc3, 0xa9]);
});

test('encodeText writes windows-1252, where € is 0x80', () => {
  assert.deepEqual([...encodeText('MSA|AA|€', 'windows-1252')], [...Buffer.from('MSA|AA|', 'latin1'), 0x80]);
});

test('encodeText accepts an HL7 table 0211 value: "8859/1" writes é as 0xE9', () => {
  assert.deepEqual([...encodeText('é', '8859/1')], [0xe9]);
});

test('encodeText writes UTF-16LE without a BOM', () => {
  assert.deepEqual([...encodeText('MS', 'utf-16le')], [0x4d, 0x00, 0x53, 0x00]);
});

test('encodeText writes ISO-2022-JP with escapes around kanji and back to ASCII at the end', () => {
  // ESC $ B 3B 33 (山) ESC ( B
  assert.deepEqual([...encodeText('A山', 'iso-2022-jp')], [0x41, 0x1b, 0x24, 0x42, 0x3b, 0x33, 0x1b, 0x28, 0x42]);
});

test('encodeText returns to ASCII before a CR so segment terminators stay single bytes', () => {
  const bytes = encodeText('山\rB', 'iso-2022-jp');
  assert.deepEqual([...bytes], [0x1b, 0x24, 0x42, 0x3b, 0x33, 0x1b, 0x28, 0x42, 0x0d, 0x42]);
});

test('half-width katakana and JIS X 0212 kanji round-trip through ISO-2022-JP', () => {
  const text = 'ｱｲ丂山田';
  assert.equal(decodeBytes(encodeText(text, 'iso-2022-jp'), 'iso-2022-jp'), text);
});

test('an ACK written in the decided charset decodes back to the same text', () => {
  const inbound = decodeOk(Buffer.concat([Buffer.from('MSH|^~\\&|A\rPID|1||M', 'latin1'), Buffer.from([0xdc]), Buffer.from('LLER\r')]));
  assert.equal(inbound.decision.charset, 'windows-1252');
  const ack = 'MSH|^~\\&|B\rMSA|AA|CTRL1|Empfangen: MÜLLER\r';
  assert.equal(decodeBytes(encodeText(ack, inbound.decision.charset), inbound.decision.charset), ack);
});

test('encodeText with an empty charset writes UTF-8', () => {
  assert.deepEqual([...encodeText('é', '')], [0xc3, 0xa9]);
});

test('encodeText throws a RangeError naming an unknown charset', () => {
  assert.throws(() => encodeText('x', 'klingon-8'), (e: unknown) => e instanceof RangeError && /klingon-8/.test(e.message));
});

test('base64 and hex are iconv-lite encodings but not charsets', () => {
  assert.equal(isSupportedCharset('base64'), false);
  assert.equal(isSupportedCharset('hex'), false);
  assert.equal(isSupportedCharset('windows-1252'), true);
  assert.equal(isSupportedCharset('UNICODE UTF-8'), true);
});
