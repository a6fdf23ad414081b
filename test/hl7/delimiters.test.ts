import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodingCharacters, parseMessage, readDelimiters } from '../../src/hl7/index.js';

test('readDelimiters reads the standard |^~\\& from MSH-1 and MSH-2', () => {
  assert.deepEqual(readDelimiters('MSH|^~\\&|APP|FAC\r'), {
    field: '|',
    component: '^',
    repetition: '~',
    escape: '\\',
    subcomponent: '&',
    truncation: null,
  });
});

test('a fifth MSH-2 character is the v2.7 truncation character', () => {
  assert.equal(readDelimiters('MSH|^~\\&#|APP\r')?.truncation, '#');
});

test('custom delimiters are taken from MSH-1/MSH-2 and used for fields and components', () => {
  const text = 'MSH#!@%*#SENDER#FAC#RECV#FAC#20260301120000##ADT!A01#MSG007#P#2.5\nPID#1##12345!!!MRN@999!!!SSN##DOE!JOHN\n';
  const result = parseMessage(text);
  assert.ok(result.ok);
  assert.deepEqual(result.message.delimiters, {
    field: '#', component: '!', repetition: '@', escape: '%', subcomponent: '*', truncation: null,
  });
  assert.equal(result.message.get('MSH-9.2'), 'A01');
  assert.equal(result.message.get('PID-3[2].4'), 'SSN');
  assert.equal(result.message.get('PID-5.2'), 'JOHN');
});

test('field separator "^" with repetition "|" works (MSH^~|\\&)', () => {
  const result = parseMessage('MSH^~|\\&^APP^FAC^^^20240101^^ADT~A24^1^P^2.3\r\nPID^1^^A~B~C|D~E\r\n');
  assert.ok(result.ok);
  assert.equal(result.message.get('MSH-9.2'), 'A24');
  assert.equal(result.message.get('PID-3[2].1'), 'D');
});

test('readDelimiters returns null when MSH-2 repeats a character', () => {
  assert.equal(readDelimiters('MSH|&&&&|APP\r'), null);
});

test('readDelimiters returns null when a delimiter is alphanumeric', () => {
  assert.equal(readDelimiters('MSH|^~\\0|APP\r'), null);
  assert.equal(readDelimiters('MSHA^~\\&AAPP\r'), null);
});

test('readDelimiters returns null for text that does not start with a header segment', () => {
  assert.equal(readDelimiters('PID|1||123\r'), null);
});

test('readDelimiters works on a message whose later segments are broken (for the ACK)', () => {
  assert.equal(readDelimiters('MSH|^~\\&|APP\rthis is not a segment\r')?.component, '^');
});

test('a three-character MSH-2 without the escape character ("^~&") keeps & as subcomponent and has no escape', () => {
  const result = parseMessage('MSH|^~&|Lab1^1234^CLIA|F|R|RF|20240101||ORU^R01|1|P|2.5.1\rOBX|1|ST|A&B||C:\\dir\\x\r');
  assert.ok(result.ok);
  const d = result.message.delimiters;
  assert.deepEqual([d.component, d.repetition, d.escape, d.subcomponent], ['^', '~', '', '&']);
  assert.equal(result.message.get('OBX-3.1.2'), 'B');
  assert.equal(result.message.get('OBX-5'), 'C:\\dir\\x');
  assert.equal(encodingCharacters(d), '^~&');
});

test('a three-character MSH-2 without the repetition character ("^\\&") keeps \\ as escape', () => {
  const d = readDelimiters('MSH|^\\&|DPS\r');
  assert.ok(d);
  assert.deepEqual([d.component, d.repetition, d.escape, d.subcomponent], ['^', '', '\\', '&']);
});

test('encodingCharacters writes MSH-2 back from the delimiters', () => {
  const d = readDelimiters('MSH|^~\\&#|APP\r');
  assert.ok(d);
  assert.equal(encodingCharacters(d), '^~\\&#');
});
