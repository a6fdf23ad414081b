import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOk } from './helpers.js';

test('a UTF-8 BOM decides UTF-8 and is removed from the text', () => {
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('MSH|^~\\&|A\rPID|1||X||M\u00dcLLER\r', 'utf8')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'bom');
  assert.equal(result.decision.charset, 'utf-8');
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1||X||MÜLLER\r');
  assert.deepEqual(result.repairs.map((r) => [r.kind, r.count]), [['bom-removed', 1]]);
});

test('a UTF-16LE BOM decides UTF-16LE and the text has no BOM', () => {
  const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('MSH|^~\\&|A\rPID|1||X||JOSÉ\r', 'utf16le')]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'bom');
  assert.equal(result.decision.charset, 'utf-16le');
  assert.equal(result.text, 'MSH|^~\\&|A\rPID|1||X||JOSÉ\r');
});

test('a UTF-16BE BOM decides UTF-16BE', () => {
  // FE FF, then "MSH|" as 00 4D 00 53 00 48 00 7C, then "é" as 00 E9
  const bytes = Buffer.from([0xfe, 0xff, 0x00, 0x4d, 0x00, 0x53, 0x00, 0x48, 0x00, 0x7c, 0x00, 0xe9]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.charset, 'utf-16be');
  assert.equal(result.text, 'MSH|é');
});

test('a BOM wins over MSH-18', () => {
  const bytes = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1|||||| 8859/1\rPID|1||X||JOSÉ\r', 'utf8'),
  ]);
  const result = decodeOk(bytes);
  assert.equal(result.decision.source, 'bom');
  assert.equal(result.decision.charset, 'utf-8');
  assert.equal(result.decision.declared, '8859/1');
  assert.match(result.text, /JOSÉ/);
});

test('MSH-18 of a UTF-16 message with BOM is read from the decoded text', () => {
  const text = 'MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1||||||UNICODE UTF-16\r';
  const result = decodeOk(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  assert.equal(result.decision.declared, 'UNICODE UTF-16');
});
