import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, serializeMessage } from '../../src/hl7/index.js';

test('each segment keeps its own terminator (CR, LF, CRLF) and the message serialises back exactly', () => {
  const text = 'MSH|^~\\&|A|B\rEVN|A01\nPID|1\r\nPV1|1|I\r';
  const result = parseMessage(text);
  assert.ok(result.ok);
  assert.deepEqual(result.message.segmentIds(), ['MSH', 'EVN', 'PID', 'PV1']);
  assert.equal(result.message.gapAfter(0), '\r');
  assert.equal(result.message.gapAfter(1), '\n');
  assert.equal(result.message.gapAfter(2), '\r\n');
  assert.equal(serializeMessage(result.message), text);
});

test('a message without a trailing terminator round-trips without gaining one', () => {
  const text = 'MSH|^~\\&|A|B\rPID|1';
  const result = parseMessage(text);
  assert.ok(result.ok);
  assert.equal(result.message.get('PID-1'), '1');
  assert.equal(result.message.toString(), text);
});

test('empty lines between segments are tolerated and kept', () => {
  const text = 'MSH|^~\\&|A|B\r\n\r\nPID|1\r\n\r\n';
  const result = parseMessage(text);
  assert.ok(result.ok);
  assert.deepEqual(result.message.segmentIds(), ['MSH', 'PID']);
  assert.equal(result.message.toString(), text);
});

test('segment text never includes its terminator', () => {
  const result = parseMessage('MSH|^~\\&|A\r\nPID|1|X\r\n');
  assert.ok(result.ok);
  assert.equal(result.message.segment('PID')?.toString(), 'PID|1|X');
  assert.equal(result.message.get('PID-2'), 'X');
});

test('repetitions, components and subcomponents are split on the message\'s delimiters', () => {
  const result = parseMessage('MSH|^~\\&|A\rPID|1||A1&B1^C1~A2&B2^C2\r');
  assert.ok(result.ok);
  const m = result.message;
  assert.equal(m.get('PID-3[2].1.2'), 'B2');
  assert.equal(m.get('PID-3[1].2'), 'C1');
  assert.deepEqual(m.getAll('PID-3[*].1.1'), ['A1', 'A2']);
});

test('a segment id of only the id and no fields is valid', () => {
  const result = parseMessage('MSH|^~\\&|A\rZZZ\rPID|1\r');
  assert.ok(result.ok);
  assert.deepEqual(result.message.segmentIds(), ['MSH', 'ZZZ', 'PID']);
  assert.equal(result.message.get('ZZZ-1'), undefined);
});

test('fieldCount counts MSH-1 for MSH and the fields after the id otherwise', () => {
  const result = parseMessage('MSH|^~\\&|A|B\rPID|1||3\r');
  assert.ok(result.ok);
  assert.equal(result.message.segment('MSH')?.fieldCount, 4);
  assert.equal(result.message.segment('PID')?.fieldCount, 3);
});
