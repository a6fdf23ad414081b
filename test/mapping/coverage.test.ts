/**
 * What the default mapping set covers: every patient-administration, financial, referral and
 * problem trigger event converts (a minimal message of each, built here, through the real
 * converter to a valid R4 Bundle), and the coverage table in mappings/README.md is the one the
 * mapping files give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadMappingSet, convertMessage } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { validateBundle } from '../../src/fhir/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'));

/** ADT events of HL7 v2 chapter 3 (table 0003): A19 is a query (QRY/ADR), A56-A59 are unassigned. */
const ADT_EVENTS = Array.from({ length: 62 }, (_, i) => `A${String(i + 1).padStart(2, '0')}`).filter(
  (e) => e !== 'A19' && !['A56', 'A57', 'A58', 'A59'].includes(e),
);

const PID = 'PID|1||90001^^^HOSP^MR||TESTER^TARA||19700101|F|||1 TEST ST^^TESTTOWN^IL^60000||^PRN^PH^^1^555^5550100|||||77001^^^HOSP^AN';
const PV1 = 'PV1|1|I|WARD1^101^A^HOSP|||||||MED||||||||||V1001^^^HOSP^VN|||||||||||||||||||||||||20260101080000-0500';

/** A minimal but meaningful message of each trigger event: the segments its structure requires. */
function minimal(code: string, event: string): string {
  const msh = `MSH|^~\\&|SENDER|HOSP|ENGINE|HOSP|20260101090000-0500||${code}^${event}|T-${code}-${event}|P|2.5.1`;
  const evn = `EVN|${event}|20260101090000-0500`;
  let body: string[];
  if (code === 'ADT') {
    if (event === 'A20') body = [evn, 'NPU|WARD1^101^A^HOSP|U'];
    else if (['A17', 'A24', 'A37'].includes(event)) body = [evn, PID, PV1, PID.replace('90001', '90002').replace('TARA', 'TOM'), PV1.replace('V1001', 'V1002')];
    else if (['A18', 'A30', 'A34', 'A35', 'A36', 'A39', 'A40', 'A41', 'A42', 'A43', 'A44', 'A45', 'A46', 'A47', 'A48', 'A49', 'A50', 'A51'].includes(event)) {
      body = [evn, PID, 'MRG|90000^^^HOSP^MR||77000^^^HOSP^AN||V1000^^^HOSP^VN', PV1];
    } else body = [evn, PID, PV1];
  } else if (code === 'BAR') body = [evn, PID, PV1, 'DG1|1||I10^Essential hypertension^I10'];
  else if (code === 'DFT') body = [evn, PID, PV1, 'FT1|1|TX1||20260101|20260101|CG|99213^Office visit^CPT4||||1'];
  else if (code === 'REF') body = ['RF1|P^Pending^HL70283|R^Routine^HL70280|Med^Medical^HL70281||O|R-1^HOSP', 'PRD|RP|REFERRER^RITA', PID];
  else body = [PID, PV1, `PRB|AD|20260101|I10^Essential hypertension^I10|P-1^HOSP`];
  return [msh, ...body].join('\r') + '\r';
}

const IN_SCOPE: ReadonlyArray<readonly [string, string]> = [
  ...ADT_EVENTS.map((e) => ['ADT', e] as const),
  ...['P01', 'P02', 'P05', 'P06', 'P10', 'P12'].map((e) => ['BAR', e] as const),
  ...['P03', 'P11'].map((e) => ['DFT', e] as const),
  ...['I12', 'I13', 'I14', 'I15'].map((e) => ['REF', e] as const),
  ...['PC1', 'PC2', 'PC3'].map((e) => ['PPR', e] as const),
];

test('the trigger events in scope are the 57 ADT events of chapter 3 plus 15 financial, referral and problem events', () => {
  assert.equal(ADT_EVENTS.length, 57);
  assert.equal(IN_SCOPE.length, 72);
});

for (const [code, event] of IN_SCOPE) {
  test(`${code}^${event} converts to a valid R4 Bundle`, () => {
    const parsed = parseMessage(minimal(code, event));
    assert.ok(parsed.ok, 'the test message parses');
    const r = convertMessage(parsed.message, set);
    assert.equal(r.unsupported, false, `${code}^${event} has a mapping`);
    assert.ok(r.bundle, 'a bundle');
    assert.deepEqual(validateBundle(r.bundle), []);
    const types = new Set((r.bundle.entry ?? []).map((e) => e.resource?.resourceType));
    // A bed status names no patient; everything else is about one.
    assert.ok(event === 'A20' ? types.has('Location') : types.has('Patient'), `resource types: ${[...types].join(', ')}`);
  });
}

test('mappings/README.md carries the coverage table the mapping files give (node scripts/mapping-coverage.mjs)', async () => {
  const script = join(REPO_DIR, 'scripts', 'mapping-coverage.mjs');
  const run = promisify(execFile)(process.execPath, [script, '--check'], { cwd: REPO_DIR, timeout: 60_000 });
  await assert.doesNotReject(run, 'the table is stale: run node scripts/mapping-coverage.mjs and commit mappings/README.md');
});

test('the coverage check fails on a README whose table lost a row', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const readme = join(dir, 'README.md');
  const lines = readFileSync(join(REPO_DIR, 'mappings', 'README.md'), 'utf8').split('\n');
  const row = lines.findIndex((l) => l.startsWith('| ADT_A20 |'));
  assert.ok(row > 0, 'the table has an ADT_A20 row');
  writeFileSync(readme, lines.filter((_, i) => i !== row).join('\n'));
  const script = join(REPO_DIR, 'scripts', 'mapping-coverage.mjs');
  const run = promisify(execFile)(process.execPath, [script, '--check', '--readme', readme], { cwd: REPO_DIR, timeout: 60_000 });
  await assert.rejects(run, (err: { code?: number }) => err.code === 1);
});
