import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CORPUS_DIR } from '../support/corpus.js';

/** dist/test-corpus/fhir → repository root → scripts/score-corpus.mjs (plain JS, run as shipped). */
const SCRIPT = fileURLToPath(new URL('../../../scripts/score-corpus.mjs', import.meta.url));
const PAIRS = join(CORPUS_DIR, 'pairs.tsv');

interface KindScore {
  expected: number;
  found: number;
  matched: number;
  recall: number | null;
}
interface Scored {
  kinds: Record<string, KindScore>;
  overall: { expected: number; found: number; matched: number; recall: number };
}
interface ScoreModule {
  readPairs(file?: string): { expected: string; input: string; name: string }[];
  scoreFacts(lines: [string, string][], workDir: string): Scored;
}

const load = async (): Promise<ScoreModule> => (await import(SCRIPT)) as ScoreModule;

test('every pair in the corpus names an expected bundle and an input that exist', async () => {
  const { readPairs } = await load();
  const rows = readFileSync(PAIRS, 'utf8').split('\n').filter((l) => l.trim() !== '');
  assert.equal(rows[0], 'expected\tinput');
  const pairs = readPairs();
  assert.equal(pairs.length, rows.length - 1);
  for (const p of pairs) {
    assert.ok(existsSync(p.expected), `missing expected for ${p.name}`);
    assert.ok(existsSync(p.input), `missing input ${p.name}`);
  }
});

test('a pairs line without two tab-separated paths is refused with its line number', async () => {
  const { readPairs } = await load();
  const dir = mkdtempSync(join(tmpdir(), 'pairs-'));
  try {
    const file = join(dir, 'pairs.tsv');
    writeFileSync(file, 'expected\tinput\na.fhir\ta.hl7\nb.fhir b.hl7\n');
    assert.throws(() => readPairs(file), /pairs\.tsv:3: expected two tab-separated paths/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('facts are scored per kind: a missing observation costs observation recall, not patient recall', async () => {
  const { scoreFacts } = await load();
  const patient = { resourceType: 'Patient', identifier: [{ value: 'A1' }], name: [{ family: 'Doe', given: ['Jane'] }], gender: 'female' };
  const glucose = { resourceType: 'Observation', status: 'final', code: { coding: [{ code: '2345-7' }] }, valueQuantity: { value: 5.4, code: 'mmol/L' } };
  const expected = { resourceType: 'Bundle', entry: [{ resource: patient }, { resource: glucose }] };
  const actual = { resourceType: 'Bundle', entry: [{ resource: patient }] };
  const dir = mkdtempSync(join(tmpdir(), 'facts-'));
  try {
    writeFileSync(join(dir, 'e.json'), JSON.stringify(expected));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(actual));
    const s = scoreFacts([[join(dir, 'e.json'), join(dir, 'a.json')]], dir);
    assert.equal(s.kinds['patient.gender']?.recall, 1);
    assert.equal(s.kinds['patient.name']?.recall, 1);
    assert.equal(s.kinds['observation.value']?.recall, 0);
    assert.equal(s.kinds['observation.unit']?.recall, 0);
    // patient: identifier, name, gender; observation: value, unit, status
    assert.deepEqual(s.overall, { expected: 6, found: 3, matched: 3, recall: 0.5, precision: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an actual bundle that was never written counts as empty (every expected fact missed)', async () => {
  const { scoreFacts } = await load();
  const dir = mkdtempSync(join(tmpdir(), 'facts-'));
  try {
    writeFileSync(join(dir, 'e.json'), JSON.stringify({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Patient', gender: 'male' } }] }));
    const s = scoreFacts([[join(dir, 'e.json'), join(dir, 'not-converted.json')]], dir);
    assert.deepEqual(s.overall, { expected: 1, found: 0, matched: 0, recall: 0, precision: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the corpus expected outputs scored against themselves give recall 1.0 for every kind', () => {
  const out = execFileSync(process.execPath, [SCRIPT, '--self-check', '--json'], { encoding: 'utf8' });
  const report = JSON.parse(out) as Scored & { pairs: number };
  assert.ok(report.pairs > 200, `only ${report.pairs} pairs`);
  assert.ok(report.overall.expected > 1000, `only ${report.overall.expected} expected facts`);
  assert.equal(report.overall.recall, 1);
  for (const [kind, r] of Object.entries(report.kinds)) assert.equal(r.recall, 1, kind);
});
