/**
 * DedupeMemory, the duplicate memory that makes a resend harmless: a key is known for
 * `windowSeconds` after it was stored, the memory never holds more than `maxEntries`, and the
 * oldest entries go first. Times are passed in explicitly, so no test waits for a clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupeMemory, dedupeKey } from '../../src/ingest/index.js';

const T0 = 1_700_000_000_000;

test('a remembered key is known up to the end of its window, inclusive', () => {
  const memory = new DedupeMemory({ windowSeconds: 60, maxEntries: 10 });
  memory.remember('a', T0);
  assert.equal(memory.has('a', T0), true);
  assert.equal(memory.has('a', T0 + 60_000), true, 'exactly 60 s later is still inside the window');
});

test('a key is forgotten 1 ms after its window, and no longer counted', () => {
  const memory = new DedupeMemory({ windowSeconds: 60, maxEntries: 10 });
  memory.remember('a', T0);
  memory.remember('b', T0 + 30_000);
  assert.equal(memory.size, 2);
  assert.equal(memory.has('a', T0 + 60_001), false);
  assert.equal(memory.size, 1, 'the expired entry is dropped when it is looked up');
  assert.equal(memory.has('b', T0 + 60_001), true, 'the younger key is still known');
});

test('a key never remembered is not known', () => {
  const memory = new DedupeMemory({ windowSeconds: 60, maxEntries: 10 });
  memory.remember('a', T0);
  assert.equal(memory.has('b', T0), false);
});

test('over maxEntries the oldest keys are evicted first, and the size stays at the maximum', () => {
  const memory = new DedupeMemory({ windowSeconds: 3600, maxEntries: 3 });
  for (const [i, key] of ['k1', 'k2', 'k3', 'k4', 'k5'].entries()) memory.remember(key, T0 + i);
  assert.equal(memory.size, 3);
  assert.deepEqual(
    ['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => memory.has(k, T0 + 10)),
    [false, false, true, true, true],
  );
});

test('remembering a key again makes it the youngest: it outlives keys stored after its first time', () => {
  const memory = new DedupeMemory({ windowSeconds: 3600, maxEntries: 3 });
  memory.remember('k1', T0);
  memory.remember('k2', T0 + 1);
  memory.remember('k3', T0 + 2);
  memory.remember('k1', T0 + 3); // a late confirmation of k1, say
  memory.remember('k4', T0 + 4);
  assert.deepEqual(
    ['k1', 'k2', 'k3', 'k4'].map((k) => memory.has(k, T0 + 10)),
    [true, false, true, true],
    'k2 is now the oldest and goes first',
  );
});

test('remembering a key again restarts its window', () => {
  const memory = new DedupeMemory({ windowSeconds: 60, maxEntries: 10 });
  memory.remember('a', T0);
  memory.remember('a', T0 + 50_000);
  assert.equal(memory.has('a', T0 + 100_000), true, '50 s after the second time, 100 s after the first');
  assert.equal(memory.size, 1, 'one entry, not two');
});

test('expired keys are swept when a new key is remembered, even below maxEntries', () => {
  const memory = new DedupeMemory({ windowSeconds: 60, maxEntries: 100 });
  memory.remember('old1', T0);
  memory.remember('old2', T0 + 1);
  memory.remember('young', T0 + 59_000);
  memory.remember('new', T0 + 61_000);
  assert.equal(memory.size, 2, 'old1 and old2 went; young (2 s left) and new stay');
  assert.equal(memory.has('young', T0 + 61_000), true);
});

test('the duplicate key is SHA-256 over channel, sender, control id and the bytes\' hash, NUL-separated', () => {
  // Computed with Python 3.11: hashlib.sha256(b'adt-in\x00EPIC|GENHOSP\x00MSG00001\x00' +
  // b'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855').hexdigest()
  const bytesSha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  assert.equal(dedupeKey('adt-in', 'EPIC|GENHOSP', 'MSG00001', bytesSha), '0c6c356e51af4d9556ec428e2218ec3afc7605b06551aa631de8b54e382392d0');
});

test('the duplicate key differs when any one of channel, sender, control id or bytes differs', () => {
  const base = dedupeKey('adt-in', 'EPIC|GENHOSP', 'MSG00001', 'aa');
  assert.notEqual(dedupeKey('adt-in-2', 'EPIC|GENHOSP', 'MSG00001', 'aa'), base);
  assert.notEqual(dedupeKey('adt-in', 'EPIC|OTHER', 'MSG00001', 'aa'), base);
  assert.notEqual(dedupeKey('adt-in', 'EPIC|GENHOSP', 'MSG00002', 'aa'), base, 'a new control id is a new message');
  assert.notEqual(dedupeKey('adt-in', 'EPIC|GENHOSP', 'MSG00001', 'bb'), base, 'a reused control id with other bytes is not a resend');
});
