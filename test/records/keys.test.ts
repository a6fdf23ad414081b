/**
 * Record keys as Kafka tools show them: short hashes, whatever the sender wrote, and one key per
 * patient. A key is hashed by the partitioner and copied into every index, so its length must
 * not be the sender's to choose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/hl7/index.js';
import { MAX_KEY_LENGTH, outputKey, recordKey, type RawEnvelope } from '../../src/records/index.js';

function mshOf(text: string) {
  const p = parseMessage(text);
  assert.ok(p.ok, p.ok ? '' : p.error.message);
  return p.message.msh();
}

test('a message without PID-3 is keyed by a 32-hex hash of sender and control id, never by their text', () => {
  const msh = mshOf('MSH|^~\\&|LAB|GENHOSP|ENGINE|FAC|20260101120000||ORU^R01|CTRL-0001|P|2.5.1\r');
  const key = recordKey(msh, undefined, undefined);
  assert.match(key, /^msg:[0-9a-f]{32}$/);
  assert.ok(!key.includes('CTRL-0001') && !key.includes('GENHOSP'));
});

test('a 1 MB MSH-10 still gives a key of at most MAX_KEY_LENGTH characters', () => {
  const msh = mshOf(`MSH|^~\\&|LAB|GENHOSP|ENGINE|FAC|20260101120000||ORU^R01|${'9'.repeat(1024 * 1024)}|P|2.5.1\r`);
  const key = recordKey(msh, undefined, undefined);
  assert.ok(key.length <= MAX_KEY_LENGTH, `key of ${key.length} characters`);
  assert.match(key, /^msg:[0-9a-f]{32}$/);
});

test('sender, facility and control id each change the message key', () => {
  const base = recordKey(mshOf('MSH|^~\\&|A|F|E|E|2026||ADT^A01|1|P|2.5\r'), undefined, undefined);
  assert.notEqual(recordKey(mshOf('MSH|^~\\&|B|F|E|E|2026||ADT^A01|1|P|2.5\r'), undefined, undefined), base);
  assert.notEqual(recordKey(mshOf('MSH|^~\\&|A|G|E|E|2026||ADT^A01|1|P|2.5\r'), undefined, undefined), base);
  assert.notEqual(recordKey(mshOf('MSH|^~\\&|A|F|E|E|2026||ADT^A01|2|P|2.5\r'), undefined, undefined), base);
  // The separator is not the sender's to move: "A|B" + "C" and "A" + "B|C" are different senders.
  assert.notEqual(
    recordKey(mshOf('MSH|^~\\&|A\\F\\B|C|E|E|2026||ADT^A01|1|P|2.5\r'), undefined, undefined),
    recordKey(mshOf('MSH|^~\\&|A|B\\F\\C|E|E|2026||ADT^A01|1|P|2.5\r'), undefined, undefined),
  );
});

test('two messages about one patient share one key, whatever their control ids', () => {
  const a = recordKey(mshOf('MSH|^~\\&|A|F|E|E|2026||ADT^A01|1|P|2.5\r'), 'MRN-77', 'HOSP');
  const b = recordKey(mshOf('MSH|^~\\&|B|F|E|E|2026||ADT^A08|2|P|2.5\r'), 'MRN-77', 'HOSP');
  assert.equal(a, b);
  assert.match(a, /^pt:[0-9a-f]{32}$/);
});

test('a derived record keeps its raw record’s key, but a long legacy key is hashed instead of copied on', () => {
  const msh = mshOf('MSH|^~\\&|LAB|GENHOSP|E|E|2026||ORU^R01|42|P|2.5\r');
  const env = { msh } as unknown as RawEnvelope;
  assert.equal(outputKey('pt:0123456789abcdef0123456789abcdef', env), 'pt:0123456789abcdef0123456789abcdef');
  const legacy = `msg:LAB|GENHOSP|${'4'.repeat(5000)}`;
  assert.equal(outputKey(legacy, env), recordKey(msh, undefined, undefined));
});
