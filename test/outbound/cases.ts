/**
 * The outbound golden cases: for each default outbound mapping, a reviewed inbound Bundle from
 * test-messages/expected/ as input and the v2 message it must become, kept in
 * test/outbound/golden/<mapping id>.hl7 with LF between segments so a diff reads by eye
 * (the engine writes CR). Regenerate after a deliberate change with
 * `npm run build && node scripts/update-outbound-goldens.mjs`, then review the diff.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateMessage, loadOutboundSet, type GenerateResult, type OutboundSet } from '../../src/outbound/index.js';
import { REPO_DIR } from '../support/repo.js';

export const OUTBOUND_DIR = join(REPO_DIR, 'mappings/outbound');
export const GOLDEN_DIR = join(REPO_DIR, 'test/outbound/golden');
/** Fixed, so the goldens do not depend on the clock; MSH-10 comes from the Bundle id. */
export const MESSAGE_TIME = '2026-12-01T10:00:00-05:00';

export const GOLDEN_CASES: readonly { readonly mapping: string; readonly input: string }[] = [
  { mapping: 'vxu_v04', input: 'vxu/vxu-v04.json' },
  { mapping: 'oru_r01', input: 'oru/oru-r01.json' },
  { mapping: 'oml_o21', input: 'orm/oml-o21.json' },
  { mapping: 'orm_o01', input: 'orm/orm-o01.json' },
  { mapping: 'adt_a04', input: 'adt/adt-a04.json' },
  { mapping: 'adt_a31', input: 'adt/adt-a31.json' },
  { mapping: 'adt_a08', input: 'adt/adt-a08.json' },
];

export function loadDefaultOutbound(): OutboundSet {
  return loadOutboundSet(OUTBOUND_DIR, { site: 'general-hospital' });
}

export function expectedBundle(input: string): unknown {
  return (JSON.parse(readFileSync(join(REPO_DIR, 'test-messages/expected', input), 'utf8')) as { bundle: unknown }).bundle;
}

export function runCase(set: OutboundSet, c: { mapping: string; input: string }): GenerateResult {
  return generateMessage(expectedBundle(c.input), set, { messageTime: MESSAGE_TIME });
}

/**
 * The ORU golden input as one patient's n-th record: its report's filler number is
 * "<patient>-<n>" (OBR-3, so a receiver can read the order it got them in), the patient's MRN
 * "MRN-<patient>" (PID-3.1), and a fresh Bundle id.
 */
export function oruBundleFor(patient: string, n: number): string {
  const b = structuredClone(expectedBundle('oru/oru-r01.json')) as { id: string; entry: { resource: Record<string, unknown> }[] };
  b.id = `${patient}-${n}-${randomUUID()}`;
  const report = b.entry.find((e) => e.resource['resourceType'] === 'DiagnosticReport');
  const pat = b.entry.find((e) => e.resource['resourceType'] === 'Patient');
  if (!report || !pat) throw new Error('the ORU golden input has no DiagnosticReport or Patient');
  report.resource['identifier'] = [{ type: { coding: [{ code: 'FILL' }] }, value: `${patient}-${n}` }];
  pat.resource['identifier'] = [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: `MRN-${patient}` }];
  return JSON.stringify(b);
}
