/**
 * Each hand-made file in test-messages/charset/ decodes to the outcome its README row states.
 * The README is the specification; this test keeps the two from drifting apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { decodeMessage } from '../../src/charset/index.js';
import { decodeOk, MESSAGES_DIR, pidName } from './helpers.js';

interface Row {
  readonly file: string;
  readonly source: string;
  readonly charset: string;
  readonly repairs: string;
  readonly pid5: string;
}

function readmeRows(): Row[] {
  const lines = readFileSync(MESSAGES_DIR + 'README.md', 'utf8').split('\n');
  return lines
    .filter((line) => /^\| [\w.-]+\.hl7 \|/.test(line))
    .map((line) => {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      const [file = '', , source = '', charset = '', repairs = '', pid5 = ''] = cells;
      return { file, source, charset, repairs, pid5 };
    });
}

const rows = readmeRows();

test('every .hl7 file in test-messages/charset has a README row, and every row a file', () => {
  const files = readdirSync(MESSAGES_DIR).filter((f) => f.endsWith('.hl7')).sort();
  assert.deepEqual(rows.map((r) => r.file).sort(), files);
});

for (const row of rows) {
  test(`${row.file} decodes with source ${row.source}, charset ${row.charset}, repairs ${row.repairs}`, () => {
    const result = decodeOk(readFileSync(MESSAGES_DIR + row.file));
    assert.equal(result.decision.source, row.source);
    assert.equal(result.decision.charset, row.charset);
    const repairs = result.repairs.map((r) => `${r.kind}×${r.count}`).join(', ') || '–';
    assert.equal(repairs, row.repairs);
    assert.equal(pidName(result.text), row.pid5);
  });
}

for (const file of ['latin1-name.hl7', 'cp1252-name.hl7', 'declared-utf8-but-latin1.hl7']) {
  test(`${file} is refused with fallback "reject", naming where UTF-8 breaks`, () => {
    const bytes = readFileSync(MESSAGES_DIR + file);
    const firstHigh = bytes.findIndex((b) => b >= 0x80);
    const result = decodeMessage(bytes, { fallback: 'reject' });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.category, 'charset');
    assert.match(result.message, new RegExp(`byte offset ${firstHigh}\\b`));
  });
}

test('with fallback "reject" the files that are UTF-8, BOM-marked or 7-bit still decode', () => {
  const refused = new Set(['latin1-name.hl7', 'cp1252-name.hl7', 'declared-utf8-but-latin1.hl7']);
  for (const row of rows.filter((r) => !refused.has(r.file))) {
    const bytes = readFileSync(MESSAGES_DIR + row.file);
    const result = decodeMessage(bytes, { fallback: 'reject' });
    assert.ok(result.ok, `${row.file} (valid UTF-8: ${isUtf8(bytes)})`);
  }
});
