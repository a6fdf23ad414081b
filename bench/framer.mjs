#!/usr/bin/env node
// MLLP framer speed and memory, before/after figures for BENCHMARKS.md (not part of `npm test`).
//
//   npm run build --silent && node --expose-gc bench/framer.mjs
//
// Speed: best of 5 runs per shape. Memory: 200 framers (one per simulated connection) each fed
// a partial frame of 4 KiB one byte per push(), as 1-byte TCP reads deliver it; reported as
// resident memory (RSS) and V8's arrayBuffers+heap growth per byte held.
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(new URL('src/mllp/framer.js', dist))) {
  console.error('dist/ is missing: build first (`npm run build --silent`)');
  process.exit(2);
}
const { MllpFramer } = await import(new URL('src/mllp/framer.js', dist).href);

function best(name, runs, fn) {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  console.log(`${name}: ${min.toFixed(2)} ms`);
}

function frameOf(size) {
  const b = Buffer.alloc(size + 3, 0x41);
  b[0] = 0x0b;
  b.write('MSH|', 1, 'latin1');
  b[size + 1] = 0x1c;
  b[size + 2] = 0x0d;
  return b;
}

const sinkCounting = () => {
  const s = { frames: 0, bytes: 0, frame: (f) => { s.frames++; s.bytes += f.length; }, discarded: () => {}, oversize: () => {} };
  return s;
};

// Memory first, before the speed runs leave garbage behind.
if (typeof globalThis.gc === 'function') {
  const gc = globalThis.gc;
  const CONNS = 200;
  const BYTES = 4096;
  gc();
  gc();
  const before = process.memoryUsage();
  const framers = Array.from({ length: CONNS }, () => new MllpFramer({ maxFrameBytes: 16 * 1024 * 1024 }));
  const sink = sinkCounting();
  for (const f of framers) f.push(Buffer.from([0x0b]), sink);
  for (let i = 0; i < BYTES; i++) {
    for (const f of framers) {
      // A fresh 1-byte Buffer per read, as a socket hands them over.
      const b = Buffer.allocUnsafeSlow(1);
      b[0] = 0x41;
      f.push(b, sink);
    }
  }
  gc();
  gc();
  const after = process.memoryUsage();
  const held = CONNS * BYTES;
  const rss = (after.rss - before.rss) / held;
  const v8 = (after.heapUsed + after.arrayBuffers + after.external - before.heapUsed - before.arrayBuffers - before.external) / held;
  console.log(`${CONNS} partial frames of ${BYTES} B fed one byte per push(): RSS +${((after.rss - before.rss) / 2 ** 20).toFixed(1)} MiB = ${rss.toFixed(1)} B per byte held; heap+buffers ${v8.toFixed(1)} B per byte held`);
  framers.length = 0;
} else {
  console.log('(run with --expose-gc for the memory figure)');
}


{
  const stream = frameOf(10 * 1024 * 1024);
  best('one 10 MB frame in 64 KiB chunks', 5, () => {
    const framer = new MllpFramer({ maxFrameBytes: 16 * 1024 * 1024 });
    const sink = sinkCounting();
    for (let off = 0; off < stream.length; off += 65536) framer.push(stream.subarray(off, off + 65536), sink);
    if (sink.bytes !== 10 * 1024 * 1024) throw new Error('wrong size');
  });
}
{
  const one = frameOf(2000);
  const stream = Buffer.concat(Array.from({ length: 5000 }, () => one));
  best('5,000 frames of 2 KB, in 64 KiB chunks (frames span chunks)', 5, () => {
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    const sink = sinkCounting();
    for (let off = 0; off < stream.length; off += 65536) framer.push(stream.subarray(off, off + 65536), sink);
    if (sink.frames !== 5000) throw new Error('wrong count');
  });
  best('5,000 frames of 2 KB, one chunk per frame', 5, () => {
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    const sink = sinkCounting();
    for (let i = 0; i < 5000; i++) framer.push(one, sink);
    if (sink.frames !== 5000) throw new Error('wrong count');
  });
  const small = frameOf(200);
  const bytes = [...small];
  const singles = bytes.map((b) => Buffer.from([b]));
  best('200 frames of 200 B, one byte per push()', 5, () => {
    const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
    const sink = sinkCounting();
    for (let i = 0; i < 200; i++) for (const s of singles) framer.push(s, sink);
    if (sink.frames !== 200) throw new Error('wrong count');
  });
}

