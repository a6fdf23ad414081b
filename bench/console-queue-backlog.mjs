#!/usr/bin/env node
// The reconciliation queue under a backlog (issue 13): N waiting dead letters in 20 groups of one
// channel, all but the last 1,000 past the 240-minute SLA, written through IndexStore.applyBatch;
// then queue(), a group's first page and the metrics' queue figures, timed. Figures for
// BENCHMARKS.md ("Console index"); not part of `npm test`.
//
//   npm run build --silent && node bench/console-queue-backlog.mjs [ROOT] [N]
//
// ROOT is a checkout whose dist/ to measure (default: this one), so an older build can be timed
// beside this one; N defaults to 100000. Builds without groupPage time queue() only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const N = Number(process.argv[3] ?? 100000);
const { IndexStore, ConsoleQueries } = await import(pathToFileURL(join(root, 'dist/src/console/index.js')).href);
const dir = mkdtempSync(join(tmpdir(), 'qg-backlog-'));
const s = new IndexStore(join(dir, 'i.sqlite'));
const NONE = { envelopeId: null, controlId: null, messageCode: 'ADT', triggerEvent: 'A01', sendingApplication: null, sendingFacility: null, receivedAt: null, rawSha256: null, rawLength: null, charset: null, charsetSource: null, repairs: null, patientKey: null, dedupe: null, ackCode: null, category: null, stage: null, cause: null, failureMessage: null, attempts: 1, firstAt: null, source: null, previous: null, replayId: null, issueCount: null, resources: null };
const now = Date.parse('2026-11-30T00:00:00.000Z');
const t0 = performance.now();
for (let b = 0; b < N; b += 2000) {
  const recs = [];
  for (let o = b; o < Math.min(N, b + 2000); o++) {
    // the last 1,000 arrived in the last hour; the rest over the 20 days before
    const at = new Date(o >= N - 1000 ? now - (N - o) * 3000 : now - 2 * 3600_000 - (N - o) * 17_000).toISOString();
    const g = o % 20;
    recs.push({ ...NONE, topic: 'c.dlq', partition: 0, offset: String(o), kind: 'dlq', channel: 'c', at, firstAt: at, receivedAt: at, controlId: `X${o}`, category: g < 10 ? 'mapping' : 'validation', stage: 'transform', cause: `cause ${g}`, failureMessage: `cause ${g}`, source: { topic: 'c.raw', partition: 0, offset: String(o) } });
  }
  s.applyBatch('c.dlq', 0, String(Math.min(N, b + 2000)), recs, []);
}
const fillS = (performance.now() - t0) / 1000;
const q = new ConsoleQueries(s, [{ name: 'c', review: { slaMinutes: 240, maxGroupSize: 500 } }], () => new Date(now));
const time = (label, f, n = 20) => {
  const ms = [];
  let out;
  for (let i = 0; i < n; i++) { const a = performance.now(); out = f(); ms.push(performance.now() - a); }
  ms.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(40)} n=${n} p50 ${ms[Math.floor(n / 2)].toFixed(2)} ms  max ${ms[n - 1].toFixed(2)} ms`);
  return out;
};
console.log(`${root}: ${N} waiting filled in ${fillS.toFixed(1)} s, load ${loadavg()[0].toFixed(1)}`);
const queue = time('queue()', () => q.queue(), 10);
console.log(`  waiting ${queue[0].waiting}, overdue ${queue[0].overdue}, groups ${queue[0].groups.length}`);
if (q.groupPage) time('first page of a group', () => q.groupPage({ queue: 'c', category: 'mapping', stage: 'transform', cause: 'cause 0' }, { slaMinutes: 240 }).members);
if (q.groupPage) time('queueFigures() (metrics)', () => q.queueFigures(), 10);
s.close();
rmSync(dir, { recursive: true, force: true });
