import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { createCodeSystemRegistry } from '../../../src/mapping/code-systems.js';
import { args, codes, context, field, SITE } from './fake-context.js';

const cwe = CONVERTERS['cwe']!;
const coding = CONVERTERS['coding']!;
const code = CONVERTERS['code']!;
const concept = CONVERTERS['concept']!;

test('code systems: standard v2 names resolve to their FHIR URIs', () => {
  const ctx = context();
  const r = createCodeSystemRegistry(SITE);
  assert.equal(r.resolve('LN', ctx), 'http://loinc.org');
  assert.equal(r.resolve('SCT', ctx), 'http://snomed.info/sct');
  assert.equal(r.resolve('I10', ctx), 'http://hl7.org/fhir/sid/icd-10-cm');
  assert.equal(r.resolve('RXNORM', ctx), 'http://www.nlm.nih.gov/research/umls/rxnorm');
  assert.equal(r.resolve('UCUM', ctx), 'http://unitsofmeasure.org');
  assert.deepEqual(codes(ctx), []);
});

test('code systems: HL7nnnn and HL7-nnnn are the v2 tables', () => {
  const ctx = context();
  const r = createCodeSystemRegistry(SITE);
  assert.equal(r.resolve('HL70078', ctx), 'http://terminology.hl7.org/CodeSystem/v2-0078');
  assert.equal(r.resolve('HL7-0203', ctx), 'http://terminology.hl7.org/CodeSystem/v2-0203');
});

test("code systems: a local 99zzz name comes from the site's codeSystems with no issue", () => {
  const ctx = context();
  assert.equal(createCodeSystemRegistry(SITE).resolve('99STM', ctx), 'https://stmarys.example.org/fhir/CodeSystem/orders');
  assert.deepEqual(codes(ctx), []);
});

test('code systems: the site can repoint a standard name', () => {
  const site = { ...SITE, codeSystems: { LN: 'https://example.org/loinc-mirror' } };
  assert.equal(createCodeSystemRegistry(site).resolve('LN', context()), 'https://example.org/loinc-mirror');
});

test('code systems: an unmapped local name gets a site-scoped urn and an unknown-code-system warning naming it', () => {
  const ctx = context({}, 'OBX-3.3');
  assert.equal(createCodeSystemRegistry(SITE).resolve('99ZZZ', ctx), 'urn:x-v2-cs:st-marys:99ZZZ');
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity, i.location]), [['unknown-code-system', 'warning', 'OBX-3.3']]);
  assert.match(ctx.reported[0]?.message ?? '', /'99ZZZ'/);
});

test('CWE: both triplets become codings with resolved systems and versions; CWE.9 is the text', () => {
  const ctx = context({}, 'OBX-3');
  assert.deepEqual(cwe(field('2345-7^Glucose^LN^GLU^Glucose SerPl^99STM^2.74^v1^Glucose, serum'), args(), ctx), {
    coding: [
      { system: 'http://loinc.org', version: '2.74', code: '2345-7', display: 'Glucose' },
      { system: 'https://stmarys.example.org/fhir/CodeSystem/orders', version: 'v1', code: 'GLU', display: 'Glucose SerPl' },
    ],
    text: 'Glucose, serum',
  });
  assert.deepEqual(codes(ctx), []);
});

test('CWE: the second alternate triplet (CWE.10-12) is a third coding', () => {
  const cc = cwe(field('A^a^LN^B^b^SCT^^^^C^c^I10'), args(), context()) as { coding?: { code?: string }[] };
  assert.deepEqual(cc.coding?.map((c) => c.code), ['A', 'B', 'C']);
});

test('CWE: without CWE.9 the text is the first display (departure: receivers show text first)', () => {
  assert.equal((cwe(field('2345-7^Glucose^LN'), args(), context()) as { text?: string }).text, 'Glucose');
});

test('CWE: an unknown coding system keeps the code under a site-scoped system and reports the component', () => {
  const ctx = context({}, 'OBX-3');
  const cc = cwe(field('K^Potassium^LABX'), args(), ctx) as { coding?: { system?: string }[] };
  assert.equal(cc.coding?.[0]?.system, 'urn:x-v2-cs:st-marys:LABX');
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.location]), [['unknown-code-system', 'OBX-3.3']]);
});

test('CWE: a code without a coding system name keeps the code and has no system, no issue', () => {
  const ctx = context();
  assert.deepEqual(cwe(field('ER^Emergency'), args(), ctx), { coding: [{ code: 'ER', display: 'Emergency' }], text: 'Emergency' });
  assert.deepEqual(codes(ctx), []);
});

test('CWE: only text is a CodeableConcept with text alone', () => {
  assert.deepEqual(cwe(field('^Patient refused'), args(), context()), { text: 'Patient refused' });
});

test('CE and CNE are read like CWE', () => {
  assert.deepEqual(CONVERTERS['ce']!(field('M^Married^HL70002'), args(), context()), CONVERTERS['cne']!(field('M^Married^HL70002'), args(), context()));
});

test('coding: the first triplet as one Coding', () => {
  assert.deepEqual(coding(field('F^Female^HL70001^W^Woman^99STM'), args(), context()), {
    system: 'http://terminology.hl7.org/CodeSystem/v2-0001',
    code: 'F',
    display: 'Female',
  });
});

test('code(table): the FHIR code of the first component', () => {
  assert.equal(code(field('F'), args({ table: 'hl7-0001' }), context()), 'female');
});

test('code(table): the table id may be passed positionally', () => {
  assert.equal(code(field('M^Male^HL70001'), args({ '0': 'hl7-0001' }), context()), 'male');
});

test('code(table): an unknown code gives nothing; the table reports it', () => {
  const ctx = context({}, 'PID-8');
  assert.equal(code(field('X'), args({ table: 'hl7-0001' }), ctx), undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.table]), [['unknown-code', 'hl7-0001']]);
});

test('code: without a table id the mapping is at fault and an error says so', () => {
  const ctx = context();
  assert.equal(code(field('F'), args(), ctx), undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['missing-required', 'error']]);
});

test('concept(table): the mapped FHIR coding plus the original v2 coding in v2-nnnn', () => {
  assert.deepEqual(concept(field('F^Female'), args({ table: 'hl7-0001' }), context()), {
    coding: [
      { system: 'http://hl7.org/fhir/administrative-gender', code: 'female', display: 'Female' },
      { system: 'http://terminology.hl7.org/CodeSystem/v2-0001', code: 'F', display: 'Female' },
    ],
    text: 'Female',
  });
});

test('concept(table): an unknown code keeps the original v2 coding alone', () => {
  const ctx = context();
  assert.deepEqual(concept(field('X'), args({ table: 'hl7-0001' }), ctx), {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0001', code: 'X' }],
  });
  assert.deepEqual(codes(ctx), ['unknown-code']);
});

test('concept(table): a table that maps to the same system and code lists it once', () => {
  const cc = concept(field('MR'), args({ table: 'hl7-0203' }), context()) as { coding?: unknown[] };
  assert.equal(cc.coding?.length, 1);
});
