import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ConfigErrorList } from '../../src/config/index.js';
import { DEFAULT_SITE, loadSite } from '../../src/mapping/site.js';
import { checkTables, loadTables, type CodeTables } from '../../src/mapping/tables.js';
import type { ConversionIssue, ConverterContext, SiteConfig } from '../../src/mapping/types.js';
import { channelDir as tempDir, writeFile } from '../channel/channel-files.js';
import { REQUIRED_TABLES as REQUIRED, SEX_TABLE } from './table-fixtures.js';

// dist/test/mapping/ → repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TABLES = join(ROOT, 'mappings/default/tables');

/** A converter context that records issues; `location` as a converter would pass it. */
function context(tables: CodeTables, location = 'PID-8', site: SiteConfig = DEFAULT_SITE): { ctx: ConverterContext; issues: ConversionIssue[] } {
  const issues: ConversionIssue[] = [];
  const ctx: ConverterContext = {
    site,
    tables,
    codeSystems: { resolve: () => undefined },
    issues: { report: (issue) => issues.push(issue) },
    location,
  };
  return { ctx, issues };
}

/** The errors loading `dir` throws, all of them; fails the test if it loads. */
function loadErrors(dir: string, site: SiteConfig = DEFAULT_SITE): readonly ConfigError[] {
  try {
    loadTables(dir, site);
  } catch (err) {
    assert.ok(err instanceof ConfigErrorList, `expected a ConfigErrorList, got ${String(err)}`);
    assert.ok(err instanceof ConfigError, 'a ConfigErrorList is a ConfigError for callers that expect one');
    return err.errors;
  }
  assert.fail('the tables loaded although one is invalid');
}

function sexTables(t: import('node:test').TestContext, site: SiteConfig = DEFAULT_SITE): CodeTables {
  const dir = tempDir(t);
  writeFile(dir, 'hl7-0001.yaml', SEX_TABLE);
  return loadTables(dir, site);
}

// ---------------------------------------------------------------- the shipped tables

test('every table issue 3 requires ships in mappings/default/tables and loads with map entries', () => {
  const tables = loadTables(TABLES, DEFAULT_SITE);
  for (const id of REQUIRED) {
    const table = tables.get(id);
    assert.ok(table !== undefined, `${id}.yaml is missing`);
    assert.ok(table.entries.size > 0, `${id} has no map entries`);
  }
});

test('the shipped tables carry the IG vocabulary pairs, with a per-code system where the IG gives one', () => {
  const tables = loadTables(TABLES, DEFAULT_SITE);
  const { ctx, issues } = context(tables);
  const pairs: ReadonlyArray<readonly [string, string, string, string]> = [
    ['hl7-0001', 'A', 'other', 'http://hl7.org/fhir/administrative-gender'],
    ['hl7-0002', 'U', 'UNK', 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor'],
    ['hl7-0002', 'G', 'T', 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus'],
    ['hl7-0004-class', 'O', 'AMB', 'http://terminology.hl7.org/CodeSystem/v3-ActCode'],
    ['hl7-0004-class', 'R', 'R', 'http://terminology.hl7.org/CodeSystem/v2-0004'],
    ['hl7-0004-status', 'P', 'planned', 'http://hl7.org/fhir/encounter-status'],
    ['hl7-0005', '2106-3', '2106-3', 'urn:oid:2.16.840.1.113883.6.238'],
    ['hl7-0006', 'A', '1007', 'http://terminology.hl7.org/CodeSystem/v3-ReligiousAffiliation'],
    ['hl7-0007', 'E', 'E', 'http://terminology.hl7.org/CodeSystem/v2-0007'],
    ['hl7-0063', 'SEL', 'ONESELF', 'http://terminology.hl7.org/CodeSystem/v3-RoleCode'],
    ['hl7-0078', '<', '<', 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation'],
    ['hl7-0085', 'W', 'entered-in-error', 'http://hl7.org/fhir/observation-status'],
    ['hl7-0119', 'NW', 'active', 'http://hl7.org/fhir/request-status'],
    ['hl7-0123', 'R', 'partial', 'http://hl7.org/fhir/diagnostic-report-status'],
    ['hl7-0189', 'H', '2135-2', 'urn:oid:2.16.840.1.113883.6.238'],
    ['hl7-0203', 'MR', 'MR', 'http://terminology.hl7.org/CodeSystem/v2-0203'],
    ['hl7-0301', 'ISO', 'ISO', 'http://terminology.hl7.org/CodeSystem/v2-0301'],
    ['hl7-0136', 'Y', 'true', 'http://terminology.hl7.org/CodeSystem/special-values'],
  ];
  for (const [table, v2, code, system] of pairs) {
    const hit = tables.lookup(table, v2, ctx);
    assert.deepEqual({ table, v2, code: hit?.code, system: hit?.system, unmapped: hit?.unmapped }, { table, v2, code, system, unmapped: false });
  }
  assert.deepEqual(issues, []);
});

test('IG rows with no FHIR code are not in the shipped tables, so they take the unmapped rule', () => {
  const tables = loadTables(TABLES, DEFAULT_SITE);
  const { ctx, issues } = context(tables, 'OBX[1]-11');
  // 0085 "I" (specimen in lab) has no FHIR target in the IG; Observation.status is required.
  assert.deepEqual(tables.lookup('hl7-0085', 'I', ctx), {
    code: 'unknown',
    system: 'http://hl7.org/fhir/observation-status',
    unmapped: true,
  });
  assert.equal(issues.length, 1);
});

// ---------------------------------------------------------------- lookups

test('a code in the table gives its FHIR code, system and display without an issue', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables);
  assert.deepEqual(tables.lookup('hl7-0001', 'F', ctx), {
    code: 'female',
    system: 'http://hl7.org/fhir/administrative-gender',
    display: 'Female',
    unmapped: false,
  });
  assert.deepEqual(tables.lookup('hl7-0001', 'M', ctx), { code: 'male', system: 'http://hl7.org/fhir/administrative-gender', unmapped: false });
  assert.deepEqual(issues, []);
});

test('a code sent in the wrong case or with spaces around it is found on the second try', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables);
  assert.equal(tables.lookup('hl7-0001', 'f', ctx)?.code, 'female');
  assert.equal(tables.lookup('hl7-0001', ' m ', ctx)?.code, 'male');
  assert.deepEqual(issues, []);
});

test('case-sensitive codes win over the case-insensitive fallback, and codes differing only in case are not guessed', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'local-units.yaml', `
id: local-units
target: { system: http://unitsofmeasure.org }
unmapped: { use: none }
map:
  mg: mg
  Mg: "[Mg]"
  ML: mL
`);
  const tables = loadTables(dir, DEFAULT_SITE);
  const { ctx, issues } = context(tables, 'OBX-6');
  assert.equal(tables.lookup('local-units', 'Mg', ctx)?.code, '[Mg]');
  assert.equal(tables.lookup('local-units', 'ml', ctx)?.code, 'mL');
  assert.equal(tables.lookup('local-units', 'MG', ctx), undefined, 'mg and Mg both fold to MG: ambiguous');
  assert.equal(issues.length, 1);
});

test('an empty code is nothing sent: no value and no issue', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables);
  assert.equal(tables.lookup('hl7-0001', '', ctx), undefined);
  assert.equal(tables.lookup('hl7-0001', '  ', ctx), undefined);
  assert.deepEqual(issues, []);
});

test('a site adds local codes and overrides table codes, reusing the display the table gives', (t) => {
  const site: SiteConfig = { ...DEFAULT_SITE, tableAdditions: { 'hl7-0001': { X: 'unknown', M: 'female' } } };
  const tables = sexTables(t, site);
  const { ctx, issues } = context(tables, 'PID-8', site);
  assert.deepEqual(tables.lookup('hl7-0001', 'X', ctx), {
    code: 'unknown',
    system: 'http://hl7.org/fhir/administrative-gender',
    display: 'Unknown',
    unmapped: false,
  });
  assert.equal(tables.lookup('hl7-0001', 'M', ctx)?.code, 'female');
  assert.equal(tables.lookup('hl7-0001', 'x', ctx)?.code, 'unknown', 'site codes get the case-insensitive fallback too');
  assert.deepEqual(issues, []);
});

test('the same tables without the site have none of its additions', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables);
  assert.equal(tables.lookup('hl7-0001', 'X', ctx)?.unmapped, true);
  assert.equal(issues.length, 1);
});

// ---------------------------------------------------------------- unknown codes

test('an unknown code reports one unknown-code issue naming the table, the code and where it was', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables, 'PID-8');
  tables.lookup('hl7-0001', 'Q', ctx);
  assert.deepEqual(issues, [
    {
      severity: 'warning',
      code: 'unknown-code',
      table: 'hl7-0001',
      location: 'PID-8',
      message: "code 'Q' is not in table hl7-0001 (Administrative Sex); used 'unknown' instead. Add it to the table or to the site's tableAdditions.hl7-0001",
    },
  ]);
});

test('unmapped use: <code> gives that fixed code, marked unmapped, with the display the table has for it', (t) => {
  const tables = sexTables(t);
  const { ctx } = context(tables);
  assert.deepEqual(tables.lookup('hl7-0001', 'Q', ctx), {
    code: 'unknown',
    system: 'http://hl7.org/fhir/administrative-gender',
    display: 'Unknown',
    unmapped: true,
  });
});

test('unmapped use: { code, system } gives a fixed code in another system', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'hl7-0002.yaml', `
id: hl7-0002
target: { system: http://terminology.hl7.org/CodeSystem/v3-MaritalStatus }
unmapped:
  use: { code: UNK, display: unknown, system: http://terminology.hl7.org/CodeSystem/v3-NullFlavor }
  issue: information
map: { M: M, S: S }
`);
  const tables = loadTables(dir, DEFAULT_SITE);
  const { ctx, issues } = context(tables, 'PID-16');
  assert.deepEqual(tables.lookup('hl7-0002', 'Z', ctx), {
    code: 'UNK',
    system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor',
    display: 'unknown',
    unmapped: true,
  });
  assert.equal(issues[0]?.severity, 'information');
});

test('unmapped use: passthrough keeps the v2 code as sent, in the source system', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'hl7-0004-class.yaml', `
id: hl7-0004-class
source: { table: HL70004, system: http://terminology.hl7.org/CodeSystem/v2-0004 }
target: { system: http://terminology.hl7.org/CodeSystem/v3-ActCode }
unmapped: { use: passthrough, issue: warning }
map: { E: EMER, I: IMP }
`);
  const tables = loadTables(dir, DEFAULT_SITE);
  const { ctx, issues } = context(tables, 'PV1-2');
  assert.deepEqual(tables.lookup('hl7-0004-class', 'OBS ', ctx), {
    code: 'OBS',
    system: 'http://terminology.hl7.org/CodeSystem/v2-0004',
    unmapped: true,
  });
  assert.match(issues[0]?.message ?? '', /kept the code as sent/);
});

test('unmapped use: none gives no value but still reports the issue', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'hl7-0200.yaml', `
id: hl7-0200
target: { system: http://hl7.org/fhir/name-use }
unmapped: { use: none, issue: information }
map: { L: official }
`);
  const tables = loadTables(dir, DEFAULT_SITE);
  const { ctx, issues } = context(tables, 'PID-5[1].7');
  assert.equal(tables.lookup('hl7-0200', 'B', ctx), undefined);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.severity, 'information');
  assert.match(issues[0]?.message ?? '', /left the value out/);
});

test('the issue severity defaults to warning when the table does not set it', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'yn.yaml', `
id: yn
target: { system: http://terminology.hl7.org/CodeSystem/special-values }
unmapped: { use: none }
map: { "Y": "true", "N": "false" }
`);
  const tables = loadTables(dir, DEFAULT_SITE);
  const { ctx, issues } = context(tables);
  tables.lookup('yn', 'maybe', ctx);
  assert.equal(issues[0]?.severity, 'warning');
});

test('a long value in a coded field is described by its length, not quoted, in the issue', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables);
  // A name sent where the sex code belongs must not reach logs through the issue.
  tables.lookup('hl7-0001', 'EVERYWOMAN^EVE^E', ctx);
  assert.equal(issues.length, 1);
  assert.doesNotMatch(issues[0]?.message ?? '', /EVERYWOMAN/);
  assert.match(issues[0]?.message ?? '', /code of 16 characters is not in table hl7-0001/);
});

test('a lookup in a table that is not loaded reports an error issue instead of throwing', (t) => {
  const tables = sexTables(t);
  const { ctx, issues } = context(tables, 'PV1-2');
  assert.equal(tables.has('hl7-0004-class'), false);
  assert.equal(tables.lookup('hl7-0004-class', 'E', ctx), undefined);
  assert.deepEqual(
    issues.map((i) => [i.severity, i.code, i.table]),
    [['error', 'unknown-code', 'hl7-0004-class']],
  );
});

// ---------------------------------------------------------------- bad files

test('a YAML syntax error is reported at its file:line:col', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'hl7-0001.yaml', `
id: hl7-0001
target: { system: http://hl7.org/fhir/administrative-gender
unmapped: { use: unknown }
map: { F: female }
`);
  const [err] = loadErrors(dir);
  assert.ok(err !== undefined);
  assert.equal(err.file, file);
  assert.equal(err.rule, 'syntax');
  assert.ok(err.message.startsWith(`${file}:${err.line}:${err.col}: YAML syntax: `), err.message);
  assert.ok(err.line >= 2 && err.line <= 4, `line ${err.line}`);
});

test('a schema violation points at the offending value', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'hl7-0001.yaml', `
id: hl7-0001
target: { system: http://hl7.org/fhir/administrative-gender }
unmapped:
  use: unknown
  issue: loud
map: { F: female }
`);
  const errors = loadErrors(dir);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.message, `${file}:5:10: unmapped.issue must be one of: error, warning, information (enum)`);
});

test('a code YAML reads as a number or boolean is reported with the quoting fix', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'hl7-0062.yaml', `
id: hl7-0062
target: { system: http://terminology.hl7.org/CodeSystem/v3-ActReason }
unmapped: { use: none }
map:
  01: PATRQT
  "02": { code: true }
`);
  const messages = loadErrors(dir).map((e) => e.message);
  assert.deepEqual(messages, [
    `${file}:5:3: key 01 is read by YAML as a number, not as the code written; quote it: '01' (key-type)`,
    `${file}:6:17: map.02.code must be text, not true or false; YAML reads true as a boolean, so quote it: 'true' (type)`,
  ]);
});

test('an id that differs from the file name is refused, since mappings find tables by id', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'hl7-0001.yaml', SEX_TABLE.replace('id: hl7-0001', 'id: hl7-0002'));
  const [err] = loadErrors(dir);
  assert.equal(err?.message, `${file}:1:5: id 'hl7-0002' differs from the file name 'hl7-0001'; mappings name tables by id, so keep them equal (rename the file or the id) (id)`);
});

test('passthrough without source.system is refused: the kept code would have no system', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'pc.yaml', `
id: pc
target: { system: http://terminology.hl7.org/CodeSystem/v3-ActCode }
unmapped: { use: passthrough }
map: { E: EMER }
`);
  const [err] = loadErrors(dir);
  assert.equal(err?.file, file);
  assert.deepEqual([err?.line, err?.col, err?.rule], [3, 18, 'passthrough']);
});

test('problems in several files are all reported in one error, file by file', (t) => {
  const dir = tempDir(t);
  const a = writeFile(dir, 'a.yaml', `
id: a
target: { system: not a uri }
unmapped: { use: none }
map: { X: x }
`);
  const b = writeFile(dir, 'b.yaml', `
id: b
target: { system: http://example.org/cs }
unmapped: { use: none }
mapp: { X: x }
`);
  writeFile(dir, 'c.yaml', SEX_TABLE.replace('hl7-0001', 'c'));
  const errors = loadErrors(dir);
  assert.deepEqual(
    errors.map((e) => [e.file, e.line, e.col, e.rule]),
    [
      [a, 2, 19, 'pattern'],
      [b, 1, 1, 'required'],
      [b, 4, 1, 'additionalProperties'],
    ],
  );
  assert.match(errors[2]?.detail ?? '', /mapp is not a known setting; did you mean 'map'\?/);
  // checkTables still loads the good file for tools that show problems beside the rest.
  const { tables } = checkTables(dir, DEFAULT_SITE);
  assert.deepEqual(tables.ids(), ['c']);
});

test('site additions for a table that does not exist are reported at the site file line', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'hl7-0001.yaml', SEX_TABLE);
  const siteFile = writeFile(dir, 'sites/clinic.yaml', `
timezone: Europe/Berlin
tableAdditions:
  hl7-0001: { X: unknown }
  hl7-0004-clas: { OBS: OBSENC }
`);
  const site = loadSite(siteFile);
  const errors = loadErrors(dir, site);
  assert.deepEqual(
    errors.map((e) => [e.file, e.line, e.col, e.rule]),
    [[siteFile, 4, 18, 'table']],
  );
  assert.match(errors[0]?.detail ?? '', /tableAdditions names table 'hl7-0004-clas', which is not in /);
});
