#!/usr/bin/env node
// What held an event loop for long stretches, from a V8 .cpuprofile (node --cpu-prof, or
// `bench/transform-stage.mjs --cpu-prof DIR`): every run of consecutive non-idle samples longer
// than --over ms inside the --from/--to window (seconds from the profile's start; --to=-N
// counts back from its end), with the self time spent in those runs per function and per the
// deepest project or Kafka client frame, and the longest runs one by one.
//
// The profile samples wall time: on a loaded machine a run also contains the time the thread was
// preempted (it shows up in whatever was on the stack then, often a socket write that woke the
// broker), so read the share of each frame, not the run's length, as its CPU cost.
//
//   node bench/profile-long-tasks.mjs FILE.cpuprofile [--over 10] [--from 9] [--to=-2] [--top 12] [--runs 10]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    over: { type: 'string', default: '10' },
    from: { type: 'string', default: '0' },
    to: { type: 'string', default: '1e9' },
    top: { type: 'string', default: '12' },
    runs: { type: 'string', default: '10' },
  },
});
const file = positionals[0];
if (!file) throw new Error('usage: node bench/profile-long-tasks.mjs FILE.cpuprofile [--over ms] [--from s] [--to s] [--top n] [--runs n]');
const profile = JSON.parse(readFileSync(file, 'utf8'));
const over = Number(values.over);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const f = n.callFrame;
  const url = (f.url || '').replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/');
  return `${f.functionName || '(anonymous)'}${url ? ` ${url}:${f.lineNumber + 1}` : ''}`;
};
const stackOf = (id) => {
  const s = [];
  for (let x = id; x !== undefined; x = parent.get(x)) s.push(byId.get(x));
  return s;
};
// The frame that says whose work a sample was: this project's code or the Kafka client's request code.
const owner = (stack) => stack.find((n) => /dist\/src\/|kafkajs\/src\/(consumer|producer|protocol\/requests)/.test(n.callFrame.url || ''));

const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
const at = [];
let t = profile.startTime;
for (let i = 0; i < samples.length; i++) at.push((t += deltas[i]));
const t0 = at[0] ?? 0;
const end = ((at[at.length - 1] ?? 0) - t0) / 1e6;
const from = Number(values.from);
const to = Number(values.to) < 0 ? end + Number(values.to) : Number(values.to);
const dt = (i) => Math.max(0, deltas[i + 1] ?? 0) / 1000;

const runs = [];
let cur = null;
for (let i = 0; i < samples.length; i++) {
  const idle = byId.get(samples[i])?.callFrame.functionName === '(idle)';
  if (!idle) cur ? (cur.to = i) : (cur = { from: i, to: i });
  else if (cur) (runs.push(cur), (cur = null));
}
if (cur) runs.push(cur);
const long = runs
  .map((r) => {
    let ms = 0;
    for (let i = r.from; i <= r.to; i++) ms += dt(i);
    return { ...r, ms, s: (at[r.from] - t0) / 1e6 };
  })
  .filter((r) => r.ms > over && r.s >= from && (at[r.to] - t0) / 1e6 <= to);

const self = new Map();
const owners = new Map();
let total = 0;
for (const r of long) {
  for (let i = r.from; i <= r.to; i++) {
    const stack = stackOf(samples[i]);
    const ms = dt(i);
    total += ms;
    const s = label(stack[0]);
    self.set(s, (self.get(s) ?? 0) + ms);
    const o = owner(stack);
    const k = o ? label(o) : `(no project frame) ${label(stack[0])}`;
    owners.set(k, (owners.get(k) ?? 0) + ms);
  }
}
const top = Number(values.top);
const table = (m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `  ${((100 * v) / (total || 1)).toFixed(1).padStart(5)} % ${v.toFixed(0).padStart(6)} ms  ${k}`)
    .join('\n');
console.log(`${file}: ${from}-${to.toFixed(1)} s of ${end.toFixed(1)} s; ${long.length} busy runs over ${over} ms, ${total.toFixed(0)} ms in all`);
console.log(`self time in those runs:\n${table(self)}`);
console.log(`by the deepest project or Kafka client frame:\n${table(owners)}`);
console.log('longest runs:');
for (const r of [...long].sort((a, b) => b.ms - a.ms).slice(0, Number(values.runs))) {
  const m = new Map();
  for (let i = r.from; i <= r.to; i++) {
    const stack = stackOf(samples[i]);
    const o = owner(stack);
    const k = o ? label(o) : label(stack[0]);
    m.set(k, (m.get(k) ?? 0) + dt(i));
  }
  const parts = [...m].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${v.toFixed(0)} ms ${k}`);
  console.log(`  ${r.ms.toFixed(0)} ms at ${r.s.toFixed(1)} s: ${parts.join(' | ')}`);
}
