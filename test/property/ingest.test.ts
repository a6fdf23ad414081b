/**
 * Fuzzing the ingest path (framer → charset → parser → ACK) with fast-check. Each property runs in
 * a worker thread with a deadline: a crash fails the property with fast-check's counterexample and
 * seed, and an input that makes a stage loop forever fails it at the deadline instead of hanging
 * the suite. The number of inputs is recorded for RELIABILITY.md.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { PROPERTIES } from './ingest-properties.js';
import type { WorkerAnswer } from './property.worker.js';
import { recordFigures, scenarioPassed, scenarioStarted } from '../support/reliability.js';

/**
 * A hang check, not a speed limit: thousands of small inputs take seconds, so a property still
 * running after this long has an input that makes a stage loop. (How fast single inputs go is
 * measured in bench/speed-checks.mjs.)
 */
const DEADLINE_MS = 90_000;

function runInWorker(name: string): Promise<WorkerAnswer> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./property.worker.js', import.meta.url), { workerData: name });
    const timer = setTimeout(() => {
      void worker.terminate();
      resolve({ ok: false, message: `hang check: did not finish within ${DEADLINE_MS} ms, some input makes a stage loop or crawl` });
    }, DEADLINE_MS);
    worker.once('message', (answer: WorkerAnswer) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(answer);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const outcomes = new Map<string, WorkerAnswer>();
/** Properties whose test got past its last assertion. */
const passedProperties = new Set<string>();
const FIGURES_KEY = 'property-ingest';
const TITLE = 'fast-check properties of framer, charset, parser and ACK (each in a worker with a deadline)';

before(() => scenarioStarted(FIGURES_KEY, 'property', TITLE));

for (const [name, spec] of Object.entries(PROPERTIES)) {
  test(spec.title, { timeout: DEADLINE_MS + 10_000 }, async () => {
    const answer = await runInWorker(name);
    outcomes.set(name, answer);
    assert.ok(answer.ok, answer.ok ? '' : answer.message);
    assert.ok(answer.inputs > 0, 'the property saw no input');
    passedProperties.add(name);
    console.log(`# property ${name}: ${answer.inputs} inputs, slowest ${answer.slowestMs} ms`);
  });
}

after(() => {
  const passed = [...outcomes.values()].filter((o): o is Extract<WorkerAnswer, { ok: true }> => o.ok);
  recordFigures(FIGURES_KEY, {
    scenario: 'property',
    title: TITLE,
    inputsFuzzed: passed.reduce((n, o) => n + o.inputs, 0),
    details: Object.fromEntries(
      Object.entries(PROPERTIES).map(([name]) => {
        const o = outcomes.get(name);
        return [name, !o ? 'not run' : o.ok ? `${o.inputs} inputs, slowest ${o.slowestMs} ms` : 'FAILED'];
      }),
    ),
  });
  if (Object.keys(PROPERTIES).every((name) => passedProperties.has(name))) scenarioPassed(FIGURES_KEY);
});
