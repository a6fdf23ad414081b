import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONVERTERS, OBSERVATION_VALUE_ATTACHMENT } from '../../../src/mapping/converters/index.js';
import { args, codes, context, field } from './fake-context.js';

const obxValue = CONVERTERS['obxValue']!;
const quantity = CONVERTERS['quantity']!;
const sn = CONVERTERS['sn']!;
const nm = CONVERTERS['nm']!;

const ORIGINAL_TEXT = 'http://hl7.org/fhir/StructureDefinition/originalText';

test('nm: a v2 number becomes a JSON number', () => {
  assert.equal(nm(field('-0.50'), args(), context()), -0.5);
});

test('nm: text that is not a number is an invalid-value issue and nothing', () => {
  const ctx = context();
  assert.equal(nm(field('1,5'), args(), ctx), undefined);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('quantity: NM with UCUM units gets unit, system and code', () => {
  assert.deepEqual(quantity(field('5.4'), args({ units: field('mmol/L^millimole per liter^UCUM') }), context()), {
    value: 5.4,
    unit: 'millimole per liter',
    system: 'http://unitsofmeasure.org',
    code: 'mmol/L',
  });
});

test('quantity: a unit with no coding system that is plainly UCUM gets the UCUM system', () => {
  assert.deepEqual(quantity(field('98'), args({ units: field('mg/dL') }), context()), {
    value: 98,
    unit: 'mg/dL',
    system: 'http://unitsofmeasure.org',
    code: 'mg/dL',
  });
});

test('quantity: a unit that only looks like UCUM (K/uL) keeps the unit text and no code', () => {
  assert.deepEqual(quantity(field('7.2'), args({ units: field('K/uL') }), context()), { value: 7.2, unit: 'K/uL' });
});

test('sn: a comparator and a number is a Quantity with that comparator', () => {
  assert.deepEqual(sn(field('<^5'), args(), context()), { value: 5, comparator: '<' });
});

test('sn: "^1^-^2" is a Range with the original text', () => {
  assert.deepEqual(sn(field('^1^-^2'), args(), context()), {
    extension: [{ url: ORIGINAL_TEXT, valueString: '1 - 2' }],
    low: { value: 1 },
    high: { value: 2 },
  });
});

test('sn: "^1^:^128" is a Ratio', () => {
  assert.deepEqual(sn(field('^1^:^128'), args(), context()), {
    extension: [{ url: ORIGINAL_TEXT, valueString: '1 : 128' }],
    numerator: { value: 1 },
    denominator: { value: 128 },
  });
});

test('sn: plain text "1-2" with no components is read as a Range, with an information issue', () => {
  const ctx = context();
  const r = sn(field('1-2'), args(), ctx) as { low?: unknown; high?: unknown };
  assert.deepEqual([r.low, r.high], [{ value: 1 }, { value: 2 }]);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['invalid-value', 'information']]);
});

test('sn: plain text ">=10" is a Quantity with comparator >=', () => {
  assert.deepEqual(sn(field('>=10'), args(), context()), { value: 10, comparator: '>=' });
});

test('obxValue NM: valueQuantity with the OBX-6 units', () => {
  const ctx = context({}, 'OBX-5');
  assert.deepEqual(obxValue(field('142'), args({ type: field('NM'), units: field('mmol/L^^UCUM') }), ctx), {
    valueQuantity: { value: 142, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
  });
  assert.deepEqual(codes(ctx), []);
});

test('obxValue NM: ">60" under NM is read as a comparator quantity with an information issue', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('>60'), args({ type: 'NM', units: field('mL/min') }), ctx), {
    valueQuantity: { value: 60, comparator: '>', unit: 'mL/min', system: 'http://unitsofmeasure.org', code: 'mL/min' },
  });
  assert.ok(codes(ctx).includes('invalid-value'));
});

test('obxValue NM: non-numeric text is kept as valueString with a warning', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('see note'), args({ type: 'NM' }), ctx), { valueString: 'see note' });
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['invalid-value', 'warning']]);
});

test('obxValue SN: a range is valueRange with units on both ends', () => {
  assert.deepEqual(obxValue(field('^2^-^4'), args({ type: 'SN', units: field('/[HPF]^per high power field^UCUM') }), context()), {
    valueRange: {
      extension: [{ url: ORIGINAL_TEXT, valueString: '2 - 4' }],
      low: { value: 2, unit: 'per high power field', system: 'http://unitsofmeasure.org', code: '/[HPF]' },
      high: { value: 4, unit: 'per high power field', system: 'http://unitsofmeasure.org', code: '/[HPF]' },
    },
  });
});

test('obxValue SN: a ratio is valueRatio', () => {
  const v = obxValue(field('^1^/^64'), args({ type: 'SN' }), context()) as { valueRatio?: { denominator?: unknown } };
  assert.deepEqual(v.valueRatio?.denominator, { value: 64 });
});

test('obxValue SN: "<>" and "+" forms are valueString as the IG says', () => {
  assert.deepEqual(obxValue(field('<>^5'), args({ type: 'SN' }), context()), { valueString: '<> 5' });
  assert.deepEqual(obxValue(field('^2^+'), args({ type: 'SN' }), context()), { valueString: '2 +' });
});

test('obxValue SN: comparator and number is valueQuantity', () => {
  assert.deepEqual(obxValue(field('<^0.01'), args({ type: 'SN', units: field('ng/mL') }), context()), {
    valueQuantity: { value: 0.01, comparator: '<', unit: 'ng/mL', system: 'http://unitsofmeasure.org', code: 'ng/mL' },
  });
});

test('obxValue NR: valueRange from low and high', () => {
  assert.deepEqual(obxValue(field('3.5^5.0'), args({ type: 'NR' }), context()), { valueRange: { low: { value: 3.5 }, high: { value: 5 } } });
});

test('obxValue ST and TX: valueString with escapes undone', () => {
  assert.deepEqual(obxValue(field('Hemolyzed \\T\\ lipemic'), args({ type: 'ST' }), context()), { valueString: 'Hemolyzed & lipemic' });
  assert.deepEqual(obxValue(field('line one\\.br\\line two'), args({ type: 'TX' }), context()), { valueString: 'line one\nline two' });
});

test('obxValue FT: formatting commands are rendered as plain text', () => {
  assert.deepEqual(obxValue(field('IMPRESSION:\\.br\\\\.in2\\No acute findings.\\.sp\\Signed'), args({ type: 'FT' }), context()), {
    valueString: 'IMPRESSION:\n  No acute findings.\n\nSigned',
  });
});

test('obxValue CWE: valueCodeableConcept', () => {
  assert.deepEqual(obxValue(field('260373001^Detected^SCT'), args({ type: 'CWE' }), context()), {
    valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' }], text: 'Detected' },
  });
});

test('obxValue CE: valueCodeableConcept like CWE', () => {
  assert.ok('valueCodeableConcept' in (obxValue(field('POS^Positive^L'), args({ type: 'CE' }), context()) as object));
});

test('obxValue IS: valueCodeableConcept with the code alone (IG IS[CodeableConcept])', () => {
  assert.deepEqual(obxValue(field('Y'), args({ type: 'IS' }), context()), { valueCodeableConcept: { coding: [{ code: 'Y' }] } });
});

test('obxValue DT: valueDateTime at date precision', () => {
  assert.deepEqual(obxValue(field('20260115'), args({ type: 'DT' }), context()), { valueDateTime: '2026-01-15' });
});

test('obxValue DTM: valueDateTime with the site offset', () => {
  assert.deepEqual(obxValue(field('20260115143000'), args({ type: 'DTM' }), context()), { valueDateTime: '2026-01-15T14:30:00-06:00' });
});

test('obxValue TM: valueTime', () => {
  assert.deepEqual(obxValue(field('143000'), args({ type: 'TM' }), context()), { valueTime: '14:30:00' });
});

test('obxValue TM: a fraction of a second is kept as sent (FHIR time allows one)', () => {
  assert.deepEqual(obxValue(field('223100.0000'), args({ type: 'TM' }), context()), { valueTime: '22:31:00.0000' });
  assert.deepEqual(obxValue(field('080000.5'), args({ type: 'TM' }), context()), { valueTime: '08:00:00.5' });
});

test('obxValue ED Base64: the IG valueAttachment extension with contentType from ED.2/ED.3 and the data as sent', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('LAB^AP^PDF^Base64^JVBERi0xLjQK'), args({ type: 'ED' }), ctx), {
    extension: [{ url: OBSERVATION_VALUE_ATTACHMENT, valueAttachment: { contentType: 'application/pdf', data: 'JVBERi0xLjQK' } }],
  });
  assert.deepEqual(codes(ctx), []);
});

test('obxValue ED as ASCII text: the data is the base64 of the text', () => {
  const v = obxValue(field('^TEXT^plain^A^Hello'), args({ type: 'ED' }), context()) as { extension?: { valueAttachment?: unknown }[] };
  assert.deepEqual(v.extension?.[0]?.valueAttachment, { contentType: 'text/plain', data: Buffer.from('Hello').toString('base64') });
});

test('obxValue ED as Hex: the bytes are re-encoded as base64', () => {
  const v = obxValue(field('^AP^octet-stream^Hex^48656C6C6F'), args({ type: 'ED' }), context()) as { extension?: { valueAttachment?: { data?: string } }[] };
  assert.equal(v.extension?.[0]?.valueAttachment?.data, 'SGVsbG8=');
});

test('obxValue ED: data declared Base64 that is not base64 is reported and left out', () => {
  const ctx = context({}, 'OBX-5');
  assert.equal(obxValue(field('^AP^PDF^Base64^not base64!'), args({ type: 'ED' }), ctx), undefined);
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.location]), [['invalid-value', 'OBX-5.5']]);
});

test('obxValue: an unmapped value type keeps the value as valueString with a warning', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('abc'), args({ type: 'XX' }), ctx), { valueString: 'abc' });
  assert.deepEqual(ctx.reported.map((i) => [i.code, i.severity]), [['invalid-value', 'warning']]);
});

test('obxValue: no value type (empty OBX-2) keeps the value as valueString with a warning', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('abc'), args({}), ctx), { valueString: 'abc' });
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('obxValue: an empty OBX-5 is nothing and no issue', () => {
  const ctx = context();
  assert.equal(obxValue(field(''), args({ type: 'NM' }), ctx), undefined);
  assert.deepEqual(codes(ctx), []);
});

test('obxValue RP: the IG valueAttachment extension pointing at the reference, MIME type from RP.3/RP.4', () => {
  assert.deepEqual(obxValue(field('https://pacs.example.org/studies/42^PACS^IM^JPEG'), args({ type: 'RP' }), context()), {
    extension: [{ url: OBSERVATION_VALUE_ATTACHMENT, valueAttachment: { contentType: 'image/jpeg', url: 'https://pacs.example.org/studies/42' } }],
  });
});

test('obxValue CX, XPN, XAD: no FHIR value type, so the IG catch-all string of their parts, no issue', () => {
  const ctx = context();
  assert.deepEqual(obxValue(field('4455^^^CITY HOSP&2.16.840.1.1&ISO^MR'), args({ type: 'CX' }), ctx), { valueString: '4455 CITY HOSP 2.16.840.1.1 ISO MR' });
  assert.deepEqual(obxValue(field('RIVERA^ANA^M'), args({ type: 'XPN' }), ctx), { valueString: 'RIVERA ANA M' });
  assert.deepEqual(obxValue(field('12 Elm St^^Springfield^IL^62701'), args({ type: 'XAD' }), ctx), { valueString: '12 Elm St Springfield IL 62701' });
  assert.deepEqual(codes(ctx), []);
});

test('sn: a range with an unreadable comparator is still a Range (IG: by the separator), with a warning', () => {
  const ctx = context();
  const r = sn(field('-^1^-^3'), args(), ctx) as { low?: { value: number }; high?: { value: number } };
  assert.equal(r.low?.value, 1);
  assert.equal(r.high?.value, 3);
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

test('sn: a quantity with an unreadable comparator stays text: the comparator would change its meaning', () => {
  const ctx = context();
  assert.equal(sn(field('~^5'), args(), ctx), '~ 5');
  assert.deepEqual(codes(ctx), ['invalid-value']);
});

const docAttachment = CONVERTERS['docAttachment']!;

test('docAttachment: TX text as base64 text/plain; FT rendered first', () => {
  assert.deepEqual(docAttachment(field('Plan: rest'), args({ type: 'TX' }), context()), {
    contentType: 'text/plain',
    data: Buffer.from('Plan: rest').toString('base64'),
  });
  assert.deepEqual(docAttachment(field('Line 1\\.br\\Line 2'), args({ type: 'FT' }), context()), {
    contentType: 'text/plain',
    data: Buffer.from('Line 1\nLine 2').toString('base64'),
  });
});

test('docAttachment: an ED is its attachment even when OBX-2 of the first OBX said TX', () => {
  assert.deepEqual(docAttachment(field('^AP^PDF^Base64^JVBERi0='), args({ type: 'TX' }), context()), {
    contentType: 'application/pdf',
    data: 'JVBERi0=',
  });
});

test('docAttachment: an "ED" without data is the text it is; RP is a pointer', () => {
  assert.deepEqual(docAttachment(field('see chart'), args({ type: 'ED' }), context()), {
    contentType: 'text/plain',
    data: Buffer.from('see chart').toString('base64'),
  });
  assert.deepEqual(docAttachment(field('https://docs.example.org/42^DMS^AP^PDF'), args({ type: 'RP' }), context()), {
    contentType: 'application/pdf',
    url: 'https://docs.example.org/42',
  });
});
