#!/usr/bin/env node
// Speed checks with absolute limits, kept out of `npm test` (whose verdict must not depend on how
// busy the machine is): run them on a quiet machine after a build, like the benchmark.
//
//   npx tsc -p . && node bench/speed-checks.mjs
//
// Prints one line per check with the figure and its limit; exits 1 when one is over its limit.
// `npm test` checks the same code for hangs and for super-linear growth (relative bounds);
// these say how fast it is here.
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(new URL('test/property/ingest-properties.js', dist))) {
  console.error('dist/ is missing: build first (`npx tsc -p .`)');
  process.exit(2);
}
const { MllpFramer } = await import(new URL('src/mllp/framer.js', dist).href);
const { PROPERTIES, PATHOLOGICAL_SHAPES, PATHOLOGICAL_BYTES, throughIngest } = await import(new URL('test/property/ingest-properties.js', dist).href);

let failed = 0;
function check(name, value, limit, unit) {
  const ok = value < limit;
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'SLOW'} ${name}: ${value.toFixed(1)} ${unit} (limit ${limit} ${unit})`);
}

// MLLP framer: a 10 MB frame in 64 KiB chunks, as socket reads deliver it.
{
  const size = 10 * 1024 * 1024;
  const stream = Buffer.alloc(size + 3, 0x41);
  stream[0] = 0x0b;
  stream.write('MSH|', 1, 'latin1');
  stream[size + 1] = 0x1c;
  stream[size + 2] = 0x0d;
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const framer = new MllpFramer({ maxFrameBytes: size });
    let got = 0;
    const sink = { frame: (f) => (got = f.length), discarded: () => {}, oversize: () => {} };
    const t = performance.now();
    for (let off = 0; off < stream.length; off += 65536) framer.push(stream.subarray(off, off + 65536), sink);
    best = Math.min(best, performance.now() - t);
    if (got !== size) throw new Error(`the framer delivered ${got} bytes, not ${size}`);
  }
  check('framer, one 10 MB frame in 64 KiB chunks', best, 500, 'ms');
}

// Ingest properties: the slowest single small input of each property.
for (const [name, spec] of Object.entries(PROPERTIES)) {
  if (name === 'pathological') continue;
  const outcome = spec.run();
  check(`property ${name}, slowest of ${outcome.inputs} inputs`, outcome.slowestMs, 2000, 'ms');
}

// Pathological 2 MB inputs through framer, decode and parse, each on its own (fastest of 3).
for (const [shape, build] of PATHOLOGICAL_SHAPES.entries()) {
  const input = build(PATHOLOGICAL_BYTES);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t = performance.now();
    throughIngest(input);
    best = Math.min(best, performance.now() - t);
  }
  check(`pathological input ${shape} (${input.length} bytes) through ingest`, best, 3000, 'ms');
}

process.exit(failed > 0 ? 1 : 0);
