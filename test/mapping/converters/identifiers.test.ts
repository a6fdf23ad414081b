import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { args, codes, context, field } from './fake-context.js';

const cx = CONVERTERS['cx']!;
const ei = CONVERTERS['ei']!;
const hd = CONVERTERS['hd']!;

test('CX: an authority listed in the site gives its system, and CX.5 the v2-0203 type', () => {
  const ctx = context();
  assert.deepEqual(cx(field('12345^^^STM_MRN^MR'), args(), ctx), {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
    system: 'https://stmarys.example.org/fhir/sid/mrn',
    value: '12345',
  });
  assert.deepEqual(codes(ctx), []);
});

test('CX: a local type not in table 0203 (MRN) is kept as the type text, and reported by the table', () => {
  const ctx = context();
  const id = cx(field('12345^^^STM_MRN^MRN'), args(), ctx) as { type?: unknown };
  assert.deepEqual(id.type, { text: 'MRN' });
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.table]), [['unknown-code', 'hl7-0203']]);
});

test("CX: the site's authority type applies when CX.5 is empty", () => {
  const id = cx(field('12345^^^STM_MRN'), args(), context()) as { type?: { coding?: { code?: string }[] } };
  assert.equal(id.type?.coding?.[0]?.code, 'MR');
});

test('CX: an authority is found in the site by its universal id too', () => {
  const id = cx(field('77^^^&2.16.840.1.113883.3.999.1&ISO^PI'), args(), context()) as { system?: string };
  assert.equal(id.system, 'urn:oid:2.16.840.1.113883.3.999.1');
});

test('CX: an unlisted ISO universal id becomes urn:oid with no issue', () => {
  const ctx = context();
  const id = cx(field('555^^^OTHER&1.2.840.114350.1.13&ISO^MR'), args(), ctx) as { system?: string };
  assert.equal(id.system, 'urn:oid:1.2.840.114350.1.13');
  assert.deepEqual(codes(ctx), []);
});

test('CX: an unlisted UUID universal id becomes urn:uuid', () => {
  const id = cx(field('9^^^&5D6B1A2C-8E1F-4C3A-9B2D-0A1B2C3D4E5F&UUID'), args(), context()) as { system?: string };
  assert.equal(id.system, 'urn:uuid:5d6b1a2c-8e1f-4c3a-9b2d-0a1b2c3d4e5f');
});

test('CX: an unlisted URI universal id is the system as is', () => {
  const id = cx(field('9^^^&https://example.org/ids&URI'), args(), context()) as { system?: string };
  assert.equal(id.system, 'https://example.org/ids');
});

test("CX: an unknown authority gets the site's unknownAuthoritySystem and a warning naming the authority code", () => {
  const ctx = context({}, 'PID-3[2]');
  const id = cx(field('4455^^^COUNTY HOSP^MR'), args(), ctx) as { system?: string };
  assert.equal(id.system, 'urn:x-v2-aa:st-marys:COUNTY%20HOSP');
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity, i.location]), [['unknown-authority', 'warning', 'PID-3[2].4']]);
  assert.doesNotMatch(ctx.reported[0]?.message ?? '', /4455/);
});

test('CX: with no unknownAuthoritySystem, an unknown authority leaves no system and names the assigner', () => {
  const ctx = context({ unknownAuthoritySystem: null });
  assert.deepEqual(cx(field('4455^^^COUNTY^MR'), args(), ctx), {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
    value: '4455',
    assigner: { display: 'COUNTY' },
  });
  assert.deepEqual(codes(ctx), ['unknown-authority']);
});

test('CX: no authority at all is reported as information and gives no system', () => {
  const ctx = context();
  assert.deepEqual(cx(field('4455'), args(), ctx), { value: '4455' });
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['unknown-authority', 'information']]);
});

test('CX: type argument keeps only identifiers of that type', () => {
  assert.equal(cx(field('123-45-6789^^^SSA^SS'), args({ type: 'MR' }), context()), undefined);
  assert.notEqual(cx(field('12345^^^STM_MRN^MR'), args({ type: 'MR' }), context()), undefined);
});

test('CX: CX.7 and CX.8 become the period, dates kept at day precision', () => {
  const id = cx(field('12345^^^STM_MRN^MR^^20200101^20301231'), args(), context()) as { period?: unknown };
  assert.deepEqual(id.period, { start: '2020-01-01', end: '2030-12-31' });
});

test('CX: the use argument sets Identifier.use', () => {
  const id = cx(field('12345^^^STM_MRN^MR'), args({ use: 'usual' }), context()) as { use?: string };
  assert.equal(id.use, 'usual');
});

test('CX: a check digit in CX.2 becomes the identifier-checkDigit extension', () => {
  const id = cx(field('12345^7^M10^STM_MRN^MR'), args(), context()) as { extension?: unknown };
  assert.deepEqual(id.extension, [{ url: 'http://hl7.org/fhir/StructureDefinition/identifier-checkDigit', valueString: '7' }]);
});

test('CX: an authority but no ID number is reported and gives nothing', () => {
  const ctx = context();
  assert.equal(cx(field('^^^STM_MRN^MR'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('CX: an authority named like an inherited object member is not mistaken for a configured one', () => {
  const ctx = context();
  const id = cx(field('1^^^constructor^MR'), args(), ctx) as { system?: string };
  assert.equal(id.system, 'urn:x-v2-aa:st-marys:constructor');
  assert.deepEqual(codes(ctx), ['unknown-authority']);
});

test('EI: value from EI.1, system from the EI.2 authority like CX, type from the type argument', () => {
  assert.deepEqual(ei(field('ORD-778^STM_MRN'), args({ type: 'PLAC' }), context()), {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
    system: 'https://stmarys.example.org/fhir/sid/mrn',
    value: 'ORD-778',
  });
});

test('EI: an ISO universal id in EI.3/EI.4 becomes urn:oid', () => {
  const id = ei(field('F-991^LAB^2.16.840.1.113883.19.4.6^ISO'), args({ type: 'FILL' }), context()) as { system?: string };
  assert.equal(id.system, 'urn:oid:2.16.840.1.113883.19.4.6');
});

test('HD: an ISO universal id becomes an RFC 3986 identifier', () => {
  assert.deepEqual(hd(field('LAB^1.2.3.4^ISO'), args(), context()), { system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.3.4' });
});

test('HD: a namespace alone is the identifier value', () => {
  assert.deepEqual(hd(field('STMARYS'), args(), context()), { value: 'STMARYS' });
});

test('HD: a universal id of another type keeps that type in v2-0301', () => {
  assert.deepEqual(hd(field('^lab.example.org^DNS'), args(), context()), {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0301', code: 'DNS' }] },
    value: 'lab.example.org',
  });
});
