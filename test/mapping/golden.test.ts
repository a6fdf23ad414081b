/**
 * Golden bundles: each hand-made message of test-messages/<family>/ converted with the
 * default mappings and the general-hospital site must equal its reviewed bundle in
 * test-messages/expected/ byte for byte, validate against FHIR R4, and convert to the same bytes
 * twice. After a deliberate mapping change: `npm run build && node scripts/update-goldens.mjs`,
 * then review the diff by eye.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadMappingSet, convertMessage } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { decodeMessage } from '../../src/charset/index.js';
import { validateBundle } from '../../src/fhir/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');

function convertFile(path: string) {
  const d = decodeMessage(readFileSync(path), { fallback: 'windows-1252' });
  assert.ok(d.ok);
  const p = parseMessage(d.text);
  assert.ok(p.ok, `parses: ${path}`);
  return convertMessage(p.message, set);
}

/** Folders of test-messages/ that hold inputs for other tests, not mapping goldens. */
const NOT_GOLDEN = new Set(['bad', 'charset', 'expected']);
const dirs = readdirSync(join(REPO_DIR, 'test-messages'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && !NOT_GOLDEN.has(d.name))
  .map((d) => d.name)
  .sort();
const cases = dirs.flatMap((dir) =>
  readdirSync(join(REPO_DIR, 'test-messages', dir))
    .filter((f) => f.endsWith('.hl7'))
    .sort()
    .map((f) => ({ dir, f })),
);

test('there is a golden case for every message structure the default mappings convert', () => {
  const events = cases.map((c) => c.f.replace(/\.hl7$/, ''));
  // One message per HL7 structure (table 0354) at least; the ADT_A01 family one per event.
  const adt = ['a01', 'a02', 'a03', 'a04', 'a05', 'a06', 'a07', 'a08', 'a09', 'a10', 'a11', 'a12', 'a13', 'a14', 'a15', 'a16',
    'a17', 'a18', 'a20', 'a21', 'a24', 'a28', 'a29', 'a30', 'a31', 'a37', 'a38', 'a39', 'a40', 'a43', 'a45', 'a47', 'a50',
    'a52', 'a54', 'a60', 'a61'];
  for (const e of adt) assert.ok(events.includes(`adt-${e}`), `adt-${e}`);
  for (const e of ['oru-r01', 'orm-o01', 'oml-o21']) assert.ok(events.includes(e), e);
});

test('there is a golden case for every message structure of results, orders, scheduling, documents, immunizations and pharmacy', () => {
  const events = cases.map((c) => c.f.replace(/\.hl7$/, ''));
  // One per structure (OUL_R22/R23/R24, OMG_O19, SIU_S12, MDM_T01/T02, VXU_V04, RDE_O11, RDS_O13),
  // plus the SIU events that change the booking's status and S23's Slot.
  const expected = ['oul-r22', 'oul-r23', 'oul-r24', 'omg-o19', 'siu-s12', 'siu-s15', 'siu-s17', 'siu-s23', 'siu-s26', 'mdm-t02', 'mdm-t11', 'vxu-v04', 'rde-o11', 'rde-o25', 'rds-o13'];
  assert.deepEqual(expected.filter((e) => !events.includes(e)), []);
});

for (const { dir, f } of cases) {
  test(`${dir}/${f} converts to its reviewed golden bundle, valid FHIR R4, same bytes twice`, () => {
    const path = join(REPO_DIR, 'test-messages', dir, f);
    const r1 = convertFile(path);
    const r2 = convertFile(path);
    assert.ok(r1.bundle, 'a bundle');
    assert.equal(JSON.stringify(r1.bundle), JSON.stringify(r2.bundle), 'deterministic');
    assert.deepEqual(validateBundle(r1.bundle), [], 'valid FHIR R4');
    const golden = JSON.parse(readFileSync(join(REPO_DIR, 'test-messages/expected', dir, f.replace(/\.hl7$/, '.json')), 'utf8')) as unknown;
    assert.deepEqual({ bundle: r1.bundle, issues: r1.issues }, golden);
  });
}

test('no resource id contains the patient MRN', () => {
  const r = convertFile(join(REPO_DIR, 'test-messages/adt/adt-a01.hl7'));
  for (const e of r.bundle!.entry ?? []) {
    assert.ok(!(e.resource?.id ?? '').includes('123456789'));
    assert.ok(!(e.fullUrl ?? '').includes('123456789'));
  }
});

test('ADT^A40 links the surviving and the merged patient both ways', () => {
  const r = convertFile(join(REPO_DIR, 'test-messages/adt/adt-a40.hl7'));
  const patients = (r.bundle!.entry ?? []).filter((e) => e.resource?.resourceType === 'Patient');
  assert.equal(patients.length, 2);
  const [survivor, merged] = patients.map((e) => e.resource as { link?: { type: string; other: { reference: string } }[]; active?: boolean });
  assert.equal(survivor!.link?.[0]?.type, 'replaces');
  assert.equal(survivor!.link?.[0]?.other.reference, patients[1]!.fullUrl);
  assert.equal(merged!.link?.[0]?.type, 'replaced-by');
  assert.equal(merged!.active, false);
});

test('a message type with no mapping is reported unsupported, with no bundle', () => {
  const p = parseMessage('MSH|^~\\&|A|B|C|D|20260101||MFN^M02|X1|P|2.5\rMFI|PRA\r');
  assert.ok(p.ok);
  const r = convertMessage(p.message, set);
  assert.equal(r.unsupported, true);
  assert.equal(r.bundle, null);
  assert.equal(r.issues[0]?.code, 'unsupported-message');
});
