/** Runs one property of ingest-properties.ts, named by workerData, and posts its outcome. */
import { parentPort, workerData } from 'node:worker_threads';
import { PROPERTIES } from './ingest-properties.js';

export type WorkerAnswer = { readonly ok: true; readonly inputs: number; readonly slowestMs: number } | { readonly ok: false; readonly message: string };

const spec = PROPERTIES[String(workerData)];
let answer: WorkerAnswer;
try {
  if (!spec) throw new Error(`no property named ${String(workerData)}`);
  answer = { ok: true, ...spec.run() };
} catch (err) {
  // fast-check's message carries the seed, the path and the shrunk counterexample to replay it.
  const cause = err instanceof Error && err.cause instanceof Error ? `\ncaused by: ${err.cause.message}` : '';
  answer = { ok: false, message: (err instanceof Error ? err.message : String(err)) + cause };
}
parentPort?.postMessage(answer);
