#!/usr/bin/env node
// Scores the engine's FHIR output against independent converters (ReportStream, Google, the IG
// samples): every pair in the corpus's pairs.tsv ("expected<TAB>input") is converted with the
// engine, the actual bundles are written to a temporary folder, and the facts tool
// (fhir-facts.mjs batch) compares them fact by fact. Prints recall per fact kind and overall;
// --json prints the same as one JSON object for tests and CI.
//
// Where the corpus and the tool are: $HL7_CORPUS (default ../shared/corpus beside the repository)
// and $HL7_FACTS_TOOL (default tools/fhir-facts.mjs beside the corpus folder).
//
//   node scripts/score-corpus.mjs [--json] [--mappings DIR] [--site NAME] [--keep DIR] [--examples]
//   node scripts/score-corpus.mjs --self-check [--json]   expected scored against itself (recall 1.0):
//                                                           checks the pairs and the facts tool, no engine
//
// Needs a build (npx tsc -p .). Reads the corpus in place; never copies it into the repository.
import { readFileSync, writeFileSync, mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CORPUS = resolve(ROOT, process.env.HL7_CORPUS ?? '../shared/corpus');
const FACTS_TOOL = resolve(ROOT, process.env.HL7_FACTS_TOOL ?? join(dirname(CORPUS), 'tools', 'fhir-facts.mjs'));

/** pairs.tsv rows as absolute paths; the header row and blank lines are skipped. */
export function readPairs(file = join(CORPUS, 'pairs.tsv')) {
  const pairs = [];
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const [expected, input, extra] = line.split('\t');
    if (i === 0 && expected === 'expected') return;
    if (!expected || !input || extra !== undefined) throw new Error(`${file}:${i + 1}: expected two tab-separated paths (expected, input)`);
    pairs.push({ expected: resolve(CORPUS, expected), input: resolve(CORPUS, input), name: input });
  });
  return pairs;
}

/**
 * Runs fhir-facts batch over "expected<TAB>actual" lines and returns
 * { kinds: {kind: {expected, found, matched, recall, precision, missing}}, overall: {...} }.
 */
export function scoreFacts(lines, workDir) {
  const pairsFile = join(workDir, 'pairs-scored.tsv');
  writeFileSync(pairsFile, lines.map(([e, a]) => `${e}\t${a}`).join('\n') + '\n');
  const out = execFileSync(process.execPath, [FACTS_TOOL, 'batch', pairsFile, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  // The tool prints the per-kind JSON object, then one "recall R precision P" line.
  const last = out.trimEnd().lastIndexOf('\n');
  const json = JSON.parse(out.slice(0, last));
  const kinds = {};
  let E = 0, F = 0, M = 0;
  for (const [kind, r] of Object.entries(json)) {
    kinds[kind] = { ...r, recall: r.expected ? r.matched / r.expected : null, precision: r.found ? r.matched / r.found : null };
    E += r.expected; F += r.found; M += r.matched;
  }
  return { kinds, overall: { expected: E, found: F, matched: M, recall: E ? M / E : 0, precision: F ? M / F : 0 } };
}

/** The engine's own path for a stored file: first message's bytes → charset → parse → convert. */
async function loadEngine(mappingsDir, site) {
  const dist = (p) => pathToFileURL(join(ROOT, 'dist', 'src', p)).href;
  const need = join(ROOT, 'dist', 'src', 'mapping', 'index.js');
  if (!existsSync(need)) throw new Error(`no build of the mapping stage at ${need}: run npx tsc -p .`);
  const mapping = await import(dist('mapping/index.js'));
  if (typeof mapping.convertMessage !== 'function' || typeof mapping.loadMappingSet !== 'function') {
    throw new Error('dist/src/mapping/index.js does not export loadMappingSet and convertMessage yet');
  }
  const { splitMessagesInFile } = await import(dist('mllp/index.js'));
  const { decodeMessage } = await import(dist('charset/index.js'));
  const { parseMessage } = await import(dist('hl7/index.js'));
  const set = mapping.loadMappingSet(mappingsDir, site);
  return (bytes) => {
    const first = splitMessagesInFile(bytes)[0];
    if (!first) return { outcome: 'no-message' };
    const decoded = decodeMessage(first);
    if (!decoded.ok) return { outcome: 'charset-refused' };
    const parsed = parseMessage(decoded.text);
    if (!parsed.ok) return { outcome: `parse-${parsed.error.code}` };
    const result = mapping.convertMessage(parsed.message, set);
    if (result.unsupported) return { outcome: 'unsupported' };
    if (!result.bundle) return { outcome: 'no-bundle' };
    return { outcome: 'converted', bundle: result.bundle, issues: result.issues.length };
  };
}

function parseArgs(argv) {
  const opts = { json: false, selfCheck: false, examples: false, mappings: join(ROOT, 'mappings', 'default'), site: undefined, keep: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') opts.json = true;
    else if (a === '--self-check') opts.selfCheck = true;
    else if (a === '--examples') opts.examples = true;
    else if (a === '--mappings') opts.mappings = resolve(value());
    else if (a === '--site') opts.site = value();
    else if (a === '--keep') opts.keep = resolve(value());
    else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

function printTable(report, examples) {
  const pct = (x) => (x === null ? '    -' : x.toFixed(3));
  console.log(`pairs ${report.pairs}: ${Object.entries(report.outcomes).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  console.log(`${'fact kind'.padEnd(28)} ${'expected'.padStart(8)} ${'found'.padStart(6)} ${'matched'.padStart(7)}  recall  precision`);
  for (const [kind, r] of Object.entries(report.kinds).sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${kind.padEnd(28)} ${String(r.expected).padStart(8)} ${String(r.found).padStart(6)} ${String(r.matched).padStart(7)}  ${pct(r.recall)}   ${pct(r.precision)}`);
    if (examples && r.missing.length) console.log(`${''.padEnd(30)}missing e.g. ${r.missing.slice(0, 3).join(' ; ')}`);
  }
  const o = report.overall;
  console.log(`${'overall'.padEnd(28)} ${String(o.expected).padStart(8)} ${String(o.found).padStart(6)} ${String(o.matched).padStart(7)}  ${pct(o.recall)}   ${pct(o.precision)}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const pairs = readPairs();
  const work = mkdtempSync(join(tmpdir(), 'score-corpus-'));
  const outDir = opts.keep ?? join(work, 'actual');
  mkdirSync(outDir, { recursive: true });
  try {
    const outcomes = {};
    const failures = [];
    const lines = [];
    const convert = opts.selfCheck ? null : await loadEngine(opts.mappings, opts.site);
    pairs.forEach((pair, i) => {
      if (!convert) {
        lines.push([pair.expected, pair.expected]);
        outcomes['self'] = (outcomes['self'] ?? 0) + 1;
        return;
      }
      let result;
      try {
        result = convert(readFileSync(pair.input));
      } catch (err) {
        result = { outcome: 'threw', error: err instanceof Error ? err.name : 'non-Error' };
      }
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      // A pair with no bundle still counts: its expected facts are all missed.
      const actual = join(outDir, `${String(i).padStart(4, '0')}.json`);
      if (result.bundle) writeFileSync(actual, JSON.stringify(result.bundle, null, 1));
      else failures.push({ input: pair.name, outcome: result.outcome, ...(result.error ? { error: result.error } : {}) });
      lines.push([pair.expected, actual]);
    });
    const scored = scoreFacts(lines, work);
    const report = { pairs: pairs.length, outcomes, failures, ...scored };
    if (opts.json) console.log(JSON.stringify(report, null, 1));
    else printTable(report, opts.examples);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`score-corpus: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
