/**
 * The fast validator against the referee: validateBundle (@medplum/core's validator over the R4
 * definitions plus the engine's rules) judges the same Bundles, and whatever the referee rejects
 * the fast validator must reject too, naming the element and the rule. The Bundles: every
 * message of test-messages/ converted with mappings/default, the reviewed goldens, and a set of
 * Bundles broken on purpose one mistake at a time (test/support/fhir-mutations.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { decodeMessage } from '../../src/charset/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { convertMessage, loadMappingSet } from '../../src/mapping/index.js';
import { validateBundle } from '../../src/fhir/index.js';
import { validateBundleByWalk, validateBundleFast } from '../../src/fhir/validate-fast.js';
import { fallbackCount } from '../../src/fhir/invariants.js';
import { structureIndex } from '../../src/fhir/structure.js';
import { REPO_DIR } from '../support/repo.js';
import { mutationsOf, type Mutation } from '../support/fhir-mutations.js';

/**
 * How many mutations the goldens give (one per kind of mistake and element definition). The set
 * is generated from test-messages/expected: when the goldens change on purpose, this changes too.
 */
const EXPECTED_MUTATIONS = 2291;

const MUTATION_KINDS = [
  'format',
  'binding',
  'empty-string',
  'empty-array',
  'empty-object',
  'null',
  'list-in-single',
  'single-for-list',
  'unknown-element',
  'missing-required',
  'choice-conflict',
  'ext-1',
  'dangling-reference',
  'uppercase-reference',
  'reference-form',
  'reference-target',
  'resource-type',
  'no-fullUrl',
  'duplicate-fullUrl',
  'uppercase-fullUrl',
  'no-request',
  'request-url-type',
  'put-id-mismatch',
  'ifNoneExist-on-put',
  'duplicate-put',
  'bundle-type',
];

const GOLDEN_DIRS = readdirSync(join(REPO_DIR, 'test-messages/expected'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function goldens(): { name: string; bundle: Bundle }[] {
  return GOLDEN_DIRS.flatMap((dir) =>
    readdirSync(join(REPO_DIR, 'test-messages/expected', dir))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => ({ name: `${dir}/${f}`, bundle: (JSON.parse(readFileSync(join(REPO_DIR, 'test-messages/expected', dir, f), 'utf8')) as { bundle: Bundle }).bundle })),
  );
}

function testMessageFiles(dir = join(REPO_DIR, 'test-messages')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return d.name === 'expected' ? [] : testMessageFiles(p);
    return /\.(hl7|txt)$/.test(d.name) ? [p] : [];
  });
}

const verdict = (problems: readonly unknown[]): string => (problems.length === 0 ? 'valid' : 'invalid');

test('every test message converts to a Bundle that both validators judge the same', (t) => {
  const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');
  const files = testMessageFiles();
  assert.ok(files.length >= 30, `only ${files.length} test messages found`);
  let bundles = 0;
  const disagreements: string[] = [];
  for (const file of files) {
    const decoded = decodeMessage(readFileSync(file), { fallback: 'windows-1252' });
    if (!decoded.ok) continue;
    const parsed = parseMessage(decoded.text);
    if (!parsed.ok) continue;
    const r = convertMessage(parsed.message, set);
    if (!r.bundle) continue;
    bundles++;
    const referee = validateBundle(r.bundle);
    const fast = validateBundleFast(r.bundle);
    if (verdict(referee) !== verdict(fast)) disagreements.push(`${file}: referee ${verdict(referee)}, fast ${verdict(fast)} (${JSON.stringify(fast.slice(0, 3))})`);
  }
  t.diagnostic(`${files.length} files, ${bundles} Bundles`);
  assert.ok(bundles >= 25, `only ${bundles} Bundles converted`);
  assert.deepEqual(disagreements, []);
});

test('the reviewed golden Bundles are valid to both validators, and need no FHIRPath fallback', () => {
  const before = fallbackCount.value;
  for (const g of goldens()) {
    assert.deepEqual(validateBundle(g.bundle), [], `${g.name}: referee`);
    assert.deepEqual(validateBundleFast(g.bundle), [], `${g.name}: fast`);
  }
  assert.equal(fallbackCount.value - before, 0, 'every invariant engine output meets is written out');
});

test(`${EXPECTED_MUTATIONS} Bundles broken on purpose: the fast validator rejects each one the referee rejects, at the broken element with the right rule`, (t) => {
  const index = structureIndex();
  const seen = new Set<string>();
  const mutations: Mutation[] = goldens().flatMap((g) => mutationsOf(g.bundle, index, seen));
  const kinds = new Map<string, number>();
  for (const m of mutations) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
  t.diagnostic(`mutations by kind: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  assert.equal(mutations.length, EXPECTED_MUTATIONS, 'the mutated set changed size: did the goldens or the generator change?');
  assert.deepEqual(MUTATION_KINDS.filter((k) => !kinds.has(k)), [], 'every kind of mistake is tried at least once');

  const missed: string[] = [];
  const unplaced: string[] = [];
  const refereeAccepts = new Map<string, number>();
  for (const m of mutations) {
    const referee = validateBundle(m.bundle);
    const fast = validateBundleFast(m.bundle);
    const placed = fast.some((p) => p.path === m.path && m.rules.includes(p.rule));
    if (referee.length > 0 && fast.length === 0) missed.push(`${m.kind} at ${m.path} (${m.element}): referee says ${JSON.stringify(referee.slice(0, 2))}`);
    else if (!placed) unplaced.push(`${m.kind} at ${m.path}: expected a ${m.rules.join('/')} problem there; fast says ${JSON.stringify(fast.slice(0, 3))}`);
    if (referee.length === 0) refereeAccepts.set(m.kind, (refereeAccepts.get(m.kind) ?? 0) + 1);
  }
  // Where the fast validator is stricter than the referee (R4 rules @medplum/core leaves out).
  t.diagnostic(`the referee accepts, the fast validator rejects: ${[...refereeAccepts].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
  assert.deepEqual(missed, [], 'Bundles the referee rejects and the fast validator lets through');
  assert.deepEqual(unplaced, [], 'mistakes the fast validator does not report at the broken element');
});

test(`the generated checks say "no problem" only where the walk finds none: the golden Bundles and the ${EXPECTED_MUTATIONS} broken ones give the walk's problems, in order`, () => {
  const index = structureIndex();
  const seen = new Set<string>();
  let checked = 0;
  const differ: string[] = [];
  const all = goldens();
  for (const g of all) {
    const cases = [{ what: g.name, bundle: g.bundle }, ...mutationsOf(g.bundle, index, seen).map((m) => ({ what: `${g.name}: ${m.kind} at ${m.path}`, bundle: m.bundle }))];
    for (const c of cases) {
      checked++;
      const walk = validateBundleByWalk(c.bundle);
      const fast = validateBundleFast(c.bundle);
      if (JSON.stringify(fast) !== JSON.stringify(walk)) differ.push(`${c.what}: walk ${JSON.stringify(walk.slice(0, 2))}, fast ${JSON.stringify(fast.slice(0, 2))}`);
    }
  }
  assert.equal(checked, all.length + EXPECTED_MUTATIONS, 'the checked set changed size: did the goldens or the generator change?');
  assert.deepEqual(differ, []);
});
