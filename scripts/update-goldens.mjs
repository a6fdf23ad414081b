#!/usr/bin/env node
// Writes test-messages/expected/<dir>/<name>.json: the Bundle the default mappings make of each
// hand-made message. Run after a deliberate mapping change, then review the diff by eye before
// committing: the golden test (test/mapping/golden.test.ts) compares against these files.
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
const root = new URL('..', import.meta.url).pathname;
const { loadMappingSet, convertMessage } = await import(join(root, 'dist/src/mapping/index.js'));
const { parseMessage } = await import(join(root, 'dist/src/hl7/index.js'));
const { decodeMessage } = await import(join(root, 'dist/src/charset/index.js'));
const set = loadMappingSet(join(root, 'mappings/default'), 'general-hospital');
// Every folder of hand-made messages except those that feed other tests (the golden test skips the same).
const NOT_GOLDEN = new Set(['bad', 'charset', 'expected']);
const dirs = readdirSync(join(root, 'test-messages'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && !NOT_GOLDEN.has(d.name))
  .map((d) => d.name)
  .sort();
for (const dir of dirs) {
  mkdirSync(join(root, 'test-messages/expected', dir), { recursive: true });
  for (const f of readdirSync(join(root, 'test-messages', dir)).filter((x) => x.endsWith('.hl7')).sort()) {
    const d = decodeMessage(readFileSync(join(root, 'test-messages', dir, f)), { fallback: 'windows-1252' });
    const p = parseMessage(d.text);
    if (!p.ok) throw new Error(`${dir}/${f}: ${p.error.message}`);
    const r = convertMessage(p.message, set);
    const out = join(root, 'test-messages/expected', dir, f.replace(/\.hl7$/, '.json'));
    writeFileSync(out, JSON.stringify({ bundle: r.bundle, issues: r.issues }, null, 2) + '\n');
    console.log(`wrote ${out}`);
  }
}
