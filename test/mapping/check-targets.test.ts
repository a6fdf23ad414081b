/**
 * A mapping that builds something FHIR R4 does not define refuses to load, naming file:line:col
 * and what is wrong, before any message is converted.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMappingSet, MappingLoadError } from '../../src/mapping/index.js';
import { REPO_DIR } from '../support/repo.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes a mapping set (messages/<name>.yaml, optional common.yaml) and returns its load errors as "file:line:col: text (rule)" with the folder left out. */
function loadErrors(messages: Readonly<Record<string, string>>, common?: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'check-targets-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'messages'));
  mkdirSync(join(dir, 'tables'));
  for (const [name, yaml] of Object.entries(messages)) writeFileSync(join(dir, 'messages', `${name}.yaml`), yaml);
  if (common !== undefined) writeFileSync(join(dir, 'common.yaml'), common);
  try {
    loadMappingSet(dir);
    return [];
  } catch (err) {
    if (!(err instanceof MappingLoadError)) throw err;
    return err.errors.map((e) => e.message.replace(`${dir}/`, ''));
  }
}

/** One message mapping with a Patient whose map is `map` (indented by six spaces). */
const patient = (map: string, extra = ''): Record<string, string> => ({
  m: `id: m
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    from: PID
${extra}    map:
${map}`,
});

test('the default mapping set passes the check', () => {
  assert.doesNotThrow(() => loadMappingSet(join(REPO_DIR, 'mappings/default')));
  assert.doesNotThrow(() => loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital'));
});

test('a misspelt element is a load error at its key, with the nearest name', () => {
  assert.deepEqual(loadErrors(patient('      gendr: "PID-8 | code(hl7-0001)"\n')), ['messages/m.yaml:8:7: Patient has no element "gendr" (did you mean "gender"?) (fhir-element)']);
});

test('elements are checked inside datatypes (period.start) and backbone elements (contact.name)', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      contact:
        - relationship: ["NK1-3 | cwe"]
          nmae: "NK1-2 | xpn"
          period:
            strat: "NK1-8 | date"
`),
    ),
    ['messages/m.yaml:10:11: Patient.contact has no element "nmae" (did you mean "name"?) (fhir-element)', 'messages/m.yaml:12:13: Patient.contact.period has no element "strat" (did you mean "start"?) (fhir-element)'],
  );
});

test('a dotted path may not reach through a repeating element or into a primitive', () => {
  assert.deepEqual(loadErrors(patient('      name.family: "PID-5.1"\n      birthDate.year: "PID-7"\n')), [
    'messages/m.yaml:8:7: Patient.name repeats (0..*): "name.family" cannot reach through it; build it as a list of objects (fhir-cardinality)',
    'messages/m.yaml:9:7: Patient.birthDate is a date: "birthDate.year" reaches inside a primitive (fhir-element)',
  ]);
});

test('_name reaches the id and extensions of a primitive (FHIR JSON _birthDate), and only of an element that exists', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      _birthDate:
        extension:
          - url: { $const: "http://hl7.org/fhir/StructureDefinition/patient-birthTime" }
            valueDateTime: "PID-7 | ts"
      _birthDat:
        extension: []
`),
    ),
    ['messages/m.yaml:12:7: Patient has no element "_birthDat" (did you mean "birthDate"?) (fhir-element)'],
  );
});

test('a YAML list into an element that takes one value is a load error', () => {
  assert.deepEqual(loadErrors(patient('      birthDate: ["PID-7 | date"]\n')), ['messages/m.yaml:8:7: Patient.birthDate takes one value (0..1) but a YAML list gives a list (fhir-cardinality)']);
});

test('$refs and $forEach are lists too: neither goes into a 0..1 element', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      managingOrganization: { $refs: org }
      maritalStatus:
        $forEach: "PID-16[*]"
        text: "@"
`),
    ),
    [
      'messages/m.yaml:8:7: Patient.managingOrganization takes one value (0..1) but $refs gives a list (fhir-cardinality)',
      'messages/m.yaml:9:7: Patient.maritalStatus takes one value (0..1) but $forEach gives a list (fhir-cardinality)',
    ],
  );
});

test('a single rule into a repeating element is a load error: FHIR JSON wants an array there', () => {
  assert.deepEqual(loadErrors(patient('      name: "PID-5 | xpn"\n')), ['messages/m.yaml:8:7: Patient.name repeats (0..*): write its rule as a YAML list ([ … ]) so it gives an array (fhir-cardinality)']);
});

test('$ref goes into a Reference element, to a resource of the mapping whose type the element allows', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      gender: { $ref: patient }
      managingOrganization: { $ref: patient }
      generalPractitioner: [{ $refs: doctor }]
`),
    ),
    [
      'messages/m.yaml:8:7: $ref goes into Patient.gender, which is a code, not a Reference (fhir-reference)',
      'messages/m.yaml:9:7: $ref: patient is of type Patient, but Patient.managingOrganization allows Reference(Organization) (fhir-reference)',
      'messages/m.yaml:10:7: $refs: no resource named "doctor" in mapping m (resources: patient) (fhir-reference)',
    ],
  );
});

test('a $const must be a valid value of its element: JSON type, required codes, known keys', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      active: { $const: "yes" }
      gender: { $const: M }
      maritalStatus: { $const: { codding: [{ code: M }] } }
      birthDate: { $const: "19800229" }
`),
    ),
    [
      'messages/m.yaml:8:7: $const for Patient.active: Invalid JSON type: expected boolean, but got string (fhir-const)',
      'messages/m.yaml:9:7: $const for Patient.gender: Code not in the required value set (allowed: male, female, other, unknown) (fhir-const)',
      'messages/m.yaml:10:7: $const for Patient.maritalStatus at Patient.maritalStatus.codding: Unknown element (not in the R4 definition of its parent) (fhir-const)',
      'messages/m.yaml:11:7: $const for Patient.birthDate: Invalid date format (fhir-const)',
    ],
  );
});

test('a choice element is named with its type or with [x]; [x] only on a choice element', () => {
  assert.deepEqual(
    loadErrors(
      patient(`      deceased: "PID-29 | ts"
      gender[x]: "PID-8 | code(hl7-0001)"
      value[x]: "PID-8 | code(hl7-0001)"
      deceasedDateTime: "PID-29 | ts"
      multipleBirth[x]: "PID-25 | nm"
`),
    ),
    [
      'messages/m.yaml:8:7: Patient.deceased[x] is a choice element: name the type (deceasedBoolean, deceasedDateTime) or write "deceased[x]" with a converter that names it (fhir-choice)',
      'messages/m.yaml:9:7: Patient.gender is not a choice element: write "gender" without [x] (fhir-choice)',
      'messages/m.yaml:10:7: Patient has no element "value[x]" (fhir-element)',
    ],
  );
});

test('text read straight from a v2 field does not go into a datatype', () => {
  assert.deepEqual(loadErrors(patient('      maritalStatus: "PID-16"\n')), [
    'messages/m.yaml:8:7: Patient.maritalStatus is a CodeableConcept, but "PID-16" gives text: convert it (e.g. "PID-16 | cwe") or build the object (fhir-type)',
  ]);
});

test('an object of elements does not go into a primitive', () => {
  assert.deepEqual(loadErrors(patient('      gender:\n        code: "PID-8"\n')), ['messages/m.yaml:8:7: Patient.gender is a code: it takes a value, not an object of elements (fhir-type)']);
});

test('an object that never sets a required element of its type is a load error', () => {
  assert.deepEqual(loadErrors(patient('      link:\n        - type: { $const: seealso }\n')), ['messages/m.yaml:8:7: Patient.link.other is required (1..1) but this object never sets it (fhir-required)']);
});

const encounter = (map: string, required = ''): Record<string, string> => ({
  m: `id: m
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    from: PID
  - name: encounter
    type: Encounter
    from: PV1
${required}    map:
      class: { $const: { system: "http://terminology.hl7.org/CodeSystem/v3-ActCode", code: IMP } }
${map}`,
});

test('a required element whose rule depends on the message needs a constant fallback or a required: entry', () => {
  assert.deepEqual(loadErrors(encounter('      status: "PV1-2 | code(hl7-0004-status)"\n')), [
    'messages/m.yaml:12:7: Encounter.status is required (1..1) but its rule yields nothing for some messages; end it with a constant ($first: [ …, { $const: … } ]) or add "status" to the resource\'s required: list so such a message is reported (resource "encounter") (fhir-required)',
  ]);
  assert.deepEqual(loadErrors(encounter('      status: "PV1-2 | code(hl7-0004-status)"\n', '    required: [status]\n')), []);
  assert.deepEqual(loadErrors(encounter('      status:\n        $first: ["PV1-2 | code(hl7-0004-status)", { $const: unknown }]\n')), []);
  // A $when makes even a constant conditional.
  assert.equal(loadErrors(encounter('      status: { $const: finished, $when: "present(PV1-45)" }\n')).length, 1);
});

test('a required element no entry sets is a load error, listed in required: or not', () => {
  assert.deepEqual(loadErrors(encounter('', '    required: [status]\n')), ['messages/m.yaml:7:5: Encounter.status is required (1..1) but no map entry sets it (resource "encounter") (fhir-required)']);
});

test('required: names elements of the resource', () => {
  assert.deepEqual(loadErrors(encounter('      status: { $const: planned }\n', '    required: [subjct]\n')), [
    'messages/m.yaml:7:5: required: lists "subjct", which is not an element of Encounter (did you mean "subject"?) (resource "encounter") (fhir-required)',
  ]);
});

test('a $ref always has a source when the resource it names is always built first: an enclosing resource does, a conditional sibling does not', () => {
  const mapping = (inner: string): Record<string, string> => ({
    m: `id: m
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    from: PID
  - name: allergy
    type: AllergyIntolerance
    forEach: AL1
    map:
      code: "AL1-3 | cwe"
${inner}`,
  });
  assert.equal(loadErrors(mapping('      patient: { $ref: patient }\n')).length, 1, 'patient is built only when PID is there');
  const nested = `id: m
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    from: PID
    resources:
      - name: allergy
        type: AllergyIntolerance
        forEach: AL1
        map:
          patient: { $ref: patient }
`;
  assert.deepEqual(loadErrors({ m: nested }), [], 'an allergy is built inside its patient');
});

test('an unknown resource type is a load error at the resource', () => {
  assert.deepEqual(loadErrors({ m: 'id: m\nmessages: ["ADT^A01"]\nresources:\n  - name: patient\n    type: Patinet\n' }), ['messages/m.yaml:4:5: "Patinet" is not a FHIR R4 resource type (resource "patient") (fhir-type)']);
});

test('a mistake in a template is reported once, at its place in common.yaml, however many mappings use it', () => {
  const common = `resources: []
templates:
  patient:
    type: Patient
    from: PID
    map:
      gendr: "PID-8 | code(hl7-0001)"
`;
  const use = (id: string, event: string): string => `id: ${id}\nmessages: ["ADT^${event}"]\nresources:\n  - { name: patient, use: patient }\n`;
  assert.deepEqual(loadErrors({ a: use('a', 'A01'), b: use('b', 'A08') }, common), ['common.yaml:7:7: Patient has no element "gendr" (did you mean "gender"?) (fhir-element)']);
});
