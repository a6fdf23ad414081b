/**
 * What each kind of ADT event does to the FHIR record, read off the hand-made messages in
 * test-messages/adt/ (their whole Bundles are pinned by the golden test; these say why): a
 * cancel or delete changes the status of the same Encounter, an identifier change addresses
 * the one Patient by its prior identifier, a merge retires the merged record, a move re-points
 * it, a swap and a link handle two patients, a bed status update touches only the bed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { loadMappingSet, convertMessage } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');
const MRN = 'https%3A%2F%2Ffhir.general-hospital.example.org%2Fsid%2Fmrn';
const VISIT = 'https%3A%2F%2Ffhir.general-hospital.example.org%2Fsid%2Fvisit';
const ACCOUNT = 'https%3A%2F%2Ffhir.general-hospital.example.org%2Fsid%2Faccount';

function convert(name: string): { bundle: Bundle; issues: ReturnType<typeof convertMessage>['issues'] } {
  const p = parseMessage(readFileSync(join(REPO_DIR, 'test-messages', 'adt', name), 'latin1'));
  assert.ok(p.ok, `${name} parses`);
  const r = convertMessage(p.message, set);
  assert.ok(r.bundle, `${name} gives a bundle`);
  return { bundle: r.bundle, issues: r.issues };
}

function entries(b: Bundle, type: string): (BundleEntry & { resource: Resource & Record<string, unknown> })[] {
  return (b.entry ?? []).filter((e) => e.resource?.resourceType === type) as (BundleEntry & { resource: Resource & Record<string, unknown> })[];
}

const visitStatus = (name: string): unknown => {
  const enc = entries(convert(name).bundle, 'Encounter');
  assert.equal(enc.length, 1, `${name}: one Encounter, never a second one`);
  assert.equal(enc[0]!.request?.url, `Encounter?identifier=${VISIT}|V20261121001`, `${name}: the visit PV1-19 names`);
  return enc[0]!.resource['status'];
};

test('a cancelled admission, pending admission or pre-admission cancels the same Encounter', () => {
  assert.equal(visitStatus('adt-a11.hl7'), 'cancelled');
  assert.equal(visitStatus('adt-a27.hl7'), 'cancelled');
  assert.equal(visitStatus('adt-a38.hl7'), 'cancelled');
});

test('a deleted visit (A23) is entered-in-error', () => {
  assert.equal(visitStatus('adt-a23.hl7'), 'entered-in-error');
});

test('a leave of absence is onleave until the return, and a cancelled return keeps it so', () => {
  assert.equal(visitStatus('adt-a21.hl7'), 'onleave');
  assert.equal(visitStatus('adt-a22.hl7'), 'in-progress');
  assert.equal(visitStatus('adt-a52.hl7'), 'in-progress');
  assert.equal(visitStatus('adt-a53.hl7'), 'onleave');
});

test('cancelled pending moves and tracking events leave the visit in progress', () => {
  for (const e of ['a09', 'a10', 'a12', 'a15', 'a16', 'a25', 'a26', 'a32', 'a33']) assert.equal(visitStatus(`adt-${e}.hl7`), 'in-progress', e);
});

test('a pending transfer names the reserved bed beside the current one', () => {
  const enc = entries(convert('adt-a15.hl7').bundle, 'Encounter')[0]!.resource as { location?: { status: string }[] };
  assert.deepEqual(enc.location?.map((l) => l.status), ['active', 'reserved']);
});

test('A29 delete person information sends the Patient inactive and makes no Encounter of its PV1', () => {
  const { bundle, issues } = convert('adt-a29.hl7');
  const patients = entries(bundle, 'Patient');
  assert.equal(patients.length, 1);
  assert.equal(patients[0]!.resource['active'], false);
  assert.equal(entries(bundle, 'Encounter').length, 0);
  assert.ok(issues.some((i) => i.code === 'unmapped-segment' && i.location === 'PV1'), 'the unused PV1 is reported');
});

test('A47 changes the identifier of the one Patient: addressed by the prior MRG-1, written with the new PID-3', () => {
  const patients = entries(convert('adt-a47.hl7').bundle, 'Patient');
  assert.equal(patients.length, 1, 'no second Patient');
  assert.equal(patients[0]!.request?.url, `Patient?identifier=${MRN}|123456789`);
  const ids = (patients[0]!.resource['identifier'] as { value: string }[]).map((i) => i.value);
  assert.deepEqual(ids, ['123456790']);
});

test('A50 changes the visit number of the one Encounter, addressed by the prior MRG-5', () => {
  const enc = entries(convert('adt-a50.hl7').bundle, 'Encounter');
  assert.equal(enc.length, 1);
  assert.equal(enc[0]!.request?.url, `Encounter?identifier=${VISIT}|V20261121001`);
  assert.deepEqual((enc[0]!.resource['identifier'] as { value: string }[]).map((i) => i.value), ['V20261121101']);
});

test('A49 changes the account number of the one Account, addressed by the prior MRG-3', () => {
  const acc = entries(convert('adt-a49.hl7').bundle, 'Account');
  assert.equal(acc.length, 1);
  assert.equal(acc[0]!.request?.url, `Account?identifier=${ACCOUNT}|4455667788`);
  assert.deepEqual((acc[0]!.resource['identifier'] as { value: string }[]).map((i) => i.value), ['4455669999']);
});

test('a patient merge links survivor and merged both ways and retires the merged one', () => {
  for (const e of ['a18', 'a30', 'a34', 'a36', 'a39', 'a40']) {
    const patients = entries(convert(`adt-${e}.hl7`).bundle, 'Patient');
    assert.equal(patients.length, 2, e);
    const [survivor, merged] = patients.map((p) => p.resource as { link?: { type: string; other: { reference: string } }[]; active?: boolean });
    assert.deepEqual(survivor!.link?.map((l) => [l.type, l.other.reference]), [['replaces', patients[1]!.fullUrl]], e);
    assert.deepEqual(merged!.link?.map((l) => [l.type, l.other.reference]), [['replaced-by', patients[0]!.fullUrl]], e);
    assert.equal(merged!.active, false, e);
  }
});

test('an account merge keeps the surviving Account active and the merged one inactive, with one Patient', () => {
  for (const e of ['a35', 'a41']) {
    const { bundle } = convert(`adt-${e}.hl7`);
    assert.equal(entries(bundle, 'Patient').length, 1, `${e}: MRG-1 is the same patient, not a merged one`);
    assert.deepEqual(
      entries(bundle, 'Account').map((a) => [a.request?.url, a.resource['status']]),
      [
        [`Account?identifier=${ACCOUNT}|4455667788`, 'active'],
        [`Account?identifier=${ACCOUNT}|4455660000`, 'inactive'],
      ],
      e,
    );
  }
});

test('a visit merge updates the surviving Encounter and marks the merged one entered-in-error', () => {
  const enc = entries(convert('adt-a42.hl7').bundle, 'Encounter');
  assert.deepEqual(
    enc.map((e) => [e.request?.url, e.resource['status']]),
    [
      [`Encounter?identifier=${VISIT}|V20261121001`, 'unknown'],
      [`Encounter?identifier=${VISIT}|V20261121009`, 'entered-in-error'],
    ],
  );
});

test('moves re-point the account (A44) and the visit (A45) to the PID patient; A43 gives it the moved identifier', () => {
  const a44 = convert('adt-a44.hl7').bundle;
  const patient44 = entries(a44, 'Patient')[0]!;
  const account = entries(a44, 'Account')[0]!;
  assert.equal(account.request?.url, `Account?identifier=${ACCOUNT}|4455660000`);
  assert.deepEqual(account.resource['subject'], [{ reference: patient44.fullUrl }]);

  const a45 = convert('adt-a45.hl7').bundle;
  const enc = entries(a45, 'Encounter')[0]!;
  assert.equal(enc.request?.url, `Encounter?identifier=${VISIT}|V20261120077`);
  assert.deepEqual(enc.resource['subject'], { reference: entries(a45, 'Patient')[0]!.fullUrl });

  const ids = (entries(convert('adt-a43.hl7').bundle, 'Patient')[0]!.resource['identifier'] as { value: string }[]).map((i) => i.value);
  assert.deepEqual(ids, ['123456789', '8812']);
});

test('A17 swaps beds: two Patients, each with its own Encounter in the bed the other left', () => {
  const { bundle } = convert('adt-a17.hl7');
  const patients = entries(bundle, 'Patient');
  const enc = entries(bundle, 'Encounter');
  assert.equal(patients.length, 2);
  assert.equal(enc.length, 2);
  assert.deepEqual(
    enc.map((e) => (e.resource['subject'] as { reference: string }).reference),
    patients.map((p) => p.fullUrl),
  );
  const beds = enc.map((e) => (e.resource['location'] as { location: { reference: string } }[]).map((l) => l.location.reference));
  assert.deepEqual(beds[0], [...beds[1]!].reverse(), 'each one now holds the bed the other gave up');
});

test('A24 links the two records of a person both ways; A37 writes them without the link', () => {
  const linked = entries(convert('adt-a24.hl7').bundle, 'Patient');
  assert.equal(linked.length, 2);
  assert.deepEqual((linked[0]!.resource['link'] as { type: string; other: { reference: string } }[])[0], { other: { reference: linked[1]!.fullUrl }, type: 'seealso' });
  assert.deepEqual((linked[1]!.resource['link'] as { type: string; other: { reference: string } }[])[0], { other: { reference: linked[0]!.fullUrl }, type: 'seealso' });
  const unlinked = entries(convert('adt-a37.hl7').bundle, 'Patient');
  assert.equal(unlinked.length, 2);
  assert.ok(unlinked.every((p) => p.resource['link'] === undefined));
});

test('A20 updates the bed Location with its status and names no patient', () => {
  const { bundle } = convert('adt-a20.hl7');
  assert.equal(entries(bundle, 'Patient').length, 0);
  const bed = entries(bundle, 'Location');
  assert.equal(bed.length, 1);
  assert.deepEqual(bed[0]!.resource['operationalStatus'], { system: 'http://terminology.hl7.org/CodeSystem/v2-0116', code: 'H' });
  assert.equal(bed[0]!.resource['name'], '4WEST 412 B');
});

test('A60 adds and deletes allergies: a deleted one is entered-in-error with no clinical status', () => {
  const allergies = entries(convert('adt-a60.hl7').bundle, 'AllergyIntolerance').map((a) => a.resource as { clinicalStatus?: unknown; verificationStatus?: { coding: { code: string }[] } });
  assert.equal(allergies.length, 2);
  assert.ok(allergies[0]!.clinicalStatus);
  assert.equal(allergies[1]!.clinicalStatus, undefined);
  assert.equal(allergies[1]!.verificationStatus?.coding[0]?.code, 'entered-in-error');
});

test('A54 changes the attending doctor: the new one attends, the ended role is an inactive CareTeam', () => {
  const { bundle } = convert('adt-a54.hl7');
  const teams = entries(bundle, 'CareTeam').map((c) => c.resource['status']);
  assert.deepEqual(teams, ['active', 'inactive']);
});
