import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MllpFramer, encodeFrame, type FrameSink } from '../../src/mllp/framer.js';

// Written with explicit escapes so every envelope byte is visible in the test text.
const VT = '\x0b';
const FS = '\x1c';
const CR = '\r';

interface Recorded {
  frames: string[]; // latin1, so every byte maps to one character
  discarded: number;
  oversize: number[];
}

function recorder(): { sink: FrameSink; seen: Recorded } {
  const seen: Recorded = { frames: [], discarded: 0, oversize: [] };
  const sink: FrameSink = {
    frame: (f) => seen.frames.push(f.toString('latin1')),
    discarded: (n) => {
      assert.ok(n > 0, 'discarded() is only called with a positive count');
      seen.discarded += n;
    },
    oversize: (n) => seen.oversize.push(n),
  };
  return { sink, seen };
}

function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

function run(chunks: readonly Buffer[], maxFrameBytes = 1 << 20): Recorded & { buffered: number } {
  const framer = new MllpFramer({ maxFrameBytes });
  const { sink, seen } = recorder();
  for (const c of chunks) framer.push(c, sink);
  return { ...seen, buffered: framer.buffered };
}

function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(buf.subarray(from, c));
    from = c;
  }
  out.push(buf.subarray(from));
  return out;
}

const ADT = 'MSH|^~\\&|LAB|HOSP|ENG|HOSP|20261121||ADT^A01|M1|P|2.5.1' + CR + 'PID|1||123' + CR;
const ORU = 'MSH|^~\\&|LAB|HOSP|ENG|HOSP|20261121||ORU^R01|M2|P|2.5.1' + CR + 'OBX|1|ST|X||ok' + CR;

test('delivers the bytes between VT and FS, without the envelope', () => {
  const seen = run([bytes(VT + ADT + FS + CR)]);
  assert.deepEqual(seen.frames, [ADT]);
  assert.equal(seen.discarded, 0);
  assert.equal(seen.buffered, 0);
});

test('delivers several frames that arrive in one chunk, in order', () => {
  const seen = run([bytes(VT + ADT + FS + CR + VT + ORU + FS + CR + VT + ADT + FS + CR)]);
  assert.deepEqual(seen.frames, [ADT, ORU, ADT]);
  assert.equal(seen.discarded, 0);
});

test('a frame inside one chunk is a view of that chunk, not a copy', () => {
  const chunk = bytes(VT + ADT + FS + CR);
  const framer = new MllpFramer({ maxFrameBytes: 1024 });
  let got: Buffer | undefined;
  framer.push(chunk, { frame: (f) => (got = f), discarded: () => {}, oversize: () => {} });
  assert.ok(got);
  assert.equal(got.buffer, chunk.buffer);
  assert.equal(got.byteOffset, chunk.byteOffset + 1);
});

test('a chunk boundary at every byte offset of a two-frame stream yields the same frames', () => {
  const stream = bytes(VT + ADT + FS + CR + VT + ORU + FS + CR);
  for (let cut = 0; cut <= stream.length; cut++) {
    const seen = run(splitAt(stream, [cut]));
    assert.deepEqual(seen.frames, [ADT, ORU], `cut at ${cut}`);
    assert.equal(seen.discarded, 0, `cut at ${cut}`);
  }
});

test('every pair of chunk boundaries in a short stream with garbage yields the same result', () => {
  const stream = bytes('x' + VT + 'MSH|a' + FS + CR + 'yz' + VT + 'MSH|b' + CR + FS + VT + 'MSH|c' + FS);
  for (let a = 0; a <= stream.length; a++) {
    for (let b = a; b <= stream.length; b++) {
      const seen = run(splitAt(stream, [a, b]));
      assert.deepEqual(seen.frames, ['MSH|a', 'MSH|b' + CR, 'MSH|c'], `cuts at ${a},${b}`);
      assert.equal(seen.discarded, 3, `cuts at ${a},${b}`);
    }
  }
});

test('a frame fed one byte at a time is delivered once, whole', () => {
  const stream = bytes(VT + ADT + FS + CR);
  const seen = run(splitAt(stream, Array.from({ length: stream.length - 1 }, (_, k) => k + 1)));
  assert.deepEqual(seen.frames, [ADT]);
  assert.equal(seen.discarded, 0);
});

test('bytes before the first VT and between frames are discarded and counted', () => {
  const seen = run([bytes('GARBAGE' + VT + 'MSH|a' + FS + CR + '\r\n\r\n' + VT + 'MSH|b' + FS + CR + 'tail')]);
  assert.deepEqual(seen.frames, ['MSH|a', 'MSH|b']);
  assert.equal(seen.discarded, 'GARBAGE'.length + '\r\n\r\n'.length + 'tail'.length);
});

test('an FS and CR outside any frame are discarded, not mistaken for a frame end', () => {
  const seen = run([bytes(FS + CR + 'x' + VT + 'MSH|a' + FS + CR)]);
  assert.deepEqual(seen.frames, ['MSH|a']);
  assert.equal(seen.discarded, 3);
});

test('FS without CR ends the frame; a following VT starts the next frame', () => {
  const seen = run([bytes(VT + 'MSH|a' + FS + VT + 'MSH|b' + FS + CR)]);
  assert.deepEqual(seen.frames, ['MSH|a', 'MSH|b']);
  assert.equal(seen.discarded, 0);
});

test('FS without CR ends the frame; a following non-CR byte is discarded as outside bytes', () => {
  const seen = run([bytes(VT + 'MSH|a' + FS + 'Q' + VT + 'MSH|b' + FS + CR)]);
  assert.deepEqual(seen.frames, ['MSH|a', 'MSH|b']);
  assert.equal(seen.discarded, 1);
});

test('a VT followed by MSH inside a frame restarts the frame and discards the abandoned bytes', () => {
  const abandoned = 'MSH|^~\\&|LAB|HOSP|ENG|HO';
  const seen = run([bytes(VT + abandoned + VT + ORU + FS + CR)]);
  assert.deepEqual(seen.frames, [ORU]);
  assert.equal(seen.discarded, 1 + abandoned.length); // the abandoned frame's VT and its bytes
});

test('a restart is detected the same way when the new VT and MSH arrive in different chunks', () => {
  const stream = bytes(VT + 'MSH|old' + VT + 'MSH|new' + FS + CR);
  for (let cut = 0; cut <= stream.length; cut++) {
    const seen = run(splitAt(stream, [cut]));
    assert.deepEqual(seen.frames, ['MSH|new'], `cut at ${cut}`);
    assert.equal(seen.discarded, 8, `cut at ${cut}`);
  }
});

test('a stray VT that does not start a message stays in the payload', () => {
  const payload = 'MSH|^~\\&|A|B' + CR + 'PID|1' + CR + VT + CR + '\n';
  const seen = run([bytes(VT + payload + FS + CR)]);
  assert.deepEqual(seen.frames, [payload]);
  assert.equal(seen.discarded, 0);
});

test('a message file ending in a stray VT, CR, LF (as some lab systems write them) is delivered byte for byte', () => {
  const file = Buffer.from(
    'MSH|^~\\&|LAB||ENGINE||20260127105114||ORU^R01|LAB0000001' + CR +
      'PID|||TEST-MRN-1||TEST^PATIENT|||' + CR +
      'OBX||FT|EXAM^MICROSCOPIC||GRAM POSITIVE COCCI IN GROUPS||' + CR +
      VT + CR + '\n',
    'latin1',
  );
  assert.deepEqual([...file.subarray(-4)], [0x0d, 0x0b, 0x0d, 0x0a], 'the file ends in the stray VT this test is about');
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
  const got: Buffer[] = [];
  framer.push(encodeFrame(file), { frame: (f) => got.push(f), discarded: () => assert.fail('nothing to discard'), oversize: () => assert.fail('not oversize') });
  assert.equal(got.length, 1);
  assert.ok(got[0]?.equals(file));
});

test('a frame of exactly maxFrameBytes is delivered', () => {
  const seen = run([bytes(VT + 'MSH|12345' + FS + CR)], 9);
  assert.deepEqual(seen.frames, ['MSH|12345']);
  assert.deepEqual(seen.oversize, []);
});

test('a frame of maxFrameBytes + 1 is reported oversize once and not delivered', () => {
  const seen = run([bytes(VT + 'MSH|123456' + FS + CR)], 9);
  assert.deepEqual(seen.frames, []);
  assert.deepEqual(seen.oversize, [10]);
  assert.equal(seen.discarded, 1 + 10 + 1 + 1); // VT, payload, FS, CR of the dropped frame
});

test('oversize() hands over a copy of the frame head, so MSH-10 can still be answered', () => {
  const msh = 'MSH|^~\\&|LAB|HOSP|ENG|HOSP|20261121||ADT^A01|BIG-1|P|2.5.1' + CR;
  const framer = new MllpFramer({ maxFrameBytes: 2000 });
  const heads: string[] = [];
  const sink: FrameSink = { frame: () => assert.fail('not delivered'), discarded: () => {}, oversize: (_n, head) => heads.push(head.toString('latin1')) };
  framer.push(bytes(VT + msh.slice(0, 10)), sink);
  framer.push(bytes(msh.slice(10) + 'OBX|1|ED|' + 'A'.repeat(3000)), sink);
  assert.equal(heads.length, 1);
  assert.equal(heads[0], (msh + 'OBX|1|ED|' + 'A'.repeat(3000)).slice(0, 1024));
});

test('an endless frame keeps memory bounded, is reported once, and the next frame is delivered', () => {
  const max = 1000;
  const framer = new MllpFramer({ maxFrameBytes: max });
  const { sink, seen } = recorder();
  framer.push(bytes(VT + 'MSH|'), sink);
  const filler = Buffer.alloc(300, 0x41); // "AAAA…", no FS
  for (let k = 0; k < 100; k++) {
    framer.push(filler, sink);
    assert.ok(framer.buffered <= max, `buffered ${framer.buffered} after chunk ${k}`);
  }
  assert.equal(seen.oversize.length, 1);
  assert.ok((seen.oversize[0] ?? 0) > max);
  framer.push(bytes('AAA' + VT + 'MSH|still-skipped' + FS + CR + VT + 'MSH|next' + FS + CR), sink);
  assert.deepEqual(seen.frames, ['MSH|next']);
  assert.equal(seen.oversize.length, 1);
  assert.equal(framer.buffered, 0);
});

// How long this takes is measured in bench/speed-checks.mjs, not here.
test('a 10 MB frame in 64 KiB chunks is delivered whole', () => {
  const size = 10 * 1024 * 1024;
  const stream = Buffer.alloc(size + 3, 0x41);
  stream[0] = 0x0b;
  stream.write('MSH|', 1, 'latin1');
  stream[size + 1] = 0x1c;
  stream[size + 2] = 0x0d;
  const framer = new MllpFramer({ maxFrameBytes: size });
  let got: Buffer | undefined;
  const sink: FrameSink = { frame: (f) => (got = f), discarded: () => {}, oversize: () => {} };
  for (let off = 0; off < stream.length; off += 65536) framer.push(stream.subarray(off, off + 65536), sink);
  assert.ok(got, 'the frame was delivered');
  assert.equal(got.length, size);
  assert.ok(got.equals(stream.subarray(1, size + 1)));
});

test('reset() forgets a partial frame', () => {
  const framer = new MllpFramer({ maxFrameBytes: 100 });
  const { sink, seen } = recorder();
  framer.push(bytes(VT + 'MSH|partial'), sink);
  assert.equal(framer.buffered, 'MSH|partial'.length);
  framer.reset();
  assert.equal(framer.buffered, 0);
  framer.push(bytes('rest' + FS + CR + VT + 'MSH|b' + FS + CR), sink);
  assert.deepEqual(seen.frames, ['MSH|b']);
});

test('encodeFrame wraps a payload as VT payload FS CR', () => {
  assert.equal(encodeFrame(bytes('MSH|a')).toString('latin1'), VT + 'MSH|a' + FS + CR);
});

// Bytes drawn mostly from the ones the framer cares about, so frames, restarts and oversize
// all happen often; arbitrary bytes keep everything else honest.
const streamByte = fc.oneof(
  fc.constantFrom(0x0b, 0x1c, 0x0d, 0x4d, 0x53, 0x48, 0x42, 0x46, 0x41),
  fc.integer({ min: 0, max: 255 }),
);

test('property: any chunking of any bytes never throws, matches byte-at-a-time framing, and accounts for every byte', () => {
  fc.assert(
    fc.property(
      fc.array(streamByte, { maxLength: 200 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.integer({ min: 0, max: 24 }),
      (raw, cutSeeds, max) => {
        // A final FS closes whatever is open, so no byte is left buffered at the end.
        const input = Buffer.from([...raw, 0x1c]);

        const single = new MllpFramer({ maxFrameBytes: max });
        const { sink: s1, seen: byByte } = recorder();
        let pos = 0;
        let trailerCrs = 0;
        const countingSink: FrameSink = {
          frame: (f) => {
            if (input[pos + 1] === 0x0d) trailerCrs++;
            s1.frame(f);
          },
          discarded: (n) => s1.discarded(n),
          oversize: (n, head) => s1.oversize(n, head),
        };
        for (pos = 0; pos < input.length; pos++) single.push(input.subarray(pos, pos + 1), countingSink);

        const payload = byByte.frames.reduce((sum, f) => sum + f.length, 0);
        assert.equal(payload + 2 * byByte.frames.length + trailerCrs + byByte.discarded, input.length);
        assert.equal(single.buffered, 0);

        const cuts = [...new Set(cutSeeds.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const chunked = run(splitAt(input, cuts), max);
        assert.deepEqual(chunked.frames, byByte.frames);
        assert.equal(chunked.discarded, byByte.discarded);
        assert.equal(chunked.oversize.length, byByte.oversize.length);
        assert.ok(chunked.frames.every((f) => f.length <= max));
      },
    ),
    { numRuns: 2000 },
  );
});
