/** The shared corpus (../shared/corpus beside the repository), read in place, never copied. */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/test/support → repository root → ../shared/corpus */
export const CORPUS_DIR = fileURLToPath(new URL('../../../../shared/corpus/', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url));

const NOT_MESSAGES = /\.(fhir|json|xml|md|tsv)$/i;

/** Every file of the corpus that holds HL7 v2 input (expected outputs and docs left out). */
export function corpusMessageFiles(): string[] {
  const manifest = join(CORPUS_DIR, 'MANIFEST.tsv');
  if (!existsSync(manifest)) throw new Error(`shared corpus not found at ${CORPUS_DIR}`);
  const rows = readFileSync(manifest, 'utf8').split('\n').slice(1).filter(Boolean);
  return rows
    .map((r) => r.split('\t'))
    .filter((c) => c[0] && !NOT_MESSAGES.test(c[0]) && !(c[9] ?? '').startsWith('IS_EXPECTED_FOR'))
    .map((c) => c[0]!);
}

export function readCorpusFile(rel: string): Buffer {
  return readFileSync(join(CORPUS_DIR, rel));
}
