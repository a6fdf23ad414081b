import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage, type ParseError } from '../../src/hl7/index.js';

function errorOf(text: string): ParseError {
  const result = parseMessage(text);
  if (result.ok) throw new Error('expected a ParseError');
  return result.error;
}

test('blank or whitespace-only text fails with "empty"', () => {
  assert.equal(errorOf('').code, 'empty');
  assert.equal(errorOf(' \r\n\t').code, 'empty');
});

test('text that does not start with MSH fails with "no-msh" (junk before MSH is not skipped)', () => {
  assert.equal(errorOf('PID|1||123\r').code, 'no-msh');
  assert.equal(errorOf('junk\rMSH|^~\\&|A\r').code, 'no-msh');
  assert.equal(errorOf(' MSH|^~\\&|A\r').code, 'no-msh');
});

test('an MSH shorter than 8 characters fails with "bad-delimiters"', () => {
  assert.equal(errorOf('MSH|^~\r').code, 'bad-delimiters');
  assert.equal(errorOf('MSH').code, 'bad-delimiters');
});

test('an alphanumeric field separator or encoding character fails with "bad-delimiters"', () => {
  assert.equal(errorOf('MSHX^~\\&XAPP\r').code, 'bad-delimiters');
  const e = errorOf('MSH|^~\\0|APP\r');
  assert.equal(e.code, 'bad-delimiters');
  assert.equal(e.field, 2);
});

test('repeated encoding characters fail with "bad-delimiters"', () => {
  assert.equal(errorOf('MSH|&&&&|APP\r').code, 'bad-delimiters');
  assert.equal(errorOf('MSH|^~\\\\&|APP\r').code, 'bad-delimiters');
  assert.equal(errorOf('MSH|^|\\&|APP\r').code, 'bad-delimiters');
});

test('an empty MSH-2 fails with "bad-delimiters"', () => {
  const e = errorOf('MSH||APP|FAC\r');
  assert.equal(e.code, 'bad-delimiters');
  assert.equal(e.segment, 'MSH');
});

test('a segment whose id is not 3 uppercase letters/digits fails with "bad-segment" and its position', () => {
  const e = errorOf('MSH|^~\\&|A\rPID|1\rPIDX|1\r');
  assert.equal(e.code, 'bad-segment');
  assert.equal(e.segmentIndex, 3);
  assert.equal(errorOf('MSH|^~\\&|A\rpid|1\r').code, 'bad-segment');
  assert.equal(errorOf('MSH|^~\\&|A\rPV|1\r').code, 'bad-segment');
});

test('an unescaped line break inside a field fails with "bad-segment" without quoting the text', () => {
  const e = errorOf('MSH|^~\\&|A\rOBX|1|TX|||first line\rsecond line of JOHN DOE\r');
  assert.equal(e.code, 'bad-segment');
  assert.equal(e.segmentIndex, 3);
  assert.ok(!e.message.includes('JOHN') && !e.message.includes('second line'), e.message);
});

test('missing MSH-9 and MSH-10 do not fail parsing (ingest decides)', () => {
  const result = parseMessage('MSH|^~\\&|A|B\r');
  assert.ok(result.ok);
  assert.equal(result.message.msh().messageType, '');
  assert.equal(result.message.msh().controlId, '');
});

test('every ParseError has category "parse" and a human message', () => {
  for (const text of ['', 'PID|1', 'MSH|&&&&|', 'MSH|^~\\&|A\rbad\r']) {
    const e = errorOf(text);
    assert.equal(e.category, 'parse');
    assert.ok(e.message.length > 10, e.message);
  }
});
