import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CORPUS_DIR } from '../support/corpus.js';
import type { CorpusFileResult } from './corpus-roundtrip.worker.js';

const corpusUrl = pathToFileURL(CORPUS_DIR + '/');

function runCorpus(timeoutMs: number): Promise<CorpusFileResult[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./corpus-roundtrip.worker.js', import.meta.url), {
      workerData: corpusUrl.href,
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`corpus round trip did not finish within ${timeoutMs} ms: the parser hangs on some input`));
    }, timeoutMs);
    worker.once('message', (results: CorpusFileResult[]) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(results);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test('every HL7 file in the corpus either round-trips byte for byte or fails with a ParseError code', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(join(CORPUS_DIR, 'MANIFEST.tsv')), `corpus not found at ${CORPUS_DIR}`);
  const results = await runCorpus(60_000);

  const thrown = results.filter((r) => r.thrown !== null);
  assert.deepEqual(thrown.map((r) => `${r.path}: ${r.thrown}`), [], 'parseMessage/splitBatch must never throw');
  const mismatched = results.filter((r) => r.mismatches > 0).map((r) => r.path);
  assert.deepEqual(mismatched, [], 'a parsed message must serialise back to exactly its text');
  assert.equal(results.reduce((n, r) => n + r.badErrors, 0), 0, 'every ParseError has a category and a message');

  const filesAllParsed = results.filter((r) => r.errors.length === 0 && r.parsed > 0);
  const messages = results.reduce((n, r) => n + r.messages, 0);
  const parsed = results.reduce((n, r) => n + r.parsed, 0);
  const byCode = new Map<string, number>();
  for (const r of results) for (const code of r.errors) byCode.set(code, (byCode.get(code) ?? 0) + 1);
  const badInputs = results.filter((r) => r.path.includes('/BadInputs/'));

  console.log(
    `# corpus: ${results.length} files, ${filesAllParsed.length} parse completely; ` +
      `${messages} messages, ${parsed} parsed; failures by code: ` +
      JSON.stringify(Object.fromEntries([...byCode].sort())),
  );
  for (const r of results) {
    if (r.errors.length === 0 || r.path.includes('/BadInputs/')) continue;
    const counts = new Map<string, number>();
    for (const code of r.errors) counts.set(code, (counts.get(code) ?? 0) + 1);
    console.log(`#   ${r.path}: ${[...counts].map(([code, n]) => `${n} ${code}`).join(', ')}`);
  }

  assert.ok(results.length > 450, `expected the corpus to hold more than 450 HL7 files, found ${results.length}`);
  assert.ok(filesAllParsed.length > 350, `expected more than 350 files to parse, got ${filesAllParsed.length}`);
  assert.ok(badInputs.length >= 37, `the nHapi fuzzer inputs must be included, found ${badInputs.length}`);
  assert.ok(parsed > 500, `expected more than 500 messages to parse, got ${parsed}`);
});
