/**
 * Every trigger event of the result, order, scheduling, document, immunization and pharmacy
 * feeds goes through the default mapping set: a hand-made message of its structure, with MSH-9
 * set to the event, converts to a valid Bundle holding the resource the event is about, never
 * "unsupported". Cancellations, deletions and no-shows change the status of the same resource
 * instead of making a new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { loadMappingSet, convertMessage } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { validateBundle } from '../../src/fhir/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');

function base(rel: string): string {
  return readFileSync(join(REPO_DIR, 'test-messages', rel), 'latin1');
}

/** The base message with MSH-9 (type^event^structure) replaced. */
function withType(text: string, type: string): string {
  return text.replace(/^(MSH\|[^|]*(?:\|[^|]*){6})\|[^|]*/, `$1|${type}`);
}

function convert(text: string): { bundle: Bundle; mappingId: string | null } {
  const p = parseMessage(text);
  assert.ok(p.ok, 'the message parses');
  const r = convertMessage(p.message, set);
  assert.equal(r.unsupported, false, `${text.slice(0, 60)}: unsupported`);
  assert.ok(r.bundle, 'a Bundle');
  assert.deepEqual(validateBundle(r.bundle), [], 'valid FHIR R4');
  return { bundle: r.bundle, mappingId: r.mappingId ?? null };
}

function resources<T extends Resource['resourceType']>(b: Bundle, type: T): Extract<Resource, { resourceType: T }>[] {
  return (b.entry ?? []).map((e) => e.resource).filter((r): r is Extract<Resource, { resourceType: T }> => r?.resourceType === type);
}

interface Case {
  readonly type: string;
  readonly base: string;
  readonly mapping: string;
  readonly resource: Resource['resourceType'];
}

const CASES: readonly Case[] = [
  ...['ORU^R01^ORU_R01', 'ORU^R30^ORU_R30', 'ORU^R31^ORU_R30', 'ORU^R32^ORU_R30', 'ORU^R03'].map((type) => ({ type, base: 'oru/oru-r01.hl7', mapping: 'oru_r01', resource: 'DiagnosticReport' as const })),
  { type: 'OUL^R22^OUL_R22', base: 'oul/oul-r22.hl7', mapping: 'oul_specimen', resource: 'DiagnosticReport' },
  { type: 'OUL^R23^OUL_R23', base: 'oul/oul-r23.hl7', mapping: 'oul_specimen', resource: 'DiagnosticReport' },
  { type: 'OUL^R24^OUL_R24', base: 'oul/oul-r24.hl7', mapping: 'oul_order', resource: 'DiagnosticReport' },
  { type: 'ORM^O01^ORM_O01', base: 'orm/orm-o01.hl7', mapping: 'orders', resource: 'ServiceRequest' },
  ...['OML^O21^OML_O21', 'OML^O33^OML_O33', 'OML^O35^OML_O35'].map((type) => ({ type, base: 'orm/oml-o21.hl7', mapping: 'orders', resource: 'ServiceRequest' as const })),
  { type: 'OMG^O19^OMG_O19', base: 'orm/omg-o19.hl7', mapping: 'orders', resource: 'ServiceRequest' },
  ...['S12', 'S13', 'S14', 'S15', 'S16', 'S17', 'S18', 'S19', 'S20', 'S21', 'S22', 'S26'].map((e) => ({ type: `SIU^${e}^SIU_S12`, base: 'siu/siu-s12.hl7', mapping: 'siu', resource: 'Appointment' as const })),
  ...['S23', 'S24'].map((e) => ({ type: `SIU^${e}^SIU_S12`, base: 'siu/siu-s23.hl7', mapping: 'siu', resource: 'Slot' as const })),
  ...['T01', 'T02', 'T03', 'T04', 'T05', 'T06', 'T07', 'T08', 'T09', 'T10', 'T11'].map((e) => ({ type: `MDM^${e}`, base: 'mdm/mdm-t02.hl7', mapping: 'mdm', resource: 'DocumentReference' as const })),
  { type: 'VXU^V04^VXU_V04', base: 'vxu/vxu-v04.hl7', mapping: 'vxu', resource: 'Immunization' },
  ...['RDE^O01', 'RDE^O11^RDE_O11', 'RDE^O25^RDE_O11'].map((type) => ({ type, base: 'pharmacy/rde-o11.hl7', mapping: 'pharmacy', resource: 'MedicationRequest' as const })),
  { type: 'RDS^O13^RDS_O13', base: 'pharmacy/rds-o13.hl7', mapping: 'dispense', resource: 'MedicationDispense' },
];

test(`the event list covers ${CASES.length} trigger events`, () => {
  assert.equal(CASES.length, 43);
  assert.equal(new Set(CASES.map((c) => c.type.split('^').slice(0, 2).join('^'))).size, CASES.length);
});

for (const c of CASES) {
  test(`${c.type} converts with mapping ${c.mapping} to a valid Bundle with a ${c.resource}`, () => {
    const { bundle, mappingId } = convert(withType(base(c.base), c.type));
    assert.equal(mappingId, c.mapping);
    assert.ok(resources(bundle, c.resource).length > 0, `no ${c.resource}`);
  });
}

const siu = base('siu/siu-s12.hl7');
const appointmentOf = (event: string) => {
  const all = resources(convert(withType(siu, `SIU^${event}^SIU_S12`)).bundle, 'Appointment');
  assert.equal(all.length, 1);
  return all[0]!;
};

test('SIU: S15 and S16 cancel, S17 deletes (entered-in-error) and S26 marks a no-show, on the booking S12 made', () => {
  const booked = appointmentOf('S12');
  assert.equal(booked.status, 'booked');
  const statuses = Object.fromEntries(['S15', 'S16', 'S17', 'S26'].map((e) => [e, appointmentOf(e)]));
  assert.deepEqual(Object.fromEntries(Object.entries(statuses).map(([e, a]) => [e, a.status])), {
    S15: 'cancelled',
    S16: 'cancelled',
    S17: 'entered-in-error',
    S26: 'noshow',
  });
  // The same Appointment (same conditional update), not a new one.
  const urls = new Set(['S12', 'S15', 'S17', 'S26'].map((e) => {
    const b = convert(withType(siu, `SIU^${e}^SIU_S12`)).bundle;
    return b.entry?.find((x) => x.resource?.resourceType === 'Appointment')?.request?.url;
  }));
  assert.equal(urls.size, 1);
});

test('SIU: S20-S22 withdraw the resources the message names (participant status declined), not the booking', () => {
  for (const e of ['S20', 'S21', 'S22']) {
    const a = appointmentOf(e);
    assert.equal(a.status, 'booked');
    const practitioners = (a.participant ?? []).filter((p) => p.period !== undefined);
    assert.ok(practitioners.length > 0);
    assert.ok(practitioners.every((p) => p.status === 'declined'), e);
  }
});

test('SIU: S23 blocks and S24 opens schedule time, as a Slot (busy-unavailable, free), never an Appointment', () => {
  const s23 = convert(base('siu/siu-s23.hl7')).bundle;
  const s24 = convert(withType(base('siu/siu-s23.hl7'), 'SIU^S24^SIU_S12')).bundle;
  assert.deepEqual([resources(s23, 'Slot')[0]?.status, resources(s24, 'Slot')[0]?.status], ['busy-unavailable', 'free']);
  assert.equal(resources(s23, 'Appointment').length, 0);
});

test('MDM: T11 withdraws the document T02 notified (entered-in-error), on the same DocumentReference', () => {
  const t02 = convert(base('mdm/mdm-t02.hl7')).bundle;
  const t11 = convert(base('mdm/mdm-t11.hl7')).bundle;
  const doc = (b: Bundle) => b.entry!.find((e) => e.resource?.resourceType === 'DocumentReference')!;
  assert.equal((doc(t02).resource as { status: string }).status, 'current');
  assert.equal((doc(t11).resource as { status: string }).status, 'entered-in-error');
  assert.equal(doc(t02).request?.url, doc(t11).request?.url);
});

test('VXU: RXA-21 D deletes the immunization record (entered-in-error); RXA-20 RE is not-done', () => {
  const vxu = base('vxu/vxu-v04.hl7');
  const deleted = vxu.replace(/\|CP\|A\r/, '|CP|D\r');
  const refused = vxu.replace(/\|CP\|A\r/, '|RE|A\r');
  assert.notEqual(deleted, vxu);
  assert.equal(resources(convert(deleted).bundle, 'Immunization')[0]?.status, 'entered-in-error');
  assert.equal(resources(convert(refused).bundle, 'Immunization')[0]?.status, 'not-done');
});
