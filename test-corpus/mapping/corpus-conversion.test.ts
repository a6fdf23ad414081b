// Every parseable message of the corpus ($HL7_CORPUS) through the default mapping set, the way the
// transform stage sees it (first the ingest's charset decision, then the parser, then the
// mapping), each Bundle checked with the FHIR R4 validator.
//
// The conversion runs in a worker thread started from this same file: a converter that loops on
// some input blocks only the worker, and the watchdog here fails the test naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { corpusMessageFiles, readCorpusFile, REPO_DIR } from '../support/corpus.js';

type Outcome = 'unparseable' | 'charset-refused' | 'unsupported' | 'no-bundle' | 'valid' | 'invalid' | 'threw';

interface MessageResult {
  readonly file: string;
  readonly index: number;
  /** MSH-9.1^MSH-9.2 when the message parsed. */
  readonly type?: string;
  /** MSH-9.1 of a parsed message ('' before parsing). */
  readonly messageCode: string;
  readonly outcome: Outcome;
  readonly issueCodes: readonly string[];
  readonly problems: readonly { path: string; message: string }[];
  /** Converting the same message again gave the same bytes. */
  readonly repeatable: boolean;
  readonly error?: string;
}

interface CorpusRun {
  readonly results: readonly MessageResult[];
  /** Wall time spent in validateBundle, for the per-bundle cost. */
  readonly validationMs: number;
}

type WorkerMessage = { readonly kind: 'start'; readonly file: string } | ({ readonly kind: 'done' } & CorpusRun);

/**
 * Bundles that fail R4 validation, measured on the corpus when last lowered. The issue asks for
 * none; this keeps the count from growing while the remaining ones are fixed (see the test's
 * diagnostic for which problems they are).
 */
const INVALID_CEILING = 12;

/** Message types of the patient-administration, financial, referral and problem feeds. */
const PATIENT_FEEDS = /^(ADT|BAR|DFT|REF|PPR)\^/;

/** Corpus messages of those feeds that carry no real trigger event, so no mapping is expected. */
const NOT_AN_EVENT: Readonly<Record<string, string>> = {
  'Efferent-Health-HL7-dotnetcore/Sample-ADT.txt#1': 'ADT^O01: O01 is an order event, not an ADT trigger in table 0003',
};

/** The IssueCode union of src/mapping/types.ts: an issue outside it is not categorised. */
const ISSUE_CODES = new Set([
  'unknown-code',
  'unknown-code-system',
  'unknown-authority',
  'unmapped-segment',
  'padded-precision',
  'dropped-repetition',
  'invalid-value',
  'identity-fallback',
  'missing-required',
  'unsupported-message',
  'validation',
]);

async function convertCorpus(): Promise<void> {
  const { splitMessagesInFile } = await import('../../src/mllp/index.js');
  const { decodeMessage } = await import('../../src/charset/index.js');
  const { parseMessage } = await import('../../src/hl7/index.js');
  const { loadMappingSet, convertMessage } = await import('../../src/mapping/index.js');
  const { validateBundle, loadFhirDefinitions } = await import('../../src/fhir/index.js');
  loadFhirDefinitions();
  const set = loadMappingSet(join(REPO_DIR, 'mappings', 'default'));
  const results: MessageResult[] = [];
  let validationNs = 0n;
  for (const file of corpusMessageFiles()) {
    parentPort?.postMessage({ kind: 'start', file } satisfies WorkerMessage);
    const messages = splitMessagesInFile(readCorpusFile(file));
    messages.forEach((bytes, index) => {
      const base = { file, index, messageCode: '', issueCodes: [] as string[], problems: [], repeatable: true };
      const decoded = decodeMessage(bytes);
      if (!decoded.ok) return void results.push({ ...base, outcome: 'charset-refused' });
      const parsed = parseMessage(decoded.text);
      if (!parsed.ok) return void results.push({ ...base, outcome: 'unparseable' });
      const msh = parsed.message.msh();
      const messageCode = msh.messageCode;
      const typed = { ...base, messageCode, type: `${msh.messageCode}^${msh.triggerEvent}` };
      try {
        const first = convertMessage(parsed.message, set);
        const again = convertMessage(parsed.message, set);
        const issueCodes = first.issues.map((i) => i.code);
        const repeatable = JSON.stringify(first.bundle) === JSON.stringify(again.bundle);
        if (first.unsupported) return void results.push({ ...typed, issueCodes, repeatable, outcome: 'unsupported' });
        if (!first.bundle) return void results.push({ ...typed, issueCodes, repeatable, outcome: 'no-bundle' });
        const started = process.hrtime.bigint();
        const problems = validateBundle(first.bundle);
        validationNs += process.hrtime.bigint() - started;
        results.push({ ...typed, issueCodes, repeatable, problems, outcome: problems.length === 0 ? 'valid' : 'invalid' });
      } catch (err) {
        const error = err instanceof Error ? `${err.name}: ${err.message.slice(0, 300)}` : 'non-Error thrown';
        results.push({ ...typed, outcome: 'threw', error });
      }
    });
  }
  parentPort?.postMessage({ kind: 'done', results, validationMs: Number(validationNs / 1_000_000n) } satisfies WorkerMessage);
}

/** Fails when one file keeps the worker busy longer than `stallMs`. */
function runCorpus(stallMs: number): Promise<CorpusRun> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url));
    let current = '(loading the mapping set)';
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`conversion of ${current} did not finish within ${stallMs} ms: a converter hangs on it`));
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

const countBy = <T>(xs: readonly T[], key: (x: T) => string): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
};
const describe = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');

if (isMainThread) {
  let run: Promise<CorpusRun> | undefined;
  const corpus = (): Promise<CorpusRun> => (run ??= runCorpus(30_000));
  const results = async (): Promise<readonly MessageResult[]> => (await corpus()).results;

  test('every parseable corpus message converts without a throw or a hang', async (t) => {
    const all = await results();
    t.diagnostic(`${new Set(all.map((r) => r.file)).size} files, ${all.length} messages: ${describe(countBy(all, (r) => r.outcome))}`);
    const converted = all.filter((r) => r.outcome !== 'unparseable' && r.outcome !== 'charset-refused');
    assert.ok(converted.length > 500, `only ${converted.length} messages reached the converter`);
    const threw = all.filter((r) => r.outcome === 'threw');
    assert.deepEqual(
      threw.map((r) => `${r.file}#${r.index + 1}: ${r.error}`),
      [],
    );
  });

  test('each converted message gives a Bundle that validates, or says why it does not with categorised issues', async (t) => {
    const all = await results();
    const invalid = all.filter((r) => r.outcome === 'invalid');
    const problemKinds = countBy(
      invalid.flatMap((r) => r.problems),
      (p) => `${p.path.replace(/\[\d+\]/g, '[]').replace(/^Bundle\.entry\[\]\.resource/, '')}: ${p.message}`,
    );
    t.diagnostic(`valid ${all.filter((r) => r.outcome === 'valid').length}, invalid ${invalid.length}; problems: ${describe(problemKinds).slice(0, 1500)}`);
    // A Bundle the validator refuses must not be silent: the conversion reported something.
    const silent = invalid.filter((r) => r.issueCodes.length === 0);
    assert.deepEqual(
      silent.map((r) => `${r.file}#${r.index + 1}: ${r.problems[0]?.path} ${r.problems[0]?.message}`),
      [],
    );
    const noBundle = all.filter((r) => (r.outcome === 'unsupported' || r.outcome === 'no-bundle') && r.issueCodes.length === 0);
    assert.deepEqual(noBundle.map((r) => `${r.file}#${r.index + 1}`), []);
  });

  test(`no more than ${INVALID_CEILING} corpus Bundles fail FHIR R4 validation`, async (t) => {
    const { results: all, validationMs } = await corpus();
    const bundles = all.filter((r) => r.outcome === 'valid' || r.outcome === 'invalid').length;
    const invalid = all.filter((r) => r.outcome === 'invalid').length;
    t.diagnostic(`${bundles} Bundles validated in ${validationMs} ms (${(validationMs / Math.max(bundles, 1)).toFixed(1)} ms each)`);
    assert.ok(invalid <= INVALID_CEILING, `${invalid} invalid Bundles, more than the ${INVALID_CEILING} measured`);
  });

  test('every corpus message of the result, order, scheduling, document, immunization and pharmacy feeds converts to a Bundle', async (t) => {
    const all = await results();
    const FEEDS = new Set(['ORU', 'OUL', 'ORM', 'OML', 'OMG', 'SIU', 'MDM', 'VXU', 'RDE', 'RDS']);
    const mine = all.filter((r) => FEEDS.has(r.messageCode.toUpperCase()));
    t.diagnostic(`${mine.length} messages: ${describe(countBy(mine, (r) => `${r.messageCode} ${r.outcome}`))}`);
    // Measured when written: 464 messages of these types in the corpus.
    assert.ok(mine.length >= 464, `only ${mine.length} messages of these types reached the converter`);
    assert.deepEqual(
      mine.filter((r) => r.outcome !== 'valid' && r.outcome !== 'invalid').map((r) => `${r.file}#${r.index + 1} ${r.messageCode}: ${r.outcome}`),
      [],
    );
    // A Bundle of these types that fails validation lacks something the message does not carry
    // (MSH-7, a PID) and says so.
    assert.deepEqual(
      mine.filter((r) => r.outcome === 'invalid' && !r.issueCodes.includes('missing-required')).map((r) => `${r.file}#${r.index + 1}: ${r.problems[0]?.path} ${r.problems[0]?.message}`),
      [],
    );
  });

  test('every issue a conversion reports carries one of the stable issue codes', async (t) => {
    const all = await results();
    const codes = countBy(all.flatMap((r) => r.issueCodes), (c) => c);
    t.diagnostic(`issues by code: ${describe(codes)}`);
    assert.deepEqual([...codes.keys()].filter((c) => !ISSUE_CODES.has(c)), []);
  });

  test('every corpus message of the patient feeds (ADT, BAR, DFT, REF, PPR) converts to a valid Bundle', async (t) => {
    const all = await results();
    const feeds = all.filter((r) => r.type !== undefined && PATIENT_FEEDS.test(r.type) && NOT_AN_EVENT[`${r.file}#${r.index + 1}`] === undefined);
    t.diagnostic(`${feeds.length} messages: ${describe(countBy(feeds, (r) => `${r.type} ${r.outcome}`))}`);
    assert.ok(feeds.length >= 45, `only ${feeds.length} patient-feed messages in the corpus`);
    assert.deepEqual(
      feeds.filter((r) => r.outcome !== 'valid').map((r) => `${r.file}#${r.index + 1} ${r.type}: ${r.outcome} ${r.problems[0]?.path ?? ''} ${r.problems[0]?.message ?? ''}`),
      [],
    );
  });

  test('converting the same corpus message twice gives identical bytes', async () => {
    const all = await results();
    assert.deepEqual(all.filter((r) => !r.repeatable).map((r) => `${r.file}#${r.index + 1}`), []);
  });
} else {
  await convertCorpus();
}
