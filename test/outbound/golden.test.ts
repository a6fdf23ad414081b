/**
 * Each default outbound mapping turns a reviewed inbound Bundle into its reviewed v2 message,
 * byte for byte (test/outbound/cases.ts says how to regenerate after a deliberate change).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_CASES, GOLDEN_DIR, loadDefaultOutbound, runCase } from './cases.js';

const set = loadDefaultOutbound();

test('every default outbound mapping has a golden case', () => {
  assert.deepEqual(set.mappings.map((m) => m.id).sort(), GOLDEN_CASES.map((c) => c.mapping).sort());
  assert.equal(GOLDEN_CASES.length, 7);
});

for (const c of GOLDEN_CASES) {
  test(`${c.input} becomes ${c.mapping}.hl7 with no issues, the same bytes twice`, () => {
    const r1 = runCase(set, c);
    const r2 = runCase(set, c);
    assert.equal(r1.mappingId, c.mapping);
    assert.deepEqual(r1.issues, []);
    assert.ok(r1.text);
    assert.equal(r1.text, r2.text, 'deterministic, MSH-10 included');
    const golden = readFileSync(join(GOLDEN_DIR, `${c.mapping}.hl7`), 'utf8');
    assert.equal(r1.text.replaceAll('\r', '\n'), golden);
  });
}
