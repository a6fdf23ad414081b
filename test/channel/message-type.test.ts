import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesMessageType } from '../../src/channel/index.js';

// MSH|^~\&|EPIC|HOSP|ENGINE|HOSP|20240101120000||ADT^A08^ADT_A01|MSG0001|P|2.5.1
// gives code "ADT" (MSH-9.1) and trigger "A08" (MSH-9.2).

test('an exact CODE^EVENT pattern matches only that event', () => {
  assert.equal(matchesMessageType('ORU^R01', 'ORU', 'R01'), true);
  assert.equal(matchesMessageType('ORU^R01', 'ORU', 'R30'), false);
  assert.equal(matchesMessageType('ORU^R01', 'ORM', 'R01'), false);
});

test('a * event matches every event of that code', () => {
  assert.equal(matchesMessageType('ADT^*', 'ADT', 'A08'), true);
  assert.equal(matchesMessageType('ADT^*', 'ADT', 'A40'), true);
  assert.equal(matchesMessageType('ADT^*', 'ORU', 'A08'), false);
});

test('a code alone is the same as CODE^*', () => {
  assert.equal(matchesMessageType('ADT', 'ADT', 'A01'), true);
  assert.equal(matchesMessageType('ADT', 'SIU', 'S12'), false);
});

test('a * code matches one event across codes', () => {
  assert.equal(matchesMessageType('*^A01', 'ADT', 'A01'), true);
  assert.equal(matchesMessageType('*^A01', 'ADT', 'A04'), false);
});

test('a lone * matches any message', () => {
  assert.equal(matchesMessageType('*', 'MDM', 'T02'), true);
});

test('a wildcard event also matches a message sent without MSH-9.2', () => {
  assert.equal(matchesMessageType('ACK^*', 'ACK', ''), true);
  assert.equal(matchesMessageType('ACK^A01', 'ACK', ''), false);
});

test('lower-case codes from a sloppy sender still match', () => {
  assert.equal(matchesMessageType('ADT^A01', 'adt', 'a01'), true);
});

test('a prefix of the code or event is not a match', () => {
  assert.equal(matchesMessageType('AD^A01', 'ADT', 'A01'), false);
  assert.equal(matchesMessageType('ADT^A0', 'ADT', 'A01'), false);
  assert.equal(matchesMessageType('ADT^A01', 'ADT', 'A011'), false);
});
