// The corpus round trip's normalisation (./compare.ts) must remove representation only. These
// pin the number rule of v2.5.1 2.A.47 (NM: leading zeros and trailing zeros after the point are
// not significant): the zeros go, every other digit stays where it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/hl7/index.js';
import { differences } from './compare.js';

function oru(obx: string): ReturnType<typeof parseMessage> & { ok: true } {
  const r = parseMessage(`MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5.1\rPID|1||123\rOBR|1||F1|GLU^Glucose^L\r${obx}\r`);
  assert.ok(r.ok);
  return r;
}

function diff(input: string, output: string): string[] {
  return differences(oru(input).message, oru(output).message);
}

test('NM: leading zeros, trailing zeros after the point and a "+" are not significant', () => {
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||1.0', 'OBX|1|NM|GLU^Glucose^L||1'), []);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||0065.880', 'OBX|1|NM|GLU^Glucose^L||65.88'), []);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||+01.20', 'OBX|1|NM|GLU^Glucose^L||1.2'), []);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||-0.0', 'OBX|1|NM|GLU^Glucose^L||0'), []);
});

test('NM: digits that are not insignificant zeros still differ (1.2/12, 100/1, 1.02/1.2, -1/1)', () => {
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||1.2', 'OBX|1|NM|GLU^Glucose^L||12'), ['OBX-5.1']);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||100', 'OBX|1|NM|GLU^Glucose^L||1'), ['OBX-5.1']);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||1.02', 'OBX|1|NM|GLU^Glucose^L||1.2'), ['OBX-5.1']);
  assert.deepEqual(diff('OBX|1|NM|GLU^Glucose^L||-1', 'OBX|1|NM|GLU^Glucose^L||1'), ['OBX-5.1']);
});

test('SN and NR: the number components (SN.2, SN.4, NR.1, NR.2) are read as NM, the others as sent', () => {
  assert.deepEqual(diff('OBX|1|SN|R^Titer^L||^1.0^:^040', 'OBX|1|SN|R^Titer^L||^1^:^40'), []);
  assert.deepEqual(diff('OBX|1|SN|R^Titer^L||>^8.0', 'OBX|1|SN|R^Titer^L||>^8'), []);
  assert.deepEqual(diff('OBX|1|NR|R^Range^L||01.5^3.0', 'OBX|1|NR|R^Range^L||1.5^3'), []);
  assert.deepEqual(diff('OBX|1|SN|R^Titer^L||^1^:^40', 'OBX|1|SN|R^Titer^L||^1^:^4'), ['OBX-5.4']);
  assert.deepEqual(diff('OBX|1|SN|R^Titer^L||^1^:^40', 'OBX|1|SN|R^Titer^L||^1^/^40'), ['OBX-5.3']);
});

test('a value of another type keeps its zeros (ST "1.0" is text)', () => {
  assert.deepEqual(diff('OBX|1|ST|GLU^Glucose^L||1.0', 'OBX|1|ST|GLU^Glucose^L||1'), ['OBX-5.1']);
});

function adt(pid5: string): ReturnType<typeof parseMessage> & { ok: true } {
  const r = parseMessage(`MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5.1\rPID|1||123||${pid5}\r`);
  assert.ok(r.ok);
  return r;
}

test('PID-5: an empty repetition says nothing ("~^^^^^^S", no legal name then a pseudonym, is "^^^^^^S"); names and their order still count', () => {
  const d = (input: string, output: string): string[] => differences(adt(input).message, adt(output).message);
  assert.deepEqual(d('~^^^^^^S', '^^^^^^S'), []);
  assert.deepEqual(d('DOE^JANE~~ROE^JANE^^^^^M', 'DOE^JANE~ROE^JANE^^^^^M'), []);
  assert.deepEqual(d('~^^^^^^S', ''), ['PID-5 repetitions']);
  assert.deepEqual(d('DOE^JANE~ROE^JANE', 'ROE^JANE~DOE^JANE'), ['PID-5.1']);
});
