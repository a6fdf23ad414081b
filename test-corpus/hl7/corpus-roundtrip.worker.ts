// Runs the corpus round trip off the test's thread, so a parser that hangs on some input is
// caught by the test's timer (a synchronous loop would block the timer too).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessage, serializeMessage, splitBatch } from '../../src/hl7/index.js';

export interface CorpusFileResult {
  readonly path: string;
  readonly messages: number;
  readonly parsed: number;
  readonly errors: readonly string[]; // ParseError codes
  readonly mismatches: number; // parsed but serialised to different text
  readonly thrown: string | null;
  readonly badErrors: number; // ParseError without code or message
}

const HL7_EXTENSIONS = ['.hl7', '.txt', '.er7', '.hl7v2', '.HL7'];

/** Latin-1 maps bytes 1:1 to chars, so the round trip can be compared byte for byte. */
function prepare(bytes: Buffer): string {
  let text = bytes.toString('latin1');
  if (text.startsWith('\u00ef\u00bb\u00bf')) text = text.slice(3);
  return text.replace(/^\s+/, '');
}

function looksLikeHl7(path: string, text: string): boolean {
  if (HL7_EXTENSIONS.some((ext) => path.endsWith(ext))) return true;
  if (path.includes('/BadInputs/')) return true;
  return /^(MSH|FHS|BHS)/.test(text);
}

function run(corpusDir: string): CorpusFileResult[] {
  const manifest = readFileSync(join(corpusDir, 'MANIFEST.tsv'), 'latin1').split('\n');
  const results: CorpusFileResult[] = [];
  for (const line of manifest.slice(1)) {
    const path = line.split('\t')[0];
    if (path === undefined || path === '') continue;
    const text = prepare(readFileSync(join(corpusDir, path)));
    if (!looksLikeHl7(path, text)) continue;
    let parsed = 0;
    let mismatches = 0;
    let badErrors = 0;
    let messages = 0;
    const errors: string[] = [];
    let thrown: string | null = null;
    try {
      const parts = splitBatch(text);
      messages = parts.messages.length;
      for (const message of parts.messages) {
        const result = parseMessage(message);
        if (result.ok) {
          parsed++;
          if (serializeMessage(result.message) !== message) mismatches++;
        } else {
          errors.push(result.error.code);
          if (result.error.message === '' || result.error.category !== 'parse') badErrors++;
        }
      }
      if (messages === 0 && parts.header.length === 0 && parts.trailer.length === 0) {
        // An empty file has no message to split off, but the parser must still answer for it.
        const result = parseMessage(text);
        if (result.ok) parsed++;
        else errors.push(result.error.code);
      }
    } catch (err) {
      thrown = err instanceof Error ? `${err.name}: ${err.message}` : 'non-Error thrown';
    }
    results.push({ path, messages, parsed, errors, mismatches, thrown, badErrors });
  }
  return results;
}

const corpus = fileURLToPath(workerData as string);
parentPort?.postMessage(run(corpus));
