/** Segments in view → the default mapping set's Bundle: the helper of the focused inbound mapping tests. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { convertMessage, loadMappingSet, type ConversionIssue } from '../../src/mapping/index.js';
import { parseMessage } from '../../src/hl7/index.js';
import { REPO_DIR } from './repo.js';

let defaultSet: ReturnType<typeof loadMappingSet> | undefined;

/** Joins the segments with CR, parses and converts them with mappings/default (site general-hospital); fails the test if either step fails. */
export function convertLines(lines: readonly string[]): { bundle: Bundle; issues: readonly ConversionIssue[] } {
  defaultSet ??= loadMappingSet(join(REPO_DIR, 'mappings/default'), 'general-hospital');
  const p = parseMessage(`${lines.join('\r')}\r`);
  assert.ok(p.ok);
  const r = convertMessage(p.message, defaultSet);
  assert.ok(r.bundle);
  return { bundle: r.bundle, issues: r.issues };
}
