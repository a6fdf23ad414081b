import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ConfigErrorList } from '../../src/config/index.js';
import { checkSite, DEFAULT_SITE, loadSite, timezoneProblem } from '../../src/mapping/site.js';
import { channelDir as tempDir, writeFile } from '../channel/channel-files.js';

// dist/test/mapping/ → repository root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SITES = join(ROOT, 'mappings/default/sites');

/** The errors loading `file` throws, all of them; fails the test if it loads. */
function loadErrors(file: string): readonly ConfigError[] {
  try {
    loadSite(file);
  } catch (err) {
    assert.ok(err instanceof ConfigErrorList, `expected a ConfigErrorList, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('the site loaded although it is invalid');
}

test('the shipped default.yaml is exactly DEFAULT_SITE', () => {
  assert.deepEqual(loadSite(join(SITES, 'default.yaml')), DEFAULT_SITE);
});

test('DEFAULT_SITE reads offset-less times as UTC and gives unknown authorities their own URN', () => {
  assert.deepEqual(DEFAULT_SITE, {
    name: 'default',
    timezone: 'UTC',
    assigningAuthorities: {},
    unknownAuthoritySystem: 'urn:x-v2-aa:default:{name}',
    codeSystems: {},
    tableAdditions: {},
  });
  assert.ok(Object.isFrozen(DEFAULT_SITE) && Object.isFrozen(DEFAULT_SITE.tableAdditions));
});

test('the example general-hospital site loads with its zone, authority and local additions', () => {
  const site = loadSite(join(SITES, 'general-hospital.yaml'));
  assert.equal(site.name, 'general-hospital');
  assert.equal(site.timezone, 'America/Chicago');
  assert.deepEqual(site.assigningAuthorities['GENHOSP'], { system: 'https://fhir.general-hospital.example.org/sid/mrn', type: 'MR' });
  assert.equal(site.unknownAuthoritySystem, 'urn:x-v2-aa:general-hospital:{name}');
  assert.equal(site.tableAdditions['hl7-0004-class']?.['OBS'], 'OBSENC');
});

test('a site file with only a time zone gets every other default, and its name from the file', (t) => {
  const file = writeFile(tempDir(t), 'st-marys.yaml', `
timezone: America/Denver
`);
  assert.deepEqual(loadSite(file), {
    name: 'st-marys',
    timezone: 'America/Denver',
    assigningAuthorities: {},
    unknownAuthoritySystem: 'urn:x-v2-aa:st-marys:{name}',
    codeSystems: {},
    tableAdditions: {},
  });
});

test('{site} in unknownAuthoritySystem becomes the site name; {name} is left for the converter', (t) => {
  const file = writeFile(tempDir(t), 'x.yaml', `
name: lakeside
unknownAuthoritySystem: "https://lakeside.example.org/sid/{site}/{name}"
`);
  assert.equal(loadSite(file).unknownAuthoritySystem, 'https://lakeside.example.org/sid/lakeside/{name}');
});

test('unknownAuthoritySystem: null is kept, meaning no system for unlisted authorities', (t) => {
  const file = writeFile(tempDir(t), 'strict.yaml', `
unknownAuthoritySystem: null
`);
  assert.equal(loadSite(file).unknownAuthoritySystem, null);
});

test('an unknown time zone is reported at the timezone value', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
name: clinic
timezone: America/Chicagoo
`);
  const errors = loadErrors(file);
  assert.equal(errors.length, 1);
  assert.equal(
    errors[0]?.message,
    `${file}:2:11: timezone 'America/Chicagoo' is not a time zone this Node.js knows; use an IANA name such as America/Chicago, Europe/Berlin or UTC (timezone)`,
  );
});

test('a fixed offset is refused as a time zone: it would ignore daylight saving', () => {
  assert.match(timezoneProblem('+05:00') ?? '', /IANA time zone name/);
  assert.match(timezoneProblem('UTC-6') ?? '', /not a time zone|IANA/);
  assert.equal(timezoneProblem('Europe/Berlin'), null);
  assert.equal(timezoneProblem('UTC'), null);
});

test('a template without {name} is refused: every unknown authority would share one system', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
unknownAuthoritySystem: "urn:x-v2-aa:clinic"
`);
  const [err] = loadErrors(file);
  assert.deepEqual([err?.line, err?.col, err?.rule], [1, 25, 'pattern']);
  assert.match(err?.detail ?? '', /must be a URI template containing \{name\}/);
});

test('a misspelt setting is reported at its key with the likely intended one', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
timeZone: America/Chicago
`);
  const [err] = loadErrors(file);
  assert.equal(err?.message, `${file}:1:1: timeZone is not a known setting; did you mean 'timezone'? (additionalProperties)`);
});

test('an authority without a system is reported where the authority is written', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
assigningAuthorities:
  CLINIC_MRN: { type: MR }
`);
  const [err] = loadErrors(file);
  assert.equal(err?.message, `${file}:2:15: assigningAuthorities.CLINIC_MRN.system is required but missing from assigningAuthorities.CLINIC_MRN (required)`);
});

test('a file name that is not a site name needs an explicit name', (t) => {
  const file = writeFile(tempDir(t), 'General Hospital.yaml', `
timezone: America/Chicago
`);
  const [err] = loadErrors(file);
  assert.equal(err?.rule, 'name');
  assert.deepEqual([err?.line, err?.col], [1, 1]);
});

test('every problem in a site file is reported in one round, in file order', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
timezone: Mars/Olympus_Mons
codeSystems:
  L: local-lab
tableAdditions:
  HL7-0001: { X: unknown }
`);
  const { site, errors } = checkSite(file);
  assert.equal(site, null);
  assert.deepEqual(
    errors.map((e) => [e.line, e.col, e.rule]),
    [
      [1, 11, 'timezone'],
      [3, 6, 'pattern'],
      [5, 3, 'propertyNames'],
    ],
  );
  assert.match(errors[2]?.detail ?? '', /key 'HL7-0001' in tableAdditions must be a table id/);
});

test('a table addition code YAML reads as a number is refused with the quoting fix', (t) => {
  const file = writeFile(tempDir(t), 'clinic.yaml', `
tableAdditions:
  hl7-0062: { 01: PATRQT }
`);
  const [err] = loadErrors(file);
  assert.equal(err?.message, `${file}:2:15: key 01 is read by YAML as a number, not as the code written; quote it: '01' (key-type)`);
});

test('a missing site file is a ConfigError naming the file', () => {
  const file = join(SITES, 'no-such-site.yaml');
  const [err] = loadErrors(file);
  assert.equal(err?.message, `${file}:1:1: cannot read the site file (ENOENT) (read)`);
});
