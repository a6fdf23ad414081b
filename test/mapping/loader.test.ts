/**
 * What the mapping loader says about a broken message mapping or common.yaml: every mistake at
 * file:line:col with the rule broken. One kind of mistake per test, the YAML in view.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loadCommon, loadMessageMapping, type CommonDefs, type LoadContext } from '../../src/mapping/loader.js';
import { channelDir as tempDir, writeFile } from '../channel/channel-files.js';

const CTX: LoadContext = { converters: new Set(['cx', 'ts', 'xpn', 'code']) };

/** common.yaml with one template, `patient`. */
const COMMON: CommonDefs = { resources: [], templates: { patient: { type: 'Patient', from: 'PID' } } };

/** The error messages loading `yaml` as messages/test.yaml gives, with the file's folder cut to "…/". */
function messageErrors(t: TestContext, yaml: string): string[] {
  const dir = tempDir(t);
  const file = writeFile(dir, 'messages/test.yaml', yaml);
  const { mapping, errors } = loadMessageMapping(file, COMMON, CTX);
  assert.equal(mapping, null, 'the mapping loaded although it is invalid');
  return errors.map((e) => e.message.replace(`${dir}/`, '…/'));
}

function commonErrors(t: TestContext, yaml: string): string[] {
  const dir = tempDir(t);
  return loadCommon(writeFile(dir, 'common.yaml', yaml), CTX).errors.map((e) => e.message.replace(`${dir}/`, '…/'));
}

test('a valid message mapping loads, using a template and the common resources', (t) => {
  const dir = tempDir(t);
  const file = writeFile(
    dir,
    'messages/test.yaml',
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: patient, use: patient }
  - name: encounter
    type: Encounter
    from: PV1
    map:
      subject: { $ref: patient }
`,
  );
  const { mapping, errors } = loadMessageMapping(file, COMMON, CTX);
  assert.deepEqual(errors, []);
  assert.deepEqual(
    mapping?.resources.map((r) => [r.name, r.type, r.from]),
    [
      ['patient', 'Patient', 'PID'],
      ['encounter', 'Encounter', 'PV1'],
    ],
  );
});

test('an unknown converter is reported at the expression that pipes into it', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      gender: "PID-8 | sexx"
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:7:15: unknown converter "sexx" (converter)']);
});

test('an unknown function is reported with the functions there are', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    when: "exists(PID-3)"
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:6:11: unknown function "exists" (use present, empty, count, len, key, concat) (function)']);
});

test('an expression syntax error points at its column inside the expression', (t) => {
  // "PID-7 |" starts at column 19; the converter name is missing at its 8th character.
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      birthDate: "PID-7 |"
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:7:26: expected a converter name after "|" at column 8 of "PID-7 |" (expression)']);
});

test('an unknown key in a resource is named, with the key it most likely meant', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    forEeach: PID
`,
  );
  assert.deepEqual(errors, ["…/messages/test.yaml:6:5: forEeach is not a known setting; did you mean 'forEach'? (additionalProperties)"]);
});

test('templates belong in common.yaml, not in a message mapping', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
templates: {}
resources: []
`,
  );
  assert.deepEqual(errors, [
    '…/messages/test.yaml:3:1: templates is not a known setting; known keys here: id, description, messages, groups, ignore, resources (additionalProperties)',
  ]);
});

test('use: naming no template of common.yaml lists the templates there are', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: patient, use: patinet }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:27: no template "patinet" in common.yaml (templates: patient) (use)']);
});

test('a resource name used twice is reported at the second one', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: patient, type: Patient }
  - { name: patient, type: Patient }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:5:13: resource name "patient" is used twice in this mapping (duplicate-name)']);
});

test('a group member that is neither a segment nor a group of the mapping is reported at the member', (t) => {
  const errors = messageErrors(
    t,
    `
id: oru
messages: ["ORU^R01"]
groups:
  ORDER: { start: OBR, members: [OBX, OBSERVATON] }
resources: []
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:39: "OBSERVATON" is neither a segment id nor a group of this mapping (group)']);
});

test('a group named like a segment is refused', (t) => {
  const errors = messageErrors(
    t,
    `
id: oru
messages: ["ORU^R01"]
groups:
  OBR: { start: OBR }
resources: []
`,
  );
  assert.deepEqual(errors, [
    "…/messages/test.yaml:4:3: key 'OBR' in groups must be upper case and longer than 3 characters (e.g. ORDER), so it cannot be mistaken for a segment (propertyNames)",
  ]);
});

test('from must name a segment or a group', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: patient, type: Patient, from: pid }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:43: from must name a segment (PID) or a group (ORDER) (pattern)']);
});

test('forEach must name a segment or a group, not a field', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: patient, type: Patient, forEach: "PID-3" }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:46: forEach must name a segment (PID) or a group (ORDER) (pattern)']);
});

test('a message mapping without messages is refused', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
resources: []
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:1:1: messages is required but missing from the message mapping file (required)']);
});

test('a message mapping without an id is refused', (t) => {
  const errors = messageErrors(
    t,
    `
messages: ["ADT^A01"]
resources: []
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:1:1: id is required but missing from the message mapping file (required)']);
});

test('a message type must be CODE^EVENT', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT-A01"]
resources: []
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:2:12: messages[0] must be a message type MSH-9.1^MSH-9.2 such as ADT^A01, ORU^* or * (pattern)']);
});

test('a resource needs a type unless it uses a template', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:5: type is required but missing from resources[0] (required)']);
});

test('a resource type that YAML reads as a number says what a type looks like, not how to quote it', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: 42
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:5:11: type must be a FHIR resource type, e.g. Patient (type)']);
});

test('a resource name starts with a lower-case letter', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - { name: Patient, type: Patient }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:4:13: name must start with a lower-case letter (letters, digits, _), e.g. patient (pattern)']);
});

test('an unknown $ key in a rule is reported at the key', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      gender: { $vale: "PID-8" }
`,
  );
  assert.deepEqual(errors, [
    "…/messages/test.yaml:7:17: key '$vale' in gender must be a FHIR element path (letters, dots between levels, optional [x], _name for a primitive's extensions) or one of $value, $const, $ref, $refs, $first, $forEach, $build, $when (propertyNames)",
  ]);
});

test('a map key that is not a FHIR element path is reported at the key', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      birth-date: "PID-7"
`,
  );
  assert.deepEqual(errors, [
    "…/messages/test.yaml:7:7: key 'birth-date' in map must be a FHIR element path (letters, dots between levels, optional [x], _name for a primitive's extensions), e.g. name.family, value[x] or _birthDate (propertyNames)",
  ]);
});

test('$when alone builds nothing', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      gender: { $when: "present(PID-8)" }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:7:15: "$when" needs something to build: other keys, $value, $const, $ref or $first (rule)']);
});

test('an element with no rule is refused', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      gender:
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:7:14: gender must be text, a number, true or false, a list or a mapping, not null (type)']);
});

test('identity.request is one of the three modes', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    identity: { request: upsert }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:6:26: request must be one of: conditional, put, create-if-absent (enum)']);
});

test('$ref names a resource, not a type', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      link: { $ref: Other }
`,
  );
  assert.deepEqual(errors, ['…/messages/test.yaml:7:21: $ref must name a resource of this mapping, e.g. patient (or * for all) (pattern)']);
});

test('an identity key YAML reads as a number is refused with the quoting fix', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    identity: { key: [1] }
`,
  );
  assert.deepEqual(errors, ["…/messages/test.yaml:6:23: key[0] must be text, not a number; YAML reads 1 as a number, so quote it: '1' (type)"]);
});

test('an empty message mapping file says what it needs', (t) => {
  assert.deepEqual(messageErrors(t, ''), [
    '…/messages/test.yaml:1:1: the message mapping file is empty; a message mapping needs id, messages and resources (required)',
  ]);
});

test('a YAML syntax error in a mapping reads like one in any configuration file', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"
resources: []
`,
  );
  assert.deepEqual(errors, [
    '…/messages/test.yaml:3:1: YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ] [BAD_INDENT] (syntax)',
  ]);
});

test('every problem of a file is reported in one round', (t) => {
  const errors = messageErrors(
    t,
    `
id: adt
messages: ["ADT^A01"]
resources:
  - name: patient
    type: Patient
    map:
      gender: "PID-8 | sexx"
      birthDate: "PID-7 |"
  - { name: patient, use: patinet }
`,
  );
  assert.deepEqual(errors, [
    '…/messages/test.yaml:7:15: unknown converter "sexx" (converter)',
    '…/messages/test.yaml:8:26: expected a converter name after "|" at column 8 of "PID-7 |" (expression)',
    '…/messages/test.yaml:9:27: no template "patinet" in common.yaml (templates: patient) (use)',
  ]);
});

test('common.yaml needs resources', (t) => {
  assert.deepEqual(commonErrors(t, 'templates: {}\n'), ['…/common.yaml:1:1: resources is required but missing from the common mapping file (required)']);
});

test('a template in common.yaml has no name: the message mapping that uses it gives one', (t) => {
  const errors = commonErrors(
    t,
    `
resources: []
templates:
  patient: { name: patient, type: Patient }
`,
  );
  assert.deepEqual(errors, [
    '…/common.yaml:3:14: name is not a known setting; known keys here: type, from, forEach, when, identity, map, required, resources (additionalProperties)',
  ]);
});

test('a mistake inside a template is reported at its place in common.yaml', (t) => {
  const errors = commonErrors(
    t,
    `
resources: []
templates:
  patient:
    type: Patient
    map:
      name: "PID-5[*] | xpm"
`,
  );
  assert.deepEqual(errors, ['…/common.yaml:6:13: unknown converter "xpm" (converter)']);
});
