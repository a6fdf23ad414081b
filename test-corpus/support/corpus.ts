/**
 * The external material `npm run test:corpus` checks the engine against, read in place, never
 * copied into the repository:
 *
 * - HL7_CORPUS: the corpus of real messages (MANIFEST.tsv, pairs.tsv and the files they name);
 *   default ../shared/corpus beside the repository.
 * - HL7_FACTS_TOOL: the independent fact extractor (fhir-facts.mjs); default tools/fhir-facts.mjs
 *   beside the corpus folder.
 * - HL7_IG_SHEETS: the HL7 v2-to-FHIR IG vocabulary sheets (CSV); default
 *   ig-mappings/codesystems beside the corpus folder.
 *
 * scripts/run-tests.mjs test-corpus refuses to start when any of them is missing, and hands the
 * resolved absolute paths to the tests in the same variables.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test-corpus/support → repository root */
export const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url));

export const CORPUS_DIR = resolve(REPO_DIR, process.env['HL7_CORPUS'] ?? '../shared/corpus');
export const FACTS_TOOL = resolve(REPO_DIR, process.env['HL7_FACTS_TOOL'] ?? join(dirname(CORPUS_DIR), 'tools', 'fhir-facts.mjs'));
export const IG_SHEETS = resolve(REPO_DIR, process.env['HL7_IG_SHEETS'] ?? join(dirname(CORPUS_DIR), 'ig-mappings', 'codesystems'));

const NOT_MESSAGES = /\.(fhir|json|xml|md|tsv)$/i;

/** Every file of the corpus that holds HL7 v2 input (expected outputs and docs left out). */
export function corpusMessageFiles(): string[] {
  const manifest = join(CORPUS_DIR, 'MANIFEST.tsv');
  if (!existsSync(manifest)) throw new Error(`corpus not found at ${CORPUS_DIR} (set HL7_CORPUS)`);
  const rows = readFileSync(manifest, 'utf8').split('\n').slice(1).filter(Boolean);
  return rows
    .map((r) => r.split('\t'))
    .filter((c) => c[0] && !NOT_MESSAGES.test(c[0]) && !(c[9] ?? '').startsWith('IS_EXPECTED_FOR'))
    .map((c) => c[0]!);
}

export function readCorpusFile(rel: string): Buffer {
  return readFileSync(join(CORPUS_DIR, rel));
}
