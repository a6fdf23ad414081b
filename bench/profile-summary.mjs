#!/usr/bin/env node
// Self time per function from a V8 .cpuprofile (node --cpu-prof): the table BENCHMARKS.md shows
// under "Where the time goes". Usage: node bench/profile-summary.mjs FILE.cpuprofile [top]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function where(frame) {
  if (!frame.url) return '(native or V8)';
  let file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  if (file.startsWith(root)) file = relative(root, file);
  return `${file}:${frame.lineNumber + 1}`;
}

/**
 * Top functions by self time. Samples are weighted by their time deltas; functions are keyed by
 * name and source position, so the same function reached along different stacks adds up.
 */
export function summariseProfile(profile, top = 12) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]);
    if (!node) continue;
    const dt = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'}|${f.url}|${f.lineNumber}`;
    const e = self.get(key) ?? { name: f.functionName || '(anonymous)', where: where(f), us: 0 };
    e.us += dt;
    self.set(key, e);
    total += dt;
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, percent: total > 0 ? (e.us / total) * 100 : 0 }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary.mjs FILE.cpuprofile [top]');
    process.exit(2);
  }
  const rows = summariseProfile(JSON.parse(readFileSync(file, 'utf8')), Number(process.argv[3] ?? 20));
  for (const r of rows) console.log(`${r.percent.toFixed(1).padStart(5)} %  ${r.name}  ${r.where}`);
}
