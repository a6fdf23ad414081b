import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitBatch } from '../../src/hl7/index.js';

const m1 = 'MSH|^~\\&|LAB|F|R|RF|20240101||ORU^R01|1|P|2.5.1\rPID|1||A\rOBX|1|ST|X||v\r';
const m2 = 'MSH|^~\\&|LAB|F|R|RF|20240101||ORU^R01|2|P|2.5.1\rPID|1||B\r';

test('FHS/BHS batch: messages come back with their exact text, header and trailer separately', () => {
  const text = `FHS|^~\\&|LAB\rBHS|^~\\&|LAB\r${m1}${m2}BTS|2\rFTS|1\r`;
  assert.deepEqual(splitBatch(text), {
    header: ['FHS|^~\\&|LAB', 'BHS|^~\\&|LAB'],
    trailer: ['BTS|2', 'FTS|1'],
    messages: [m1, m2],
  });
});

test('a batch without BTS/FTS trailers still splits', () => {
  const text = `BHS|^~\\&|LAB\r\n${m1}${m2}`;
  assert.deepEqual(splitBatch(text), { header: ['BHS|^~\\&|LAB'], trailer: [], messages: [m1, m2] });
});

test('several MSH messages without FHS/BHS are split', () => {
  assert.deepEqual(splitBatch(m1 + m2 + m1).messages, [m1, m2, m1]);
});

test('a single message is returned unchanged', () => {
  assert.deepEqual(splitBatch(m1), { header: [], trailer: [], messages: [m1] });
});

test('a field value ending in "MSH" does not split a message', () => {
  const text = 'MSH|^~\\&|A\rPID|1||LOCALMSH|MSH|^~\\&\rPV1|1\r';
  assert.deepEqual(splitBatch(text).messages, [text]);
});

test('LF-terminated messages split at segment starts and keep their LFs', () => {
  const a = 'MSH|^~\\&|A\nPID|1\n\n';
  const b = 'MSH|^~\\&|B\nPID|2\n';
  assert.deepEqual(splitBatch(a + b).messages, [a, b]);
});

test('text outside any message is returned as a message so the parser reports it, not dropped', () => {
  const parts = splitBatch(`junk line\r${m1}`);
  assert.deepEqual(parts.messages, ['junk line\r', m1]);
});

test('an empty batch envelope yields no messages', () => {
  assert.deepEqual(splitBatch('FHS|^~\\&\r\nBHS|^~\\&\r\nBTS|0\r\nFTS|1\r\n'), {
    header: ['FHS|^~\\&', 'BHS|^~\\&'],
    trailer: ['BTS|0', 'FTS|1'],
    messages: [],
  });
});

test('empty text yields nothing', () => {
  assert.deepEqual(splitBatch(''), { header: [], trailer: [], messages: [] });
});
