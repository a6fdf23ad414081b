/**
 * What the outbound writer promises, one behaviour each: escaping, MSH-10 derivation, MSH-18 and
 * the bytes, mapping selection, issues without PHI, load errors at file:line:col, the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage } from '../../src/charset/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { MappingLoadError } from '../../src/mapping/index.js';
import { encodeOutbound, generateMessage, loadOutboundSet, parseOutValue, runConvertToV2 } from '../../src/outbound/index.js';
import { REPO_DIR } from '../support/repo.js';
import { expectedBundle, loadDefaultOutbound, MESSAGE_TIME, OUTBOUND_DIR } from './cases.js';

const set = loadDefaultOutbound();

function patientBundle(patient: Record<string, unknown>): unknown {
  return { resourceType: 'Bundle', id: 'b-1', type: 'collection', entry: [{ fullUrl: 'urn:uuid:p1', resource: { resourceType: 'Patient', ...patient } }] };
}

function pid(text: string): string {
  return text.split('\r').find((s) => s.startsWith('PID|')) ?? '';
}

test('delimiters inside a FHIR value are escaped, and the parser reads the value back unchanged', () => {
  const family = 'O|Brien^Smith&Co~X\\Y';
  const r = generateMessage(patientBundle({ name: [{ family, given: ['Ann'] }] }), set, { messageTime: MESSAGE_TIME });
  assert.ok(r.text);
  assert.equal(pid(r.text), 'PID|1||||O\\F\\Brien\\S\\Smith\\T\\Co\\R\\X\\E\\Y^Ann');
  const p = parseMessage(r.text);
  assert.ok(p.ok);
  assert.equal(p.message.get('PID-5.1'), family);
});

test('a line break in a note is written as \\.br\\, so it cannot end the segment', () => {
  const bundle = expectedBundle('oru/oru-r01.json') as { entry: { resource: Record<string, unknown> }[] };
  const obs = bundle.entry.find((e) => e.resource['resourceType'] === 'Observation');
  assert.ok(obs);
  obs.resource['note'] = [{ text: 'first line\nsecond line' }];
  const r = generateMessage(bundle, set, { messageTime: MESSAGE_TIME });
  assert.ok(r.text?.includes('\rNTE|1||first line\\.br\\second line\r'));
});

test('MSH-10 is the same for the same source record and differs for another record', () => {
  const b = expectedBundle('adt/adt-a08.json');
  const a1 = generateMessage(b, set, { sourceKey: 'ehr.fhir/0/42' });
  const a2 = generateMessage(b, set, { sourceKey: 'ehr.fhir/0/42', messageTime: '2030-01-01T00:00:00Z' });
  const other = generateMessage(b, set, { sourceKey: 'ehr.fhir/0/43' });
  assert.equal(a1.controlId, a2.controlId, 'a resend (later clock) keeps MSH-10');
  assert.notEqual(a1.controlId, other.controlId);
  assert.match(a1.controlId ?? '', /^[0-9A-F]{20}$/);
  const p = parseMessage(a1.text ?? '');
  assert.ok(p.ok);
  assert.equal(p.message.msh().controlId, a1.controlId);
});

test('without a source key, MSH-10 comes from the Bundle id', () => {
  const b = patientBundle({ gender: 'male' }) as Record<string, unknown>;
  const same = generateMessage({ ...b }, set);
  const again = generateMessage({ ...b }, set);
  const otherId = generateMessage({ ...b, id: 'b-2' }, set);
  assert.equal(same.controlId, again.controlId);
  assert.notEqual(same.controlId, otherId.controlId);
});

test('MSH-18 names the charset and encodeOutbound writes those bytes; the inbound decoder reads them back', () => {
  const r = generateMessage(patientBundle({ name: [{ family: 'Müller', given: ['Zoë'] }] }), set, { messageTime: MESSAGE_TIME, charset: '8859/1' });
  assert.ok(r.text);
  assert.ok(r.text.startsWith('MSH|^~\\&|HL7ENGINE||||20261201100000-0500||ADT^A31^ADT_A05|'));
  assert.ok(r.text.split('\r')[0]?.endsWith('|8859/1'));
  const bytes = encodeOutbound(r.text, '8859/1');
  assert.equal(bytes.includes(Buffer.from([0xfc])), true, 'ü is one Latin-1 byte');
  const d = decodeMessage(bytes, { fallback: 'utf-8' });
  assert.ok(d.ok);
  assert.equal(d.text, r.text);
});

test('the default charset is UTF-8, named UNICODE UTF-8 in MSH-18', () => {
  const r = generateMessage(patientBundle({ name: [{ family: '山田' }] }), set, { messageTime: MESSAGE_TIME });
  assert.ok(r.text?.split('\r')[0]?.endsWith('|UNICODE UTF-8'));
  assert.deepEqual(encodeOutbound(r.text ?? '', 'UNICODE UTF-8'), Buffer.from(r.text ?? '', 'utf8'));
});

test('a Bundle with no resource a mapping is about gets a no-mapping issue and no message', () => {
  const r = generateMessage({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Practitioner' } }] }, set);
  assert.equal(r.text, null);
  assert.deepEqual(r.issues.map((i) => i.code), ['no-mapping']);
});

test('a single resource, not in a Bundle, converts too', () => {
  const r = generateMessage({ resourceType: 'Patient', id: 'p', gender: 'female', birthDate: '1980-02-15' }, set, { messageTime: MESSAGE_TIME });
  assert.equal(r.mappingId, 'adt_a31');
  assert.equal(pid(r.text ?? ''), 'PID|1||||||19800215|F');
});

test('the Bundle picks the mapping: A04 in MessageHeader gives ADT^A04; --message overrides', () => {
  assert.equal(generateMessage(expectedBundle('adt/adt-a04.json'), set).mappingId, 'adt_a04');
  assert.equal(generateMessage(expectedBundle('adt/adt-a04.json'), set, { mapping: 'ADT^A08' }).mappingId, 'adt_a08');
  assert.equal(generateMessage(expectedBundle('orm/oml-o21.json'), set, { mapping: 'ORM^O01' }).mappingId, 'orm_o01');
});

test('a code the table cannot give back is an issue with its location and no value text', () => {
  const r = generateMessage(patientBundle({ gender: 'not-a-gender', name: [{ family: 'Secretname' }] }), set, { messageTime: MESSAGE_TIME });
  assert.deepEqual(r.issues.map((i) => [i.code, i.location]), [['unknown-code', 'PID[1]-8']]);
  assert.ok(!JSON.stringify(r.issues).includes('not-a-gender'));
  assert.ok(!JSON.stringify(r.issues).includes('Secretname'));
});

function withMapping(yaml: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'outbound-'));
  try {
    mkdirSync(join(dir, 'messages'));
    writeFileSync(join(dir, 'messages', 'm.yaml'), yaml);
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function loadErrors(dir: string): string[] {
  try {
    loadOutboundSet(dir, { inbound: join(REPO_DIR, 'mappings/default') });
    return [];
  } catch (err) {
    assert.ok(err instanceof MappingLoadError);
    return err.errors.map((e) => e.message);
  }
}

test('a syntax error in an expression points at its file:line:col', () => {
  withMapping('id: x\nfocus: Patient\nmessage: ADT^A08^ADT_A01\nsegments:\n  - segment: PID\n    fields:\n      PID-5: "name | xpn("\n', (dir) => {
    const errors = loadErrors(dir);
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /m\.yaml:7:\d+/);
    assert.match(errors[0] ?? '', /converter arguments|expected/);
  });
});

test('an unknown converter, a missing code table and a field of another segment are each reported at their line', () => {
  const yaml = [
    'id: x',
    'focus: Patient',
    'message: ADT^A08^ADT_A01',
    'segments:',
    '  - segment: PID',
    '    fields:',
    '      PID-5: "name | xpm"',
    '      PID-8: "gender | code(hl7-9999)"',
    '      PV1-2: "\'N\'"',
    '',
  ].join('\n');
  withMapping(yaml, (dir) => {
    const errors = loadErrors(dir);
    assert.equal(errors.length, 3);
    assert.match(errors[0] ?? '', /m\.yaml:7:\d+.*unknown converter "xpm"/);
    assert.match(errors[1] ?? '', /m\.yaml:8:\d+.*no code table "hl7-9999"/);
    assert.match(errors[2] ?? '', /m\.yaml:9:7.*PV1-2 is not in segment PID/);
  });
});

test('the JSON Schema rejects a field key that is not a v2 path, at its line', () => {
  withMapping('id: x\nfocus: Patient\nmessage: ADT^A08^ADT_A01\nsegments:\n  - segment: PID\n    fields:\n      PID5: "name | xpn"\n', (dir) => {
    const errors = loadErrors(dir);
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /m\.yaml:7:\d+.*v2 path such as PID-5/);
  });
});

test('convert --to v2 writes the message with LF for reading and names the mapping and MSH-10 on stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbound-cli-'));
  try {
    const file = join(dir, 'b.json');
    writeFileSync(file, JSON.stringify(expectedBundle('oru/oru-r01.json')));
    let out = '';
    let err = '';
    const code = runConvertToV2(['--to', 'v2', file, '--site', 'general-hospital', '--outbound', OUTBOUND_DIR, '--source-key', 'ehr.fhir/0/7'], {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
    });
    assert.equal(code, 0, err);
    assert.ok(out.startsWith('MSH|^~\\&|HL7ENGINE|'));
    assert.ok(out.includes('\nOBX|1|NM|2345-7^Glucose^LN||105|mg/dL^mg/dL^UCUM|70-99|H|||F'));
    assert.ok(!out.includes('\r'));
    assert.match(err, /mapping oru_r01, MSH-10 [0-9A-F]{20}, 0 issue\(s\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('convert --to v2 on a file that is not FHIR exits 2 and says why', () => {
  let err = '';
  const code = runConvertToV2(['--to', 'v2', join(REPO_DIR, 'package.json')], { stdout: () => undefined, stderr: (t) => (err += t) });
  assert.equal(code, 2);
  assert.match(err, /not a FHIR resource or Bundle/);
});

test('referencedBy() names a resource type and the path of its reference; anything else is an error that says so', () => {
  assert.deepEqual(parseOutValue('referencedBy(Observation.focus)'), {
    kind: 'path',
    root: { kind: 'context' },
    steps: [{ kind: 'referencedBy', type: 'Observation', path: ['focus'] }],
  });
  assert.throws(() => parseOutValue('referencedBy(Observation)'), /needs the element that holds the reference, e\.g\. referencedBy\(Observation\.focus\)/);
  assert.throws(() => parseOutValue('referencedBy(focus)'), /takes a resource type and the path of its reference/);
});

test('referencedBy() finds the resources whose reference points at the current one, and no others', () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { fullUrl: 'urn:uuid:s1', resource: { resourceType: 'Specimen', id: 's1' } },
      { fullUrl: 'urn:uuid:o1', resource: { resourceType: 'Observation', id: 'o1', focus: [{ reference: 'urn:uuid:s1' }] } },
      { fullUrl: 'urn:uuid:o2', resource: { resourceType: 'Observation', id: 'o2', focus: [{ reference: 'Specimen/other' }] } },
      { fullUrl: 'urn:uuid:o3', resource: { resourceType: 'Observation', id: 'o3', specimen: { reference: 'Specimen/s1' } } },
    ],
  };
  const yaml = [
    'id: specimen_obx',
    'focus: Specimen',
    'message: ORU^R01^ORU_R01',
    'version: "2.5.1"',
    'segments:',
    '  - segment: SPM',
    '    forEach: "%focus"',
    '    fields: { SPM-1: "\'1\'" }',
    '    segments:',
    '      - segment: OBX',
    '        forEach: "referencedBy(Observation.focus)"',
    '        fields: { OBX-1: "%setId", OBX-4: "id" }',
    '',
  ].join('\n');
  withMapping(yaml, (dir) => {
    const r = generateMessage(bundle, loadOutboundSet(dir, { inbound: join(REPO_DIR, 'mappings/default') }), { messageTime: MESSAGE_TIME });
    assert.deepEqual(r.text?.split('\r').slice(1), ['SPM|1', 'OBX|1|||o1', '']);
  });
});

test('%context is the item the expression started from; a comparison with a path compares whole values', () => {
  assert.deepEqual(parseOutValue("component.where(code = %context.code)"), {
    kind: 'path',
    root: { kind: 'context' },
    steps: [
      { kind: 'field', name: 'component' },
      {
        kind: 'where',
        test: {
          kind: 'equal',
          op: '=',
          left: { kind: 'path', root: { kind: 'context' }, steps: [{ kind: 'field', name: 'code' }] },
          right: { kind: 'path', root: { kind: 'start' }, steps: [{ kind: 'field', name: 'code' }] },
        },
      },
    ],
  });
  // A bare word on the right is a text missing its quotes far more often than a path.
  assert.throws(() => parseOutValue('component.where(code = code)'), /compare with a text in quotes, e\.g\. = 'A04'/);
});

test('where(code = %context.code) keeps the components with the Observation\'s own code (keys in any order), and != the others', () => {
  const code = { coding: [{ system: 'http://loinc.org', code: '8480-6' }] };
  const bundle = {
    resourceType: 'Observation',
    id: 'o1',
    code,
    component: [
      { code: { coding: [{ code: '8480-6', system: 'http://loinc.org' }] }, valueString: 'same code, keys swapped' },
      { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueString: 'another code' },
      { code, valueString: 'same code' },
    ],
  };
  const yaml = [
    'id: components',
    'focus: Observation',
    'message: ORU^R01^ORU_R01',
    'version: "2.5.1"',
    'segments:',
    '  - segment: OBX',
    '    forEach: "%focus"',
    '    fields:',
    '      OBX-5: "component.where(code = %context.code).value | text"',
    '      OBX-6: "component.where(code != %context.code).value | text"',
    '      OBX-7: "component.where(code = %focus.code).value | text"',
    '',
  ].join('\n');
  withMapping(yaml, (dir) => {
    const r = generateMessage(bundle, loadOutboundSet(dir, { inbound: join(REPO_DIR, 'mappings/default') }), { messageTime: MESSAGE_TIME });
    assert.deepEqual(r.text?.split('\r').slice(1), ['OBX|||||same code, keys swapped~same code|another code|same code, keys swapped~same code', '']);
  });
});

test('ORU: an Observation whose components have other codes (a panel) writes no OBX-5 repetitions from them', () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { fullUrl: 'urn:uuid:p1', resource: { resourceType: 'Patient', id: 'p1', identifier: [{ value: '1' }] } },
      { fullUrl: 'urn:uuid:r1', resource: { resourceType: 'DiagnosticReport', id: 'r1', status: 'final', code: { text: 'BP' }, subject: { reference: 'urn:uuid:p1' }, result: [{ reference: 'urn:uuid:o1' }] } },
      {
        fullUrl: 'urn:uuid:o1',
        resource: {
          resourceType: 'Observation',
          id: 'o1',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
          component: [
            { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
            { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mm[Hg]' } },
          ],
        },
      },
    ],
  };
  const r = generateMessage(bundle, set, { messageTime: MESSAGE_TIME });
  assert.deepEqual(r.text?.split('\r').filter((s) => s.startsWith('OBX')), ['OBX|1||85354-9^^LN||||||||F']);
});

test('an attachment\'s contentType goes back as ED.2/ED.3 (tables 0191, 0291); a type 0191 has no code for goes whole in ED.3', () => {
  const withAttachment = (contentType: string): string => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:p1', resource: { resourceType: 'Patient', id: 'p1', identifier: [{ value: '1' }] } },
        { fullUrl: 'urn:uuid:r1', resource: { resourceType: 'DiagnosticReport', id: 'r1', status: 'final', code: { text: 'Report' }, subject: { reference: 'urn:uuid:p1' }, result: [{ reference: 'urn:uuid:o1' }] } },
        {
          fullUrl: 'urn:uuid:o1',
          resource: {
            resourceType: 'Observation',
            id: 'o1',
            status: 'final',
            code: { text: 'Report' },
            extension: [{ url: 'https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment', valueAttachment: { contentType, data: 'AAAA' } }],
          },
        },
      ],
    };
    const obx = generateMessage(bundle, set, { messageTime: MESSAGE_TIME }).text?.split('\r').find((s) => s.startsWith('OBX')) ?? '';
    const f = obx.split('|');
    return `${f[2] ?? ''}|${f[5] ?? ''}`;
  };
  assert.equal(withAttachment('application/pdf'), 'ED|^AP^PDF^Base64^AAAA');
  assert.equal(withAttachment('image/jpeg'), 'ED|^IM^JPEG^Base64^AAAA');
  assert.equal(withAttachment('text/plain'), 'ED|^TEXT^^Base64^AAAA');
  assert.equal(withAttachment('application/x-hl7-cda-level-one+xml'), 'ED|^AP^x-hl7-cda-level-one+xml^Base64^AAAA');
  assert.equal(withAttachment('video/mp4'), 'ED|^AP^video/mp4^Base64^AAAA');
});
