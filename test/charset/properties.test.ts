import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeText } from '../../src/charset/index.js';

test('any bytes decode without throwing and, with a charset fallback, always give text', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
      const result = decodeMessage(Buffer.from(raw), { fallback: 'windows-1252' });
      assert.equal(result.ok, true);
    }),
  );
});

test('any bytes behind a real MSH header decode without throwing, whatever MSH-18 says', () => {
  const msh18 = fc.constantFrom('', 'ASCII', '8859/1', 'UNICODE UTF-8', 'ISO IR87', '~ISO IR87', 'UNICODE UTF-16', 'GB 18030-2000', 'junk');
  fc.assert(
    fc.property(msh18, fc.uint8Array({ maxLength: 200 }), fc.constantFrom('windows-1252', 'reject'), (declared, tail, fallback) => {
      const head = Buffer.from(`MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5.1||||||${declared}\r`, 'latin1');
      const result = decodeMessage(Buffer.concat([head, Buffer.from(tail)]), { fallback });
      assert.equal(typeof result.ok, 'boolean');
    }),
  );
});

test('UTF-8 text with CR terminators and no mojibake-looking characters comes back unchanged', () => {
  // U+00C2-U+00F4 are the characters a double-encoded UTF-8 lead byte turns into
  const safeChar = fc
    .string({ unit: 'grapheme', maxLength: 40 })
    .map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f\u00c2-\u00f4\ufeff]/g, ''));
  fc.assert(
    fc.property(fc.array(safeChar, { maxLength: 5 }), (fields) => {
      const text = `MSH|^~\\&|A\rNTE|1||${fields.join('|')}\r`;
      const result = decodeMessage(encodeText(text, 'utf-8'), { fallback: 'reject' });
      assert.ok(result.ok);
      assert.equal(result.text, text);
      assert.deepEqual(result.repairs, []);
    }),
  );
});
