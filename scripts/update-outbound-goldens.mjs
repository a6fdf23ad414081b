#!/usr/bin/env node
// Rewrites test/outbound/golden/<mapping>.hl7 from the current outbound mappings (see
// test/outbound/cases.ts). Run `npm run build` first; review the diff by eye before committing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_CASES, GOLDEN_DIR, loadDefaultOutbound, runCase } from '../dist/test/outbound/cases.js';

const set = loadDefaultOutbound();
for (const c of GOLDEN_CASES) {
  const r = runCase(set, c);
  if (r.text === null || r.mappingId !== c.mapping) {
    console.error(`${c.input}: expected mapping ${c.mapping}, got ${r.mappingId}`);
    process.exit(1);
  }
  writeFileSync(join(GOLDEN_DIR, `${c.mapping}.hl7`), r.text.replaceAll('\r', '\n'));
  console.log(`${c.mapping}.hl7 ← ${c.input} (${r.issues.length} issues)`);
}
