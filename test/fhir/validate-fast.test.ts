import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { deterministicId, uuidUrn } from '../../src/fhir/index.js';
import { validateBundleFast, validateResourceFast, type FastValidationProblem } from '../../src/fhir/validate-fast.js';

/** Lets a test build deliberately invalid JSON without fighting the FHIR types. */
const asResource = (json: object): Resource => json as Resource;

const at = (problems: readonly FastValidationProblem[], path: string): FastValidationProblem[] => problems.filter((p) => p.path === path);

function put(type: string, key: string, body: object): BundleEntry {
  const id = deterministicId('st-marys', type, key);
  return { fullUrl: uuidUrn(id), resource: asResource({ resourceType: type, id, ...body }), request: { method: 'PUT', url: `${type}/${id}` } };
}

const patientUrl = uuidUrn(deterministicId('st-marys', 'Patient', 'MR|A1'));
const encounterUrl = uuidUrn(deterministicId('st-marys', 'Encounter', 'V1'));

/** An ADT^A01-shaped transaction: Patient, Encounter, a reference-only Practitioner. */
function admission(): Bundle {
  const practitionerId = deterministicId('st-marys', 'Practitioner', '1234|NPI');
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      put('Patient', 'MR|A1', {
        identifier: [{ system: 'urn:oid:1.2.840.1', value: 'A1', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
        name: [{ family: 'Doe', given: ['Jane'] }],
        gender: 'female',
        birthDate: '1980-02-29',
      }),
      put('Encounter', 'V1', {
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
        subject: { reference: patientUrl },
        period: { start: '2024-03-01T10:15:00-05:00' },
        participant: [{ individual: { reference: uuidUrn(practitionerId) } }],
      }),
      {
        fullUrl: uuidUrn(practitionerId),
        resource: { resourceType: 'Practitioner', id: practitionerId, identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '1234' }], name: [{ family: 'House' }] },
        request: { method: 'POST', url: 'Practitioner', ifNoneExist: 'identifier=http://hl7.org/fhir/sid/us-npi|1234' },
      },
    ],
  };
}

const observation = (body: object): Resource => asResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...body });
const only = (problems: readonly FastValidationProblem[]): { path: string; rule: string }[] => problems.map((p) => ({ path: p.path, rule: p.rule }));

test('a well-formed transaction bundle has no problems', () => {
  assert.deepEqual(validateBundleFast(admission()), []);
});

test('an Observation without status and code is missing two required elements', () => {
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Observation' })), [
    { path: 'Observation.status', message: 'Missing required property', rule: 'required' },
    { path: 'Observation.code', message: 'Missing required property', rule: 'required' },
  ]);
});

test('a required choice element is satisfied by any of its types and named with [x] when missing', () => {
  const header = (body: object): Resource => asResource({ resourceType: 'MessageHeader', source: { endpoint: 'urn:x' }, ...body });
  assert.deepEqual(validateResourceFast(header({ eventCoding: { code: 'A01' } })), []);
  assert.deepEqual(only(validateResourceFast(header({}))), [{ path: 'MessageHeader.event[x]', rule: 'required' }]);
});

test('a value of the wrong JSON type is reported at its path', () => {
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Patient', multipleBirthInteger: '2' })), [
    { path: 'Patient.multipleBirthInteger', message: 'Invalid JSON type: expected number, but got string', rule: 'json-type' },
  ]);
});

test('a v2 date left in HL7 form (YYYYMMDD) is not a FHIR date', () => {
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Patient', birthDate: '19800229' })), [{ path: 'Patient.birthDate', message: 'Invalid date format', rule: 'format' }]);
});

test('a dateTime with a time needs a time zone, also inside a choice element', () => {
  assert.deepEqual(validateResourceFast(observation({ effectiveDateTime: '2024-03-01T10:15:00' })), [
    { path: 'Observation.effectiveDateTime', message: 'dateTime with a time but no time zone (R4 requires Z or ±hh:mm)', rule: 'format' },
  ]);
  assert.deepEqual(validateResourceFast(observation({ effectiveDateTime: '2024-03-01T10:15:00-05:00' })), []);
  assert.deepEqual(validateResourceFast(observation({ effectiveDateTime: '2024-03-01T15:15:00Z' })), []);
  assert.deepEqual(validateResourceFast(observation({ effectiveDateTime: '2024-03' })), []);
});

test('R4 formats the medplum validator lets through are refused: an hour without minutes, a zone after a month', () => {
  assert.deepEqual(only(validateResourceFast(observation({ effectiveDateTime: '2024-03-01T10Z' }))), [{ path: 'Observation.effectiveDateTime', rule: 'format' }]);
  assert.deepEqual(only(validateResourceFast(observation({ effectiveDateTime: '2024-03Z' }))), [{ path: 'Observation.effectiveDateTime', rule: 'format' }]);
});

test('instant, time, id, uri, code and the number types keep their R4 formats', () => {
  const problems = validateResourceFast(
    observation({
      issued: '2024-03-01',
      valueTime: '25:00:00',
      id: 'MRN A1/2',
      implicitRules: 'has a space',
      language: ' en',
      component: [{ code: { text: 'a' }, valueInteger: 1.5 }, { code: { text: 'b' }, valueInteger: 3_000_000_000 }],
      referenceRange: [{ text: 'r', age: { low: { value: Number.NaN } } }],
    }),
  );
  const byPath = (a: { path: string }, b: { path: string }): number => a.path.localeCompare(b.path);
  assert.deepEqual(only(problems).sort(byPath), [
    { path: 'Observation.id', rule: 'format' },
    { path: 'Observation.implicitRules', rule: 'format' },
    { path: 'Observation.language', rule: 'format' },
    { path: 'Observation.issued', rule: 'format' },
    { path: 'Observation.valueTime', rule: 'format' },
    { path: 'Observation.referenceRange[0].age.low.value', rule: 'format' },
    { path: 'Observation.component[0].valueInteger', rule: 'format' },
    { path: 'Observation.component[1].valueInteger', rule: 'format' },
  ].sort(byPath));
});

test('a single value where R4 wants an array, and an array where it allows one value, are reported', () => {
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Patient', name: [{ family: 'Doe', given: 'Jane' }], gender: ['female'] })), [
    { path: 'Patient.name[0].given', message: 'Expected array of values for property', rule: 'cardinality' },
    { path: 'Patient.gender', message: 'Expected single value for property', rule: 'cardinality' },
  ]);
});

test('an element R4 does not define is reported as unknown, at any depth', () => {
  assert.deepEqual(only(validateResourceFast(asResource({ resourceType: 'Patient', mrn: 'A1', name: [{ surname: 'Doe' }], contact: [{ name: { family: 'X' }, kin: true }] }))), [
    { path: 'Patient.mrn', rule: 'unknown-element' },
    { path: 'Patient.name[0].surname', rule: 'unknown-element' },
    { path: 'Patient.contact[0].kin', rule: 'unknown-element' },
  ]);
});

test('a choice element suffixed with a type it does not allow is an unknown element', () => {
  assert.deepEqual(only(validateResourceFast(observation({ valueAttachment: { contentType: 'text/plain' } }))), [{ path: 'Observation.valueAttachment', rule: 'unknown-element' }]);
});

test('two types for one choice element are reported', () => {
  assert.deepEqual(validateResourceFast(observation({ valueString: 'a', valueBoolean: true })), [
    { path: 'Observation.valueBoolean', message: 'Several types given for one choice element: value[x]', rule: 'choice' },
  ]);
});

test("a primitive's extension part (_birthDate, _given with nulls lined up) is validated as an Element, and valueString beside _valueString is one choice", () => {
  const ext = [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }];
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Patient', _birthDate: { extension: ext }, name: [{ given: ['A', null], _given: [null, { extension: ext }] }] })), []);
  assert.deepEqual(validateResourceFast(observation({ valueString: 'x', _valueString: { extension: ext } })), []);
  assert.deepEqual(only(validateResourceFast(asResource({ resourceType: 'Patient', name: [{ given: ['A', null] }], _birthDate: { extension: [{ url: 'u' }] } }))), [
    { path: 'Patient.name[0].given[1]', rule: 'null' },
    { path: 'Patient._birthDate.extension[0]', rule: 'ext-1' },
  ]);
});

test('a code outside a required value set is reported with the allowed codes (v2 "M" is not a FHIR gender)', () => {
  assert.deepEqual(validateResourceFast(asResource({ resourceType: 'Patient', gender: 'M' })), [
    { path: 'Patient.gender', message: 'Code not in the required value set (allowed: male, female, other, unknown)', rule: 'binding' },
  ]);
});

test('required bindings are checked inside datatypes and backbone elements too', () => {
  const problems = validateResourceFast(
    observation({
      valueQuantity: { value: 5, comparator: '=' },
      component: [{ code: { text: 'sys' }, valueQuantity: { value: 120, comparator: '<' } }],
      identifier: [{ use: 'primary', value: 'x' }],
    }),
  );
  assert.deepEqual(only(problems).sort((a, b) => a.path.localeCompare(b.path)), [
    { path: 'Observation.identifier[0].use', rule: 'binding' },
    { path: 'Observation.valueQuantity.comparator', rule: 'binding' },
  ]);
});

test('an empty string, array or object, and a null, are not allowed in FHIR JSON', () => {
  assert.deepEqual(only(validateResourceFast(asResource({ resourceType: 'Patient', identifier: [{ value: '' }], telecom: [], maritalStatus: {}, birthDate: null }))), [
    { path: 'Patient.identifier[0].value', rule: 'empty' },
    { path: 'Patient.telecom', rule: 'empty' },
    { path: 'Patient.maritalStatus', rule: 'empty' },
    { path: 'Patient.birthDate', rule: 'null' },
  ]);
});

test('an empty object still names the required elements it lacks', () => {
  assert.deepEqual(only(validateResourceFast(asResource({ resourceType: 'Patient', link: [{}] }))), [
    { path: 'Patient.link[0]', rule: 'empty' },
    { path: 'Patient.link[0].other', rule: 'required' },
    { path: 'Patient.link[0].type', rule: 'required' },
  ]);
});

test('an invariant (ext-1: an extension has a value or extensions) is reported by its key', () => {
  const problems = validateResourceFast(asResource({ resourceType: 'Patient', extension: [{ url: 'http://example.org/x' }] }));
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.path, 'Patient.extension[0]');
  assert.equal(problems[0]?.rule, 'ext-1');
  assert.match(problems[0]?.message ?? '', /^Constraint ext-1 not met/);
});

test("a datatype's own invariants apply wherever it is used (per-1: a period does not end before it starts)", () => {
  const encounter = (period: object): Resource => asResource({ resourceType: 'Encounter', status: 'finished', class: { code: 'IMP' }, period });
  assert.deepEqual(only(validateResourceFast(encounter({ start: '2024-03-02T10:00:00Z', end: '2024-03-01T10:00:00Z' }))), [{ path: 'Encounter.period', rule: 'per-1' }]);
  assert.deepEqual(validateResourceFast(encounter({ start: '2024-03-01T10:00:00Z', end: '2024-03-02T10:00:00Z' })), []);
});

test("a resource's own invariants are checked on every entry (obs-6: no dataAbsentReason beside a value)", () => {
  const bundle = admission();
  bundle.entry!.push(put('Observation', 'o1', { status: 'final', code: { text: 'x' }, valueString: 'a', dataAbsentReason: { text: 'asked' } }));
  assert.deepEqual(only(validateBundleFast(bundle)), [{ path: 'Bundle.entry[3].resource', rule: 'obs-6' }]);
});

test('a profile on an element type adds its rules (sqty-1: a SimpleQuantity has no comparator)', () => {
  const problems = validateResourceFast(observation({ referenceRange: [{ low: { value: 1, comparator: '<' } }] }));
  assert.deepEqual(only(problems), [{ path: 'Observation.referenceRange[0].low', rule: 'sqty-1' }]);
});

test('a reference to a resource type the element does not allow is reported', () => {
  assert.deepEqual(validateResourceFast(observation({ subject: { reference: 'Practitioner/p1' } })), [
    { path: 'Observation.subject', message: 'Reference targets Practitioner; this element allows Patient, Group, Device, Location', rule: 'reference-target' },
  ]);
});

test('a reference that is a bare identifier rather than a literal reference is reported', () => {
  assert.deepEqual(only(validateResourceFast(observation({ subject: { reference: 'A1' } }))), [{ path: 'Observation.subject.reference', rule: 'reference' }]);
});

test('a urn:uuid reference that matches no entry fullUrl breaks the transaction', () => {
  const bundle = admission();
  const encounter = bundle.entry![1]!.resource as unknown as { subject: { reference: string } };
  encounter.subject.reference = 'urn:uuid:00000000-0000-5000-8000-000000000000';
  assert.deepEqual(validateBundleFast(bundle), [
    { path: 'Bundle.entry[1].resource.subject.reference', message: 'urn:uuid reference matches no entry fullUrl in this Bundle', rule: 'reference' },
  ]);
});

test('a urn:uuid reference in upper case is not the lowercase UUID a fullUrl must be', () => {
  const bundle = admission();
  const encounter = bundle.entry![1]!.resource as unknown as { subject: { reference: string } };
  encounter.subject.reference = `urn:uuid:${encounter.subject.reference.slice('urn:uuid:'.length).toUpperCase()}`;
  assert.deepEqual(only(validateBundleFast(bundle)), [{ path: 'Bundle.entry[1].resource.subject.reference', rule: 'reference' }]);
});

test('a urn:uuid reference is judged by the type of the entry it resolves to', () => {
  const bundle = admission();
  const encounter = bundle.entry![1]!.resource as unknown as { subject: { reference: string } };
  encounter.subject.reference = encounterUrl;
  assert.deepEqual(validateBundleFast(bundle), [
    { path: 'Bundle.entry[1].resource.subject', message: 'Reference targets Encounter; this element allows Patient, Group', rule: 'reference-target' },
  ]);
});

test('every transaction entry needs a fullUrl and a request', () => {
  const bundle = admission();
  delete bundle.entry![0]!.fullUrl;
  delete bundle.entry![2]!.request;
  const problems = validateBundleFast(bundle);
  assert.deepEqual(only(at(problems, 'Bundle.entry[0].fullUrl')), [{ path: 'Bundle.entry[0].fullUrl', rule: 'transaction' }]);
  assert.deepEqual(only(at(problems, 'Bundle.entry[2].request')), [{ path: 'Bundle.entry[2].request', rule: 'transaction' }]);
  // The Encounter's subject pointed at the fullUrl that is gone.
  assert.equal(at(problems, 'Bundle.entry[1].resource.subject.reference').length, 1);
});

test('a fullUrl used twice, or a urn:uuid that is not a lowercase UUID, is reported', () => {
  const bundle = admission();
  bundle.entry![1]!.fullUrl = bundle.entry![0]!.fullUrl!;
  bundle.entry![2]!.fullUrl = bundle.entry![2]!.fullUrl!.toUpperCase().replace('URN:UUID:', 'urn:uuid:');
  const problems = validateBundleFast(bundle);
  assert.deepEqual(only(problems.filter((p) => p.path.endsWith('fullUrl'))), [
    { path: 'Bundle.entry[1].fullUrl', rule: 'transaction' },
    { path: 'Bundle.entry[2].fullUrl', rule: 'transaction' },
  ]);
});

test('a request without method or url is missing required elements', () => {
  const bundle = admission();
  bundle.entry![0]!.request = { url: 'Patient/x' } as BundleEntry['request'];
  assert.deepEqual(only(at(validateBundleFast(bundle), 'Bundle.entry[0].request.method')), [{ path: 'Bundle.entry[0].request.method', rule: 'required' }]);
});

test('a PUT whose url names another id or type than the resource is reported', () => {
  const bundle = admission();
  bundle.entry![0]!.request = { method: 'PUT', url: 'Patient/someone-else' };
  bundle.entry![1]!.request = { method: 'PUT', url: `Patient/${bundle.entry![1]!.resource!.id}` };
  assert.deepEqual(validateBundleFast(bundle), [
    { path: 'Bundle.entry[0].request.url', message: 'PUT Type/id: the resource id differs from the id in the url (or is missing)', rule: 'transaction' },
    { path: 'Bundle.entry[1].request.url', message: "request.url does not address the entry's Encounter", rule: 'transaction' },
  ]);
});

test('two entries updating the same url in one transaction are reported', () => {
  const bundle = admission();
  const again = structuredClone(bundle.entry![0]!);
  again.fullUrl = 'urn:uuid:11111111-1111-5111-8111-111111111111';
  bundle.entry!.push(again);
  assert.deepEqual(only(validateBundleFast(bundle)), [{ path: 'Bundle.entry[3].request.url', rule: 'transaction' }]);
});

test('ifNoneExist belongs to a conditional create (POST) only', () => {
  const bundle = admission();
  bundle.entry![0]!.request!.ifNoneExist = 'identifier=urn:oid:1.2.840.1|A1';
  assert.deepEqual(only(validateBundleFast(bundle)), [{ path: 'Bundle.entry[0].request.ifNoneExist', rule: 'transaction' }]);
});

test('a bundle that is not a transaction is not engine output (and its entries may not carry requests: bdl-3)', () => {
  assert.deepEqual(only(validateBundleFast({ ...admission(), type: 'collection' } as Bundle)), [
    { path: 'Bundle.type', rule: 'transaction' },
    { path: 'Bundle', rule: 'bdl-3' },
  ]);
});

test('an entry of an unknown resource type is reported and the other entries are still validated', () => {
  const bundle = admission();
  bundle.entry!.push({ fullUrl: 'urn:uuid:21111111-1111-5111-8111-111111111111', resource: asResource({ resourceType: 'Visit' }), request: { method: 'POST', url: 'Visit' } });
  (bundle.entry![0]!.resource as unknown as { gender: string }).gender = 'F';
  assert.deepEqual(only(validateBundleFast(bundle)), [
    { path: 'Bundle.entry[0].resource.gender', rule: 'binding' },
    { path: 'Bundle.entry[3].resource.resourceType', rule: 'resource-type' },
  ]);
});

test('problems never repeat values from the resource (no PHI in paths or messages)', () => {
  const secrets = ['SMITH', '0001234567', 'JOHN'];
  const bundle = admission();
  bundle.entry!.push(
    put('Observation', 'o1', {
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Practitioner?identifier=urn:oid:1|0001234567' },
      performer: [{ reference: 'SMITH JOHN' }],
      effectiveDateTime: 'SMITH',
      valueString: 'JOHN',
      valueQuantity: { value: 'SMITH' },
      issued: '0001234567',
      SMITH: 'x',
    }),
  );
  const problems = validateBundleFast(bundle);
  assert.ok(problems.length >= 5, `expected several problems, got ${problems.length}`);
  // An unknown element is named by its key, which is the analyst's, not the patient's.
  for (const p of problems.filter((x) => x.rule !== 'unknown-element')) {
    for (const s of secrets) assert.ok(!`${p.path} ${p.message}`.includes(s), `problem at ${p.path} repeats a value`);
  }
});
