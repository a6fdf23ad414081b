// v2 in → FHIR (default mappings) → v2 out (default outbound mappings) over the external corpus:
// every message of a type with an outbound twin (ADT, ORU, OML, ORM, VXU) about one patient.
// Every output must parse in this project's parser and in HAPI HL7v2. The fields issue 14 names
// (PID-3, PID-5, PID-7, PID-8, OBR-4, OBX-3, OBX-5, OBX-6, ORC-2) are compared as in
// test/outbound/roundtrip.test.ts; real feeds lose more on the way through FHIR (a birth time in
// PID-7, sex codes A and N that both become "other", identifiers without a number, codes sent
// with no code), so the messages with a difference are counted against a ceiling measured when
// this test was written: lower it as the mappings improve, never raise it silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage } from '../../src/charset/index.js';
import { parseMessage, type Hl7Message } from '../../src/hl7/index.js';
import { convertMessage, loadMappingSet } from '../../src/mapping/index.js';
import { splitMessagesInFile } from '../../src/mllp/split-file.js';
import { generateMessage, loadOutboundSet } from '../../src/outbound/index.js';
import { hapiCheck } from '../../test/support/hapi.js';
import { corpusMessageFiles, readCorpusFile, REPO_DIR } from '../support/corpus.js';

const SCOPE = /^(ADT|ORU|OML|ORM|VXU)\^/;
const FIELDS: Readonly<Record<string, readonly number[]>> = { PID: [3, 5, 7, 8], OBR: [4], OBX: [3, 5, 6], ORC: [2] };
/** Measured 2026-12-02: 296 of the 445 outputs (490 in-scope messages) differ in at least one field; ORC-2 and PID-3 lead. */
const DIFFERENT_CEILING = 296;

function fieldsOf(m: Hl7Message): Map<string, string> {
  const out = new Map<string, string>();
  for (const [seg, fields] of Object.entries(FIELDS)) {
    for (const n of fields) {
      out.set(`${seg}-${n}`, JSON.stringify(m.segments(seg).map((s) => (seg === 'OBX' && n === 6 && (s.getRaw(5) ?? '') === '' ? '' : s.getAll(n).join('~')))));
    }
  }
  return out;
}

test('corpus round trip v2 → FHIR → v2: outputs parse here and in HAPI; field differences stay under the ceiling', () => {
  const inbound = loadMappingSet(join(REPO_DIR, 'mappings/default'));
  const outbound = loadOutboundSet(join(REPO_DIR, 'mappings/outbound'));
  const outputs: { label: string; text: string }[] = [];
  const differing = new Map<string, number>();
  let inScope = 0;
  let different = 0;
  for (const file of corpusMessageFiles()) {
    splitMessagesInFile(readCorpusFile(file)).forEach((bytes, i) => {
      const d = decodeMessage(bytes, { fallback: 'windows-1252' });
      if (!d.ok) return;
      const p = parseMessage(d.text);
      if (!p.ok) return;
      const msh = p.message.msh();
      if (!SCOPE.test(`${msh.messageCode}^${msh.triggerEvent}`) || p.message.segments('PID').length !== 1) return;
      const bundle = convertMessage(p.message, inbound).bundle;
      if (!bundle) return;
      inScope++;
      const r = generateMessage(bundle, outbound, { messageTime: '2026-12-01T10:00:00-05:00' });
      if (r.text === null) return;
      const label = `${file}#${i + 1}`;
      const q = parseMessage(r.text);
      assert.ok(q.ok, `${label}: the output parses in this project's parser`);
      outputs.push({ label, text: r.text });
      const a = fieldsOf(p.message);
      const b = fieldsOf(q.message);
      let same = true;
      for (const [k, v] of a) {
        if (b.get(k) !== v) {
          same = false;
          differing.set(k, (differing.get(k) ?? 0) + 1);
        }
      }
      if (!same) different++;
    });
  }
  assert.ok(inScope >= 400, `the corpus still has its in-scope messages (${inScope})`);
  const dir = mkdtempSync(join(tmpdir(), 'hl7-corpus-out-'));
  try {
    const files = outputs.map((o, i) => {
      const f = join(dir, `${String(i).padStart(4, '0')}.hl7`);
      writeFileSync(f, o.text);
      return f;
    });
    const failed = hapiCheck(files)
      .map((v, i) => (v.ok ? null : `${outputs[i]?.label ?? ''}: ${v.detail}`))
      .filter((x): x is string => x !== null);
    assert.deepEqual(failed, [], 'every output parses in HAPI');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const detail = [...differing].map(([k, n]) => `${k}: ${n}`).join(', ');
  assert.ok(different <= DIFFERENT_CEILING, `${different} of ${inScope} messages differ (ceiling ${DIFFERENT_CEILING}); by field: ${detail}`);
});
