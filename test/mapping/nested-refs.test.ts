/**
 * `$refs` to a resource nested inside the one being built (a report's results, its specimens)
 * name that instance's own, never another's: an order group with no OBX of its own gives a
 * DiagnosticReport with no result, not the results of the report before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, DiagnosticReport, Observation } from '@medplum/fhirtypes';
import { convertLines } from '../support/convert-lines.js';

const convert = (lines: readonly string[]): Bundle => convertLines(lines).bundle;

/** Each report's code, then the codes of the Observations its result and the Specimens its specimen point at. */
function reports(b: Bundle): string[] {
  const byUrl = new Map((b.entry ?? []).map((e) => [e.fullUrl, e.resource]));
  return (b.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is DiagnosticReport => r?.resourceType === 'DiagnosticReport')
    .map((r) => {
      const results = (r.result ?? []).map((x) => (byUrl.get(x.reference) as Observation | undefined)?.code?.coding?.[0]?.code ?? '?');
      return `${r.code.coding?.[0]?.code ?? ''}: results [${results.join(',')}], specimens ${(r.specimen ?? []).length}`;
    });
}

const HEAD = [
  'MSH|^~\\&|LAB|GENLAB|EHR|GENHOSP|20261121100000-0500||ORU^R01^ORU_R01|R1|P|2.5.1',
  'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F',
];

test('an order group with no OBX of its own gives a report with no result, not the results of the report before it', () => {
  const b = convert([
    ...HEAD,
    'ORC|RE|ORD1^EPIC|FIL1^LAB',
    'OBR|1|ORD1^EPIC|FIL1^LAB|24331-1^Lipid panel^LN',
    'OBX|1|NM|2093-3^Cholesterol^LN||182|mg/dL^mg/dL^UCUM|||||F',
    'ORC|RE|ORD2^EPIC|FIL2^LAB',
    'OBR|2|ORD2^EPIC|FIL2^LAB|57021-8^CBC^LN',
  ]);
  assert.deepEqual(reports(b), ['24331-1: results [2093-3], specimens 0', '57021-8: results [], specimens 0']);
});

test('a report with no SPM of its own takes no specimen from the report before it', () => {
  const b = convert([
    ...HEAD,
    'ORC|RE|ORD1^EPIC|FIL1^LAB',
    'OBR|1|ORD1^EPIC|FIL1^LAB|24331-1^Lipid panel^LN',
    'OBX|1|NM|2093-3^Cholesterol^LN||182|mg/dL^mg/dL^UCUM|||||F',
    'SPM|1|S-1&EPIC||119364003^Serum specimen^SCT',
    'ORC|RE|ORD2^EPIC|FIL2^LAB',
    'OBR|2|ORD2^EPIC|FIL2^LAB|57021-8^CBC^LN',
    'OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL^g/dL^UCUM|||||F',
  ]);
  assert.deepEqual(reports(b), ['24331-1: results [2093-3], specimens 1', '57021-8: results [718-7], specimens 0']);
});
