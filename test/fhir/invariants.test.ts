/**
 * Each R4 invariant the fast validator has written out in TypeScript gives the same verdict as
 * @medplum/core's FHIRPath evaluation of its expression, on values that hold and values that
 * break it (a written-out check may answer "undecided" and leave the case to FHIRPath).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fhirPathHolds, handWrittenInvariants, type InvariantContext } from '../../src/fhir/invariants.js';
import { structureIndex } from '../../src/fhir/structure.js';

type Obj = Record<string, unknown>;
interface Case {
  /** The type the expression is evaluated on, as @medplum/core names it. */
  readonly type: string;
  readonly samples: readonly Obj[];
  /** The written-out check only ever answers "holds" and leaves every other case to FHIRPath. */
  readonly holdsOnly?: boolean;
}

const concept = (system: string, code: string): Obj => ({ coding: [{ system, code }] });
const ALLERGY = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';
const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const CONDITION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const entry = (o: Obj): Obj => ({ fullUrl: 'urn:uuid:00000000-0000-5000-8000-000000000001', ...o });

const CASES: Readonly<Record<string, Case>> = {
  'ext-1': {
    type: 'Extension',
    samples: [{ url: 'u' }, { url: 'u', valueString: 'x' }, { url: 'u', extension: [{ url: 'v', valueBoolean: true }] }, { url: 'u', valueString: 'x', extension: [{ url: 'v', valueBoolean: true }] }],
  },
  'bdl-1': { type: 'Bundle', samples: [{ resourceType: 'Bundle', type: 'transaction' }, { resourceType: 'Bundle', type: 'transaction', total: 1 }, { resourceType: 'Bundle', type: 'searchset', total: 1 }] },
  'bdl-2': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ request: { method: 'PUT', url: 'Patient/1' } })] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ search: { mode: 'match' } })] },
      { resourceType: 'Bundle', type: 'searchset', entry: [entry({ search: { mode: 'match' } })] },
    ],
  },
  'bdl-3': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ request: { method: 'PUT', url: 'Patient/1' } })] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ resource: { resourceType: 'Patient' } })] },
      { resourceType: 'Bundle', type: 'collection', entry: [entry({ request: { method: 'PUT', url: 'Patient/1' } })] },
      { resourceType: 'Bundle', type: 'collection', entry: [entry({ resource: { resourceType: 'Patient' } })] },
    ],
  },
  'bdl-4': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ request: { method: 'PUT', url: 'Patient/1' } })] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ response: { status: '200' } })] },
      { resourceType: 'Bundle', type: 'transaction-response', entry: [entry({ response: { status: '200' } })] },
    ],
  },
  'bdl-7': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({}), { fullUrl: 'urn:uuid:00000000-0000-5000-8000-000000000002' }] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({}), entry({})] },
      { resourceType: 'Bundle', type: 'history', entry: [entry({}), entry({})] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ resource: { resourceType: 'Patient', meta: { versionId: '1' } } }), entry({ resource: { resourceType: 'Patient', meta: { versionId: '2' } } })] },
    ],
  },
  'bdl-9': { type: 'Bundle', samples: [{ resourceType: 'Bundle', type: 'document' }, { resourceType: 'Bundle', type: 'document', identifier: { system: 's', value: 'v' } }, { resourceType: 'Bundle', type: 'transaction' }] },
  'bdl-10': { type: 'Bundle', samples: [{ resourceType: 'Bundle', type: 'document' }, { resourceType: 'Bundle', type: 'document', timestamp: '2024-03-01T10:00:00Z' }, { resourceType: 'Bundle', type: 'batch' }] },
  'bdl-11': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'document', entry: [entry({ resource: { resourceType: 'Patient' } })] },
      { resourceType: 'Bundle', type: 'document', entry: [entry({ resource: { resourceType: 'Composition' } })] },
      { resourceType: 'Bundle', type: 'transaction', entry: [entry({ resource: { resourceType: 'Patient' } })] },
    ],
  },
  'bdl-12': {
    type: 'Bundle',
    samples: [
      { resourceType: 'Bundle', type: 'message', entry: [entry({ resource: { resourceType: 'Patient' } })] },
      { resourceType: 'Bundle', type: 'message', entry: [entry({ resource: { resourceType: 'MessageHeader' } })] },
      { resourceType: 'Bundle', type: 'transaction' },
    ],
  },
  'bdl-5': { type: 'BundleEntry', samples: [{ fullUrl: 'urn:x' }, { fullUrl: 'urn:x', resource: { resourceType: 'Patient' } }, { request: { method: 'GET', url: 'Patient' } }] },
  'bdl-8': { type: 'BundleEntry', samples: [{ fullUrl: 'http://x/Patient/1' }, { fullUrl: 'http://x/Patient/1/_history/2' }, { request: { method: 'GET', url: 'Patient' } }] },
  'dom-2': {
    type: 'Patient',
    samples: [{ resourceType: 'Patient' }, { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o' }] }, { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', contained: [{ resourceType: 'Organization', id: 'p' }] }] }],
  },
  'dom-4': {
    type: 'Patient',
    samples: [{ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o' }] }, { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', meta: { versionId: '1' } }] }, { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', meta: { lastUpdated: '2024-03-01T10:00:00Z' } }] }],
  },
  'dom-5': {
    type: 'Patient',
    samples: [{ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o' }] }, { resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'o', meta: { security: [{ code: 'R' }] } }] }],
  },
  'pat-1': { type: 'PatientContact', samples: [{ gender: 'male' }, { name: { family: 'X' } }, { organization: { reference: 'Organization/1' } }] },
  'obs-3': { type: 'ObservationReferenceRange', samples: [{ type: { text: 't' } }, { text: 'r' }, { low: { value: 1 } }] },
  'obs-6': { type: 'Observation', samples: [{ resourceType: 'Observation', valueString: 'x' }, { resourceType: 'Observation', dataAbsentReason: { text: 'x' } }, { resourceType: 'Observation', valueString: 'x', dataAbsentReason: { text: 'x' } }] },
  'obs-7': {
    type: 'Observation',
    holdsOnly: true,
    samples: [
      { resourceType: 'Observation', valueString: 'x' },
      { resourceType: 'Observation', component: [{ code: { text: 'c' } }] },
      { resourceType: 'Observation', code: concept('http://loinc.org', '1'), valueString: 'x', component: [{ code: concept('http://loinc.org', '1') }] },
    ],
  },
  'ait-1': {
    type: 'AllergyIntolerance',
    samples: [
      { resourceType: 'AllergyIntolerance' },
      { resourceType: 'AllergyIntolerance', clinicalStatus: { text: 'x' } },
      { resourceType: 'AllergyIntolerance', verificationStatus: concept(ALLERGY, 'entered-in-error') },
    ],
  },
  'ait-2': {
    type: 'AllergyIntolerance',
    samples: [
      { resourceType: 'AllergyIntolerance', clinicalStatus: { text: 'x' } },
      { resourceType: 'AllergyIntolerance', clinicalStatus: { text: 'x' }, verificationStatus: concept(ALLERGY, 'entered-in-error') },
      { resourceType: 'AllergyIntolerance', clinicalStatus: { text: 'x' }, verificationStatus: concept(ALLERGY, 'confirmed') },
    ],
  },
  'con-1': { type: 'ConditionStage', samples: [{ type: { text: 't' } }, { summary: { text: 's' } }, { assessment: [{ reference: 'Observation/1' }] }] },
  'con-2': { type: 'ConditionEvidence', samples: [{}, { code: [{ text: 'c' }] }, { detail: [{ reference: 'Observation/1' }] }] },
  'con-4': {
    type: 'Condition',
    samples: [
      { resourceType: 'Condition', abatementDateTime: '2024' },
      { resourceType: 'Condition', abatementDateTime: '2024', clinicalStatus: concept(CLINICAL, 'resolved') },
      { resourceType: 'Condition', abatementString: 'x', clinicalStatus: concept(CLINICAL, 'active') },
      { resourceType: 'Condition' },
    ],
  },
  'con-5': {
    type: 'Condition',
    samples: [
      { resourceType: 'Condition', clinicalStatus: concept(CLINICAL, 'active') },
      { resourceType: 'Condition', clinicalStatus: concept(CLINICAL, 'active'), verificationStatus: concept(CONDITION, 'entered-in-error') },
      { resourceType: 'Condition', verificationStatus: concept(CONDITION, 'entered-in-error') },
    ],
  },
  'prr-1': { type: 'ServiceRequest', samples: [{ resourceType: 'ServiceRequest', orderDetail: [{ text: 'd' }] }, { resourceType: 'ServiceRequest', orderDetail: [{ text: 'd' }], code: { text: 'c' } }, { resourceType: 'ServiceRequest' }] },
  'org-1': { type: 'Organization', samples: [{ resourceType: 'Organization' }, { resourceType: 'Organization', name: 'n' }, { resourceType: 'Organization', identifier: [{ value: 'v' }] }] },
  'org-2': { type: 'Address', samples: [{ use: 'home', city: 'c' }, { use: 'work', city: 'c' }, { city: 'c' }] },
  'org-3': { type: 'ContactPoint', samples: [{ use: 'home', value: 'v', system: 'phone' }, { use: 'work', value: 'v', system: 'phone' }] },
  'per-1': {
    type: 'Period',
    samples: [
      { start: '2024-03-01T10:00:00Z', end: '2024-03-02T10:00:00Z' },
      { start: '2024-03-02T10:00:00Z', end: '2024-03-01T10:00:00Z' },
      { start: '2024-03-01', end: '2024-03-01' },
      { start: '2024-03-02', end: '2024-03-01' },
      { start: '2024-03-01T10:00:00-05:00', end: '2024-03-01T09:00:00-05:00' },
      { start: '2024-03-01T10:00:00Z' },
    ],
  },
  'ctm-1': {
    type: 'CareTeamParticipant',
    holdsOnly: true,
    samples: [{ member: { reference: 'Practitioner/1' } }, { role: [concept('http://snomed.info/sct', '17561000')] }],
  },
  'gol-1': {
    type: 'GoalTarget',
    samples: [
      { measure: concept('http://loinc.org', '8480-6'), detailQuantity: { value: 120 } },
      { detailQuantity: { value: 120 } },
      { measure: concept('http://loinc.org', '8480-6') },
      { dueDate: '2026-01-01' },
    ],
  },
  'app-1': { type: 'AppointmentParticipant', samples: [{ status: 'accepted', actor: { reference: 'Patient/1' } }, { status: 'accepted', type: [concept('http://x', 'ATND')] }, { status: 'accepted' }] },
  'app-2': {
    type: 'Appointment',
    samples: [
      { resourceType: 'Appointment', status: 'booked', start: '2026-01-01T10:00:00Z', end: '2026-01-01T10:30:00Z', participant: [] },
      { resourceType: 'Appointment', status: 'booked', start: '2026-01-01T10:00:00Z', participant: [] },
      { resourceType: 'Appointment', status: 'proposed', participant: [] },
    ],
  },
  'app-3': {
    type: 'Appointment',
    samples: [
      { resourceType: 'Appointment', status: 'booked', start: '2026-01-01T10:00:00Z', end: '2026-01-01T10:30:00Z' },
      { resourceType: 'Appointment', status: 'booked' },
      { resourceType: 'Appointment', status: 'cancelled' },
      { resourceType: 'Appointment', status: 'waitlist', start: '2026-01-01T10:00:00Z' },
    ],
  },
  'app-4': {
    type: 'Appointment',
    samples: [
      { resourceType: 'Appointment', status: 'cancelled', cancelationReason: concept('http://x', 'pat') },
      { resourceType: 'Appointment', status: 'noshow', cancelationReason: concept('http://x', 'pat') },
      { resourceType: 'Appointment', status: 'entered-in-error', cancelationReason: concept('http://x', 'pat') },
      { resourceType: 'Appointment', status: 'booked' },
    ],
  },
  'mdd-1': {
    type: 'MedicationDispense',
    samples: [
      { resourceType: 'MedicationDispense', status: 'completed', whenPrepared: '2026-01-01T10:00:00Z', whenHandedOver: '2026-01-01T11:00:00Z' },
      { resourceType: 'MedicationDispense', status: 'completed', whenPrepared: '2026-01-01T11:00:00Z', whenHandedOver: '2026-01-01T10:00:00Z' },
      { resourceType: 'MedicationDispense', status: 'completed', whenHandedOver: '2026-01-01T10:00:00Z' },
    ],
  },
  'tim-1': { type: 'TimingRepeat', samples: [{ duration: 1, durationUnit: 'h' }, { duration: 1 }, { count: 1 }] },
  'tim-2': { type: 'TimingRepeat', samples: [{ period: 1, periodUnit: 'd' }, { period: 1 }, { count: 1 }] },
  'tim-4': { type: 'TimingRepeat', samples: [{ duration: 1, durationUnit: 'h' }, { duration: -1, durationUnit: 'h' }, { count: 1 }] },
  'tim-5': { type: 'TimingRepeat', samples: [{ period: 1, periodUnit: 'd' }, { period: -1, periodUnit: 'd' }, { count: 1 }] },
  'tim-6': { type: 'TimingRepeat', samples: [{ period: 1, periodMax: 2, periodUnit: 'd' }, { periodMax: 2, periodUnit: 'd' }, { count: 1 }] },
  'tim-7': { type: 'TimingRepeat', samples: [{ duration: 1, durationMax: 2, durationUnit: 'h' }, { durationMax: 2, durationUnit: 'h' }, { count: 1 }] },
  'tim-8': { type: 'TimingRepeat', samples: [{ count: 1, countMax: 2 }, { countMax: 2 }, { period: 1, periodUnit: 'd' }] },
  'tim-9': { type: 'TimingRepeat', samples: [{ offset: 30, when: ['AC'] }, { offset: 30, when: ['C'] }, { offset: 30 }, { when: ['C'] }] },
  'tim-10': { type: 'TimingRepeat', samples: [{ timeOfDay: ['08:00:00'] }, { when: ['MORN'] }, { timeOfDay: ['08:00:00'], when: ['MORN'] }] },
  'rng-2': { type: 'Range', samples: [{ low: { value: 1 }, high: { value: 2 } }, { low: { value: 3 }, high: { value: 2 } }, { low: { value: 3, code: 'mg', system: 'http://unitsofmeasure.org' }, high: { value: 2, code: 'mg', system: 'http://unitsofmeasure.org' } }, { low: { value: 1 } }] },
  'cpt-2': { type: 'ContactPoint', samples: [{ value: '555' }, { value: '555', system: 'phone' }, { system: 'phone' }] },
  'qty-3': { type: 'Quantity', samples: [{ value: 1, code: 'mg' }, { value: 1, code: 'mg', system: 'http://unitsofmeasure.org' }, { value: 1 }] },
  'sqty-1': { type: 'Quantity', samples: [{ value: 1 }, { value: 1, comparator: '<' }] },
  'drt-1': {
    type: 'Duration',
    samples: [{ value: 1, code: 'd', system: 'http://unitsofmeasure.org' }, { value: 1, code: 'd', system: 'http://example.org' }, { code: 'd', system: 'http://unitsofmeasure.org' }, { value: 1, unit: 'days' }],
  },
  'att-1': { type: 'Attachment', samples: [{ data: 'QUJD' }, { data: 'QUJD', contentType: 'text/plain' }, { url: 'http://x' }] },
  'rat-1': { type: 'Ratio', samples: [{ numerator: { value: 1 }, denominator: { value: 2 } }, { numerator: { value: 1 } }, { denominator: { value: 2 } }, { extension: [{ url: 'u', valueString: 'x' }] }] },
};

test('every written-out invariant has cases here, and each case decides both ways', () => {
  const hand = handWrittenInvariants();
  const missing = [...hand.keys()].filter((k) => !(k in CASES) && k !== 'dom-3' && k !== 'ref-1');
  assert.deepEqual(missing, [], 'written-out invariants without cases in this test');
});

for (const [key, c] of Object.entries(CASES)) {
  test(`${key}: the written-out check agrees with FHIRPath on ${c.samples.length} values, some holding and some not`, () => {
    const hand = handWrittenInvariants().get(key);
    assert.ok(hand, `${key} is written out`);
    const verdicts: boolean[] = [];
    for (const sample of c.samples) {
      const ctx: InvariantContext = { resource: sample['resourceType'] ? sample : undefined, root: sample['resourceType'] ? sample : undefined };
      const mine = hand.test(sample, ctx);
      const fhirpath = fhirPathHolds(hand.expression, sample, c.type, ctx);
      if (mine !== undefined) assert.equal(mine, fhirpath, `${key} on ${JSON.stringify(sample)}: written-out ${mine}, FHIRPath ${fhirpath}`);
      verdicts.push(fhirpath);
    }
    if (!c.holdsOnly) assert.ok(verdicts.includes(true) && verdicts.includes(false), `${key}: the samples should include values that hold and values that do not (${verdicts.join(', ')})`);
  });
}

test('each written-out invariant implements the expression the R4 definitions give for its key', () => {
  const ix = structureIndex();
  const expressions = new Map<string, Set<string>>();
  const collect = (list: readonly { key: string; expression: string }[]): void => {
    for (const c of list) (expressions.get(c.key) ?? expressions.set(c.key, new Set()).get(c.key)!).add(c.expression);
  };
  for (const name of ['Bundle', 'Bundle.entry', 'Patient', 'Patient.contact', 'Observation', 'Observation.referenceRange', 'AllergyIntolerance', 'Condition', 'Condition.stage', 'Condition.evidence', 'CareTeam', 'Goal', 'Appointment', 'Appointment.participant', 'MedicationDispense', 'Timing', 'ServiceRequest', 'Organization', 'Period', 'Range', 'ContactPoint', 'Quantity', 'Duration', 'Attachment', 'Ratio', 'Reference', 'Extension']) {
    const t = ix.type(name);
    assert.ok(t, name);
    collect(t.constraints);
    for (const el of t.elements.values()) collect(el.constraints);
  }
  collect(ix.profile('SimpleQuantity')?.constraints ?? []);
  for (const [key, hand] of handWrittenInvariants()) {
    const defined = expressions.get(key);
    assert.ok(defined?.has(hand.expression), `${key}: the definitions say ${[...(defined ?? [])].join(' | ') || 'nothing'}`);
  }
});
