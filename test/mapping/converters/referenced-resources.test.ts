import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CONVERTERS } from '../../../src/mapping/converters/index.js';
import { isResourceRef, type ResourceRef } from '../../../src/mapping/resource-ref.js';
import { args, codes, context, field } from './fake-context.js';

const xcn = CONVERTERS['xcn']!;
const pl = CONVERTERS['pl']!;
const xon = CONVERTERS['xon']!;
const cnn = CONVERTERS['cnn']!;

function ref(x: unknown): ResourceRef {
  assert.ok(isResourceRef(x), 'expected a ResourceRef');
  return x;
}

test('XCN: a Practitioner with identifier (authority from XCN.9), name and degree, keyed and queried by system|value', () => {
  const ctx = context({}, 'PV1-7');
  const r = ref(xcn(field('1234567890^SMITH^JOHN^Q^III^DR^MD^^STM_MRN&&^L^^^NPI'), args(), ctx));
  assert.deepEqual(r.resource, {
    resourceType: 'Practitioner',
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NPI' }] },
        system: 'https://stmarys.example.org/fhir/sid/mrn',
        value: '1234567890',
      },
    ],
    name: [{ use: 'official', family: 'SMITH', given: ['JOHN', 'Q'], prefix: ['DR'], suffix: ['III'] }],
    qualification: [{ code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'MD' }] } }],
  });
  assert.equal(r.key, 'Practitioner|https://stmarys.example.org/fhir/sid/mrn|1234567890|SMITH|JOHN|Q');
  assert.equal(r.identifierQuery, 'https://stmarys.example.org/fhir/sid/mrn|1234567890');
});

test('XCN: without an ID the Practitioner is keyed by name and reports identity-fallback', () => {
  const ctx = context();
  const r = ref(xcn(field('^JONES^MARY'), args(), ctx));
  assert.equal(r.key, 'Practitioner|name|JONES|MARY');
  assert.equal(r.identifierQuery, undefined);
  assert.deepEqual(codes(ctx), ['identity-fallback']);
  assert.doesNotMatch(ctx.reported[0]?.message ?? '', /JONES/);
});

test('XCN: the same person in two messages gets the same key, whatever the case of the name', () => {
  const a = ref(xcn(field('77^DOE^JANE^^^^^^STM_MRN'), args(), context()));
  const b = ref(xcn(field('77^Doe^Jane^^^^^^STM_MRN'), args(), context()));
  assert.equal(a.key, b.key);
});

test('XCN: two names under one identifier stay two bundle entries that the server matches by the same identifier', () => {
  // Senders that fill XCN.1 with a placeholder ("1") send different people under it; the names
  // are kept as sent, and ifNoneExist still resolves both to one record on the server.
  const a = ref(xcn(field('1^ORDERING^LUDWIG^^^^^^STM_MRN'), args(), context()));
  const b = ref(xcn(field('1^ENTERED^LUDWIG^^^^^^STM_MRN'), args(), context()));
  assert.notEqual(a.key, b.key);
  assert.equal(a.identifierQuery, b.identifierQuery);
});

test('CNN (inside NDL): ID, name with the degree as a suffix, authority from CNN.9-11', () => {
  const ctx = context();
  const r = ref(cnn(field('123&DOE&JOHN&Q&JR&DR&MD&&&2.16.840.1.113883.4.6&ISO').part(1), args(), ctx));
  assert.deepEqual(r.resource, {
    resourceType: 'Practitioner',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.4.6', value: '123' }],
    name: [{ family: 'DOE', given: ['JOHN', 'Q'], prefix: ['DR'], suffix: ['JR', 'MD'] }],
  });
  assert.equal(r.identifierQuery, 'urn:oid:2.16.840.1.113883.4.6|123');
});

test('practitionerName: the XCN name alone as a HumanName', () => {
  assert.deepEqual(CONVERTERS['practitionerName']!(field('1^WELBY^MARCUS^^^DR'), args(), context()), {
    family: 'WELBY',
    given: ['MARCUS'],
    prefix: ['DR'],
  });
});

test('PL: one Location for the most specific level sent (bed), named by the whole path', () => {
  const r = ref(pl(field('4WEST^412^B^STM^^^MAIN^4'), args(), context()));
  assert.deepEqual(r.resource, {
    resourceType: 'Location',
    name: '4WEST 412 B',
    mode: 'instance',
    physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: 'bd', display: 'Bed' }] },
  });
  assert.equal(r.key, 'Location|STM|MAIN|4|4WEST|412|B|');
});

test('PL: bed B of two different rooms are two Locations', () => {
  assert.notEqual(ref(pl(field('4WEST^412^B'), args(), context())).key, ref(pl(field('4WEST^413^B'), args(), context())).key);
});

test('PL: a point of care alone is a ward; the description is kept', () => {
  const r = ref(pl(field('ER^^^STM^^^^^Emergency department'), args(), context()));
  assert.equal((r.resource as { physicalType?: { coding?: { code?: string }[] } }).physicalType?.coding?.[0]?.code, 'wa');
  assert.equal((r.resource as { description?: string }).description, 'Emergency department');
});

test('PL: the comprehensive identifier PL.10 is the identifier and the ifNoneExist query', () => {
  const r = ref(pl(field('4WEST^412^B^^^^^^^LOC-991&STM_MRN'), args(), context()));
  assert.equal(r.identifierQuery, 'https://stmarys.example.org/fhir/sid/mrn|LOC-991');
});

test('XON: an Organization with name and identifier from XON.10 and the XON.6 authority', () => {
  const r = ref(xon(field('Good Health Hospital^L^^^^2.16.840.1.113883.3.999.1&2.16.840.1.113883.3.999.1&ISO^XX^^^GHH-1'), args(), context()));
  assert.deepEqual(r.resource, {
    resourceType: 'Organization',
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'XX' }] },
        system: 'urn:oid:2.16.840.1.113883.3.999.1',
        value: 'GHH-1',
      },
    ],
    name: 'Good Health Hospital',
  });
  assert.equal(r.identifierQuery, 'urn:oid:2.16.840.1.113883.3.999.1|GHH-1');
});

test('XON: a name alone is keyed by name with identity-fallback', () => {
  const ctx = context();
  assert.equal(ref(xon(field('Acme Labs'), args(), ctx)).key, 'Organization|name|Acme Labs');
  assert.deepEqual(codes(ctx), ['identity-fallback']);
});

test('hdOrganization: an HD with an ISO universal id is an Organization queried by its OID', () => {
  const r = ref(CONVERTERS['hdOrganization']!(field('STMARYS^1.2.3.4.5^ISO'), args(), context()));
  assert.deepEqual(r.resource, {
    resourceType: 'Organization',
    identifier: [
      { value: 'STMARYS' },
      { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0301', code: 'ISO' }] }, system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.2.3.4.5' },
    ],
  });
  assert.equal(r.identifierQuery, 'urn:ietf:rfc:3986|urn:oid:1.2.3.4.5');
});

test('isResourceRef tells a marker from FHIR JSON', () => {
  assert.equal(isResourceRef({ reference: 'Practitioner/1' }), false);
  assert.equal(isResourceRef(null), false);
  assert.equal(isResourceRef({ $ref: true, key: 'k', resource: { resourceType: 'Location' } }), true);
});

test('every converter returns (never throws) on arbitrary field text, and reports issues without the text', () => {
  const alphabet = fc.constantFrom('^', '&', '~', '\\', '1', '2', '0', '9', 'A', 'Z', '.', '-', '+', '<', '>', ':', '/', ' ', '"', 'é');
  const raw = fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''));
  fc.assert(
    fc.property(raw, fc.constantFrom(...Object.keys(CONVERTERS)), fc.constantFrom('NM', 'SN', 'ED', 'CWE', 'DTM', 'FT', 'XX'), (text, name, type) => {
      const ctx = context({}, 'OBX-5');
      const converter = CONVERTERS[name]!;
      converter(field(text), args({ type, units: field(text), table: 'hl7-0001' }), ctx);
      for (const issue of ctx.reported) {
        if (text.length >= 6) assert.ok(!issue.message.includes(text), `${name} put the value into an issue message`);
      }
    }),
    { numRuns: 3000 },
  );
});
