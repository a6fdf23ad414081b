// The fast validator against the referee on real messages: every parseable message of
// ../shared/corpus converted with mappings/default (as the transform sees it: the ingest's charset
// decision, the parser, the mapping), each Bundle judged by validateBundle (@medplum/core's
// validator plus the engine's rules) and by validateBundleFast; then the corpus Bundles broken on
// purpose one mistake at a time (test/support/fhir-mutations.ts), one per kind of mistake and
// element definition across the corpus. Whatever the referee rejects, the fast validator must
// reject, at the broken element with the rule.
//
// The work runs in a worker thread started from this same file, so a converter that loops on some
// input fails the test naming the file instead of stalling it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { corpusMessageFiles, readCorpusFile, REPO_DIR } from '../support/corpus.js';

/** Mutations the corpus Bundles give (measured; changes with the corpus, the mappings or the generator). */
const EXPECTED_MUTATIONS = 2028;

interface Disagreement {
  readonly what: string;
  readonly referee: readonly { path: string; message: string }[];
  readonly fast: readonly { path: string; message: string; rule: string }[];
}

interface Report {
  readonly kind: 'done';
  readonly bundles: number;
  readonly bothValid: number;
  readonly bothInvalid: number;
  readonly onlyFastRejects: readonly Disagreement[];
  readonly onlyRefereeRejects: readonly Disagreement[];
  readonly mutations: number;
  readonly mutationKinds: Readonly<Record<string, number>>;
  readonly mutationMissed: readonly string[];
  readonly mutationUnplaced: readonly string[];
  readonly mutationRefereeAccepts: Readonly<Record<string, number>>;
  readonly refereeMs: number;
  readonly fastMs: number;
}

type WorkerMessage = { readonly kind: 'start'; readonly file: string } | Report;

async function run(): Promise<void> {
  const { splitMessagesInFile } = await import('../../src/mllp/index.js');
  const { decodeMessage } = await import('../../src/charset/index.js');
  const { parseMessage } = await import('../../src/hl7/index.js');
  const { loadMappingSet, convertMessage } = await import('../../src/mapping/index.js');
  const { validateBundle, loadFhirDefinitions } = await import('../../src/fhir/index.js');
  const { validateBundleFast } = await import('../../src/fhir/validate-fast.js');
  const { structureIndex } = await import('../../src/fhir/structure.js');
  const { mutationsOf } = await import('../../test/support/fhir-mutations.js');
  loadFhirDefinitions();
  const set = loadMappingSet(join(REPO_DIR, 'mappings', 'default'));
  const index = structureIndex();
  const seen = new Set<string>();
  const onlyFastRejects: Disagreement[] = [];
  const onlyRefereeRejects: Disagreement[] = [];
  let bundles = 0;
  let bothValid = 0;
  let bothInvalid = 0;
  let refereeNs = 0n;
  let fastNs = 0n;
  const mutationKinds: Record<string, number> = {};
  const mutationRefereeAccepts: Record<string, number> = {};
  const mutationMissed: string[] = [];
  const mutationUnplaced: string[] = [];
  let mutations = 0;
  for (const file of corpusMessageFiles()) {
    parentPort?.postMessage({ kind: 'start', file } satisfies WorkerMessage);
    splitMessagesInFile(readCorpusFile(file)).forEach((bytes, i) => {
      const decoded = decodeMessage(bytes);
      if (!decoded.ok) return;
      const parsed = parseMessage(decoded.text);
      if (!parsed.ok) return;
      const bundle = convertMessage(parsed.message, set).bundle;
      if (!bundle) return;
      bundles++;
      let t = process.hrtime.bigint();
      const referee = validateBundle(bundle);
      refereeNs += process.hrtime.bigint() - t;
      t = process.hrtime.bigint();
      const fast = validateBundleFast(bundle);
      fastNs += process.hrtime.bigint() - t;
      const what = `${file}#${i + 1}`;
      if (referee.length === 0 && fast.length === 0) bothValid++;
      else if (referee.length > 0 && fast.length > 0) bothInvalid++;
      else (fast.length > 0 ? onlyFastRejects : onlyRefereeRejects).push({ what, referee: referee.slice(0, 5), fast: fast.slice(0, 5) });
      // Broken on purpose: only valid Bundles, so each mutation is the one mistake in it.
      if (referee.length > 0 || fast.length > 0) return;
      for (const m of mutationsOf(bundle, index, seen)) {
        mutations++;
        mutationKinds[m.kind] = (mutationKinds[m.kind] ?? 0) + 1;
        const r = validateBundle(m.bundle);
        const f = validateBundleFast(m.bundle);
        if (r.length === 0) mutationRefereeAccepts[m.kind] = (mutationRefereeAccepts[m.kind] ?? 0) + 1;
        if (r.length > 0 && f.length === 0) mutationMissed.push(`${m.kind} at ${m.path} (${m.element}, from ${what}): referee says ${JSON.stringify(r.slice(0, 2))}`);
        else if (!f.some((p) => p.path === m.path && m.rules.includes(p.rule))) mutationUnplaced.push(`${m.kind} at ${m.path} (from ${what}): fast says ${JSON.stringify(f.slice(0, 3))}`);
      }
    });
  }
  parentPort?.postMessage({
    kind: 'done',
    bundles,
    bothValid,
    bothInvalid,
    onlyFastRejects,
    onlyRefereeRejects,
    mutations,
    mutationKinds,
    mutationMissed,
    mutationUnplaced,
    mutationRefereeAccepts,
    refereeMs: Number(refereeNs / 1_000_000n),
    fastMs: Number(fastNs / 1_000_000n),
  } satisfies WorkerMessage);
}

/** Fails when one file keeps the worker busy longer than `stallMs`. */
function runInWorker(stallMs: number): Promise<Report> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url));
    let current = '(loading the definitions and the mapping set)';
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`${current} did not finish within ${stallMs} ms`));
      }, stallMs);
    };
    arm();
    worker.on('message', (m: WorkerMessage) => {
      if (m.kind === 'start') {
        current = m.file;
        arm();
      } else {
        clearTimeout(timer);
        void worker.terminate();
        resolve(m);
      }
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const describe = (o: Readonly<Record<string, number>>): string =>
  Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

if (isMainThread) {
  let report: Promise<Report> | undefined;
  // Broken-on-purpose Bundles of a large corpus file can take a while under the referee.
  const corpus = (): Promise<Report> => (report ??= runInWorker(180_000));

  test('every corpus Bundle the referee rejects, the fast validator rejects too', async (t) => {
    const r = await corpus();
    t.diagnostic(
      `${r.bundles} Bundles: both valid ${r.bothValid}, both invalid ${r.bothInvalid}, only the fast validator rejects ${r.onlyFastRejects.length}, only the referee rejects ${r.onlyRefereeRejects.length}; referee ${r.refereeMs} ms, fast ${r.fastMs} ms`,
    );
    for (const d of r.onlyFastRejects.slice(0, 10)) t.diagnostic(`only fast: ${d.what}: ${d.fast.map((p) => `${p.path.replace(/\[\d+\]/g, '[]')} ${p.rule}`).join('; ')}`);
    assert.ok(r.bundles > 400, `only ${r.bundles} corpus Bundles`);
    assert.deepEqual(
      r.onlyRefereeRejects.map((d) => `${d.what}: referee ${JSON.stringify(d.referee)}`),
      [],
    );
  });

  test(`${EXPECTED_MUTATIONS} corpus Bundles broken on purpose: the fast validator rejects each one the referee rejects, at the broken element with the rule`, async (t) => {
    const r = await corpus();
    t.diagnostic(`mutations by kind: ${describe(r.mutationKinds)}`);
    t.diagnostic(`the referee accepts, the fast validator rejects: ${describe(r.mutationRefereeAccepts)}`);
    assert.equal(r.mutations, EXPECTED_MUTATIONS, 'the mutated set changed size: did the corpus, the mappings or the generator change?');
    assert.deepEqual(r.mutationMissed, []);
    assert.deepEqual(r.mutationUnplaced, []);
  });
} else {
  await run();
}
