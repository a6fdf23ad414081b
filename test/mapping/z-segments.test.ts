/**
 * A Z-segment (site-defined; v2 lets a sender put one anywhere) inside a segment group stays in
 * that group instead of closing it: the OBX after it is still its OBR's result, not an unmapped
 * segment at the message level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DiagnosticReport, Observation } from '@medplum/fhirtypes';
import { convertMessage, loadMappingSet } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { REPO_DIR } from '../support/repo.js';

const set = loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');

test('an OBX after a Z-segment between OBR and OBX is still a result of that report', () => {
  const p = parseMessage(
    [
      'MSH|^~\\&|LAB|GENLAB|EHR|GENHOSP|20261121100000-0500||ORU^R01^ORU_R01|R1|P|2.5.1',
      'PID|1||123456789^^^GENHOSP^MR||DOE^JANE||19800215|F',
      'ORC|RE|ORD1^EPIC|FIL1^LAB',
      'OBR|1|ORD1^EPIC|FIL1^LAB|94500-6^SARS-CoV-2 RNA^LN',
      'ZLR|1|Bismarck Event Surveillance',
      'OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260415000^Not detected^SCT||||||F',
      '',
    ].join('\r'),
  );
  assert.ok(p.ok);
  const r = convertMessage(p.message, set);
  assert.ok(r.bundle);
  const resources = (r.bundle.entry ?? []).map((e) => e.resource);
  const obs = resources.filter((x): x is Observation => x?.resourceType === 'Observation');
  assert.deepEqual(obs.map((o) => o.valueCodeableConcept?.coding?.[0]?.code), ['260415000']);
  const report = resources.find((x): x is DiagnosticReport => x?.resourceType === 'DiagnosticReport');
  assert.equal(report?.result?.length, 1, 'the report lists it as its result');
  assert.deepEqual(r.issues.filter((i) => i.code === 'unmapped-segment').map((i) => i.location), ['ZLR'], 'only the Z-segment itself is unmapped');
});
