/**
 * Where an order begins in ORM^O01, OML^O21 and OMG^O19: at its ORC, or at its OBR when the
 * sender gave that OBR no ORC of its own (an OML with no ORC, two OBR under one ORC). Each such
 * OBR is a ServiceRequest with its own code, reasons and answers; an ORC is met once per order,
 * so orders that are only an ORC (ORC RXO ORC RXO) stay apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Condition, Observation, ServiceRequest } from '@medplum/fhirtypes';
import { convertLines } from '../support/convert-lines.js';

const convert = (lines: readonly string[]): Bundle => convertLines(lines).bundle;

/** Each ServiceRequest as "placer: code; reasons [DG1 codes]; answers [OBX codes]". */
function orders(b: Bundle): string[] {
  const byUrl = new Map((b.entry ?? []).map((e) => [e.fullUrl, e.resource]));
  const codeOf = (ref: string | undefined): string => {
    const r = byUrl.get(ref) as Condition | Observation | undefined;
    return r?.code?.coding?.[0]?.code ?? '?';
  };
  return (b.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is ServiceRequest => r?.resourceType === 'ServiceRequest')
    .map((r) => {
      const placer = r.identifier?.find((i) => i.type?.coding?.[0]?.code === 'PLAC')?.value ?? '';
      const reasons = (r.reasonReference ?? []).map((x) => codeOf(x.reference));
      const answers = (r.supportingInfo ?? []).map((x) => codeOf(x.reference));
      return `${placer}: ${r.code?.coding?.[0]?.code ?? ''}; reasons [${reasons.join(',')}]; answers [${answers.join(',')}]`;
    });
}

function ids(b: Bundle, type: string): string[] {
  return (b.entry ?? []).filter((e) => e.resource?.resourceType === type).map((e) => e.fullUrl ?? '');
}

const PID = 'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F';

test('an OML^O21 with no ORC: its OBR is the order, with its reason and its answer', () => {
  const b = convert([
    'MSH|^~\\&|EHR|GENHOSP|LAB|GENLAB|20261121100000-0500||OML^O21^OML_O21|O1|P|2.5.1',
    PID,
    'OBR|1|ORD448811^EPIC||1000^Hepatitis panel^99USL',
    'DG1|1||F11.129^Opioid abuse with intoxication^I10|||W',
    'OBX|1|CWE|67471-3^Pregnancy^LN||UNK^Unknown^HL70353||||||O',
    'SPM|1|S-1&EPIC||119364003^Serum specimen^SCT',
  ]);
  assert.deepEqual(orders(b), ['ORD448811: 1000; reasons [F11.129]; answers [67471-3]']);
});

test('two OBR under one ORC in an ORM^O01: each is an order, the answers after the second are its own', () => {
  const b = convert([
    'MSH|^~\\&|EHR|GENHOSP|LAB|GENLAB|20261121100000-0500||ORM^O01^ORM_O01|O2|P|2.5.1',
    PID,
    'ORC|NW|421832901^EPIC||||||||20230506052913-0500',
    'OBR|1|421832901^EPIC||54089-8^Newborn screening panel^LN',
    'OBR|2|421832901^EPIC||57717-1^Newborn screen card data panel^LN',
    'OBX|1|NM|8339-4^Birth weight^LN||1769|g^gram^UCUM||||||O',
  ]);
  assert.deepEqual(orders(b), ['421832901: 54089-8; reasons []; answers []', '421832901: 57717-1; reasons []; answers [8339-4]']);
  assert.equal(new Set(ids(b, 'ServiceRequest')).size, 2, 'the same placer number twice gives two resources, not one PUT twice');
});

test('an OBR after the first order\'s specimens, its ORC missing, is an order of its own with its own DG1', () => {
  const b = convert([
    'MSH|^~\\&|EHR|GENHOSP|LAB|GENLAB|20261121100000-0500||OML^O21^OML_O21|O3|P|2.5.1',
    PID,
    'ORC|NW|ORD231-1^EPIC',
    'OBR|1|ORD231-1^EPIC||34555-3^Creatinine clearance panel^LN',
    'DG1|1||I10^Essential hypertension^I10|||F',
    'SPM|1|S-1&EPIC||276833005^24 hour urine sample^SCT',
    'OBR|2|ORD231-2^EPIC||21482-5^Protein in 24 hour urine^LN',
    'DG1|1||O10.93^Pre-existing hypertension in the puerperium^I10|||F',
  ]);
  assert.deepEqual(orders(b), ['ORD231-1: 34555-3; reasons [I10]; answers []', 'ORD231-2: 21482-5; reasons [O10.93]; answers []']);
});

test('orders that are only an ORC (ORC RXO ORC RXO) stay two orders: a second ORC begins the next one', () => {
  const b = convert([
    'MSH|^~\\&|EHR|GENHOSP|PHARM|GENHOSP|20261121100000-0500||ORM^O01^ORM_O01|O4|P|2.5.1',
    PID,
    'ORC|NW|RX1^EPIC',
    'RXO|00378-0208^Metoprolol 25 mg^NDC',
    'ORC|NW|RX2^EPIC',
    'RXO|00093-7180^Lisinopril 10 mg^NDC',
  ]);
  assert.deepEqual(orders(b), ['RX1: ; reasons []; answers []', 'RX2: ; reasons []; answers []']);
});
