// scripts/generate-tables.mjs against the HL7 v2-to-FHIR IG vocabulary sheets ($HL7_IG_SHEETS):
// the shipped tables were seeded from them, and an analyst's edit must survive a re-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SITE } from '../../src/mapping/site.js';
import { loadTables } from '../../src/mapping/tables.js';
import { channelDir as tempDir, writeFile } from '../../test/channel/channel-files.js';
import { REQUIRED_TABLES as REQUIRED, SEX_TABLE } from '../../test/mapping/table-fixtures.js';
import { IG_SHEETS, REPO_DIR } from '../support/corpus.js';

const GENERATOR = join(REPO_DIR, 'scripts/generate-tables.mjs');

test('the generator seeds every required table from the IG sheets, and its output loads', (t) => {
  assert.ok(existsSync(IG_SHEETS), `IG sheets expected at ${IG_SHEETS}`);
  const out = tempDir(t);
  execFileSync(process.execPath, [GENERATOR, '--ig', IG_SHEETS, '--out', out], { stdio: 'pipe' });
  const written = readdirSync(out).filter((f) => f.endsWith('.yaml'));
  for (const id of REQUIRED) assert.ok(written.includes(`${id}.yaml`), `generator did not write ${id}.yaml`);
  const tables = loadTables(out, DEFAULT_SITE);
  assert.equal(tables.ids().length, written.length);
  // A pair read from the sheet whose display sits in the unnamed column after the FHIR code.
  assert.deepEqual(tables.get('hl7-0004-class')?.entries.get('E'), {
    code: 'EMER',
    system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
    display: 'emergency',
    unmapped: false,
  });
});

test('the generator leaves an existing table alone unless told --force', (t) => {
  const out = tempDir(t);
  const edited = writeFile(out, 'hl7-0001.yaml', SEX_TABLE);
  const log = execFileSync(process.execPath, [GENERATOR, '--ig', IG_SHEETS, '--out', out], { encoding: 'utf8' });
  assert.match(log, /1 existing kept/);
  const tables = loadTables(out, DEFAULT_SITE);
  assert.equal(tables.get('hl7-0001')?.file, edited);
  assert.equal(tables.get('hl7-0001')?.entries.has('A'), false, 'the analyst\'s version, without the IG\'s A row, is kept');
});
