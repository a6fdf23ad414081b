/**
 * MSH length bounds: the most generous any HL7 v2 version gives (see src/hl7/bounds.ts), checked
 * before a field is copied into a key, a header, a log line or an ACK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERR_DATA_TYPE, ERR_VALUE_TOO_LONG, mshBoundBreach, parseMessage, valueTooLongCode } from '../../src/hl7/index.js';

function breachOf(msh: string) {
  const p = parseMessage(`${msh}\r`);
  assert.ok(p.ok, p.ok ? '' : p.error.message);
  return mshBoundBreach(p.message.msh(), p.message.delimiters);
}

test('MSH-10 of 199 characters is within bounds, 200 is not', () => {
  assert.equal(breachOf(`MSH|^~\\&|LAB|HOSP|E|F|2026||ADT^A01|${'7'.repeat(199)}|P|2.5.1`), null);
  assert.deepEqual(breachOf(`MSH|^~\\&|LAB|HOSP|E|F|2026||ADT^A01|${'7'.repeat(200)}|P|2.5.1`), {
    field: 10,
    name: 'MSH-10 (message control id)',
    length: 200,
    max: 199,
  });
});

test('a 36-character GUID control id in a v2.3 message is accepted (longer than v2.3’s 20, as real feeds send)', () => {
  assert.equal(breachOf('MSH|^~\\&|LAB|HOSP|E|F|2026||ADT^A01|3f0c2a52-9a51-4d7c-8d0b-6f1e4c2b9a10|P|2.3'), null);
});

test('MSH-3 and MSH-4 are bounded as a whole (227) and per HD component (199)', () => {
  assert.equal(breachOf(`MSH|^~\\&|${'A'.repeat(20)}^${'1'.repeat(199)}^ISO|HOSP|E|F|2026||ADT^A01|1|P|2.5.1`), null);
  assert.deepEqual(breachOf(`MSH|^~\\&|LAB|${'H'.repeat(228)}|E|F|2026||ADT^A01|1|P|2.5.1`), { field: 4, name: 'MSH-4 (sending facility)', length: 228, max: 227 });
  assert.deepEqual(breachOf(`MSH|^~\\&|^${'1'.repeat(200)}|HOSP|E|F|2026||ADT^A01|1|P|2.5.1`), {
    field: 3,
    component: 2,
    name: 'MSH-3 (sending application) component 2',
    length: 200,
    max: 199,
  });
});

test('"value too long" is 104 from v2.7 on and 102 (data type error) before, where table 0357 has no 104', () => {
  assert.equal(valueTooLongCode('2.7'), ERR_VALUE_TOO_LONG);
  assert.equal(valueTooLongCode('2.8.2'), ERR_VALUE_TOO_LONG);
  assert.equal(valueTooLongCode('2.5.1'), ERR_DATA_TYPE);
  assert.equal(valueTooLongCode('2.3'), ERR_DATA_TYPE);
  assert.equal(valueTooLongCode(''), ERR_DATA_TYPE);
});
