/**
 * Properties of the ingest path every MLLP byte takes before an ACK: framer → charset decision →
 * parser → MSH summary → ACK. They run in a worker thread (see property.worker.ts) so that an
 * input that makes any stage loop forever fails the test at its deadline instead of hanging the
 * suite. Each property counts the inputs it was given, for RELIABILITY.md.
 *
 * test/mllp/framer.test.ts and test/hl7/property.test.ts check each stage alone; these check the
 * stages chained as ingest chains them, with chunking, charsets and damaged input.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { decodeMessage } from '../../src/charset/index.js';
import { escapeValue, parseMessage, readDelimiters, splitBatch, type Delimiters } from '../../src/hl7/index.js';
import { DEFAULT_DELIMITERS } from '../../src/hl7/types.js';
import { buildAck, newControlId } from '../../src/hl7/index.js';
import { encodeFrame, MllpFramer, type FrameSink } from '../../src/mllp/index.js';

export interface PropertyOutcome {
  readonly inputs: number;
  /** The slowest single input, in milliseconds. */
  readonly slowestMs: number;
}

export interface PropertySpec {
  readonly title: string;
  readonly run: () => PropertyOutcome;
}

/** Counts inputs and times each one around a predicate. */
function measured<A extends unknown[]>(predicate: (...args: A) => void): { predicate: (...args: A) => void; outcome: () => PropertyOutcome } {
  let inputs = 0;
  let slowestMs = 0;
  return {
    predicate: (...args: A) => {
      inputs++;
      const t = process.hrtime.bigint();
      try {
        predicate(...args);
      } finally {
        slowestMs = Math.max(slowestMs, Number(process.hrtime.bigint() - t) / 1e6);
      }
    },
    outcome: () => ({ inputs, slowestMs: Math.round(slowestMs * 10) / 10 }),
  };
}

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

interface FramerRun {
  readonly frames: Buffer[];
  readonly discarded: number;
  readonly oversize: number[];
}

/** Pushes the stream cut at the given offsets, copying each frame (views die with their chunk). */
function frameAll(stream: Buffer, cuts: readonly number[], maxFrameBytes: number): FramerRun {
  const framer = new MllpFramer({ maxFrameBytes });
  const out = { frames: [] as Buffer[], discarded: 0, oversize: [] as number[] };
  const sink: FrameSink = {
    frame: (f) => out.frames.push(Buffer.from(f)),
    discarded: (n) => (out.discarded += n),
    oversize: (n) => out.oversize.push(n),
  };
  let at = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)) {
    // Each chunk is a fresh copy, as socket 'data' chunks are.
    framer.push(Buffer.from(stream.subarray(at, cut)), sink);
    at = cut;
  }
  framer.push(Buffer.from(stream.subarray(at)), sink);
  return out;
}

// --- framer -----------------------------------------------------------------------------------

const MAX_FRAME = 512;
/** Payload bytes: anything but VT and FS (which MLLP reserves), weighted towards HL7's own. */
const payloadByte = fc.oneof(
  fc.constantFrom(...Buffer.from('MSH|^~\\&\rPID0A\n')),
  fc.integer({ min: 0, max: 255 }).filter((b) => b !== VT && b !== FS),
);
/** Bytes between frames: anything but VT (which would open a frame). */
const gapByte = fc.oneof(fc.constantFrom(FS, CR, 0x0a, 0x20, 0x41), fc.integer({ min: 0, max: 255 }).filter((b) => b !== VT));

const framedStream = fc.array(
  fc.record({
    gap: fc.array(gapByte, { maxLength: 12 }),
    // Mostly frames that fit; some over the limit, which must be refused without harming the rest.
    payload: fc.oneof({ weight: 5, arbitrary: fc.array(payloadByte, { maxLength: 200 }) }, { weight: 1, arbitrary: fc.array(payloadByte, { minLength: MAX_FRAME + 1, maxLength: MAX_FRAME + 300 }) }),
  }),
  { maxLength: 8 },
);

const framerRoundTrip: PropertySpec = {
  title: 'framer: frames separated by arbitrary non-VT bytes and cut into arbitrary chunks come out exactly as sent, oversize ones refused once each, every other byte counted as discarded',
  run() {
    const m = measured((parts: Array<{ gap: number[]; payload: number[] }>, cuts: number[]) => {
      const stream = Buffer.concat(parts.flatMap((p) => [Buffer.from(p.gap), encodeFrame(Buffer.from(p.payload))]));
      const got = frameAll(stream, cuts, MAX_FRAME);
      const fitting = parts.filter((p) => p.payload.length <= MAX_FRAME);
      const oversize = parts.filter((p) => p.payload.length > MAX_FRAME);
      assert.deepEqual(got.frames, fitting.map((p) => Buffer.from(p.payload)));
      assert.equal(got.oversize.length, oversize.length);
      const gapBytes = parts.reduce((n, p) => n + p.gap.length, 0);
      const oversizeBytes = oversize.reduce((n, p) => n + p.payload.length + 3, 0);
      assert.equal(got.discarded, gapBytes + oversizeBytes);
    });
    fc.assert(fc.property(framedStream, fc.array(fc.nat(), { maxLength: 12 }), m.predicate), { numRuns: 3000 });
    return m.outcome();
  },
};

const anyStream = fc.oneof(
  fc.uint8Array({ maxLength: 4000 }).map((a) => Buffer.from(a)),
  fc.array(fc.constantFrom(VT, FS, CR, 0x4d, 0x53, 0x48, 0x42, 0x46, 0x7c), { maxLength: 4000 }).map((a) => Buffer.from(a)),
);

const framerNeverStuck: PropertySpec = {
  title: 'framer: any byte stream, cut anywhere, never throws, never delivers a frame over the limit and never holds more than the limit plus one chunk',
  run() {
    const m = measured((stream: Buffer, cuts: number[], max: number) => {
      const framer = new MllpFramer({ maxFrameBytes: max });
      let delivered = 0;
      const sink: FrameSink = {
        frame: (f) => {
          assert.ok(f.length <= max);
          delivered += f.length;
        },
        discarded: () => undefined,
        oversize: () => undefined,
      };
      let at = 0;
      let largestChunk = 0;
      for (const cut of [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b)) {
        largestChunk = Math.max(largestChunk, cut - at);
        framer.push(stream.subarray(at, cut), sink);
        at = cut;
        assert.ok(framer.buffered <= max + largestChunk + 1, `framer holds ${framer.buffered} bytes with a limit of ${max}`);
      }
      framer.push(stream.subarray(at), sink);
      assert.ok(delivered <= stream.length);
    });
    fc.assert(fc.property(anyStream, fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 0, max: 600 }), m.predicate), { numRuns: 1500 });
    return m.outcome();
  },
};

// --- well-formed messages through framer, charset and parser ---------------------------------------

const DELIMITER_CHARS = [...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'];
const delimitersArb: fc.Arbitrary<Delimiters> = fc
  .tuple(fc.uniqueArray(fc.constantFrom(...DELIMITER_CHARS), { minLength: 5, maxLength: 5 }), fc.boolean())
  .map(([c, standard]) =>
    standard
      ? DEFAULT_DELIMITERS
      : { field: c[0] ?? '|', component: c[1] ?? '^', repetition: c[2] ?? '~', escape: c[3] ?? '\\', subcomponent: c[4] ?? '&', truncation: null },
  );

/**
 * Text a Latin-1 sender can encode: ASCII, delimiter characters (escaped on the way in) and
 * accented letters whose windows-1252 bytes can never form valid UTF-8 (no 0x80-0xBF byte), so
 * the charset stage has exactly one right answer.
 */
const LETTERS = [...'abcXYZ019 .,-/\'', 'é', 'ü', 'ñ', 'ß', 'ø', 'Ö', 'Ç'];
const valueArb = fc.string({ unit: fc.constantFrom(...LETTERS, ...DELIMITER_CHARS), maxLength: 12 });
const segIdArb = fc.constantFrom('PID', 'PV1', 'OBX', 'NK1', 'ZZ1', 'AL1', 'NTE');

type Encoding = { readonly charset: 'utf-8' | 'windows-1252' | 'iso-8859-1'; readonly msh18: string };
const encodingArb = fc.constantFrom<Encoding>(
  { charset: 'utf-8', msh18: '' },
  { charset: 'utf-8', msh18: 'UNICODE UTF-8' },
  { charset: 'windows-1252', msh18: '' },
  { charset: 'iso-8859-1', msh18: '8859/1' },
);

const messageArb = fc
  .record({
    d: delimitersArb,
    controlId: fc.string({ unit: fc.constantFrom(...'ABC0123456789-.'), minLength: 1, maxLength: 20 }),
    segments: fc.array(fc.record({ id: segIdArb, fields: fc.array(fc.array(valueArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }) }), { minLength: 1, maxLength: 6 }),
    encoding: encodingArb,
  })
  // MSH-12 and MSH-18 are written as plain text (a sender never escapes "2.5.1" or "8859/1"), so
  // delimiters that occur in them would make a different message, not a harder one.
  .filter(({ d, encoding }) => ![d.field, d.component, d.repetition, d.escape, d.subcomponent].some((c) => `2.5.1${encoding.msh18}`.includes(c)));

type GeneratedMessage = { d: Delimiters; controlId: string; segments: Array<{ id: string; fields: string[][] }>; encoding: Encoding };

function textOf(g: GeneratedMessage): string {
  const { d } = g;
  const enc = d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
  const msh = ['MSH' + d.field + enc, 'SENDER', 'FAC', 'ENGINE', 'FAC', '20260101120000', '', `ADT${d.component}A01`, escapeValue(g.controlId, d), 'P', '2.5.1'];
  if (g.encoding.msh18) msh.push('', '', '', '', '', g.encoding.msh18);
  const lines = [msh.join(d.field)];
  for (const s of g.segments) lines.push([s.id, ...s.fields.map((f) => f.map((v) => escapeValue(v, d)).join(d.component))].join(d.field));
  return lines.join('\r') + '\r';
}

function encode(text: string, charset: Encoding['charset']): Buffer {
  return charset === 'utf-8' ? Buffer.from(text, 'utf8') : iconv.encode(text, charset);
}

const wellFormedRoundTrip: PropertySpec = {
  title: 'pipeline: generated well-formed messages in UTF-8, windows-1252 or ISO-8859-1, framed and cut anywhere, decode to their exact text, parse losslessly, give back every value and get an ACK naming their control id',
  run() {
    const m = measured((batch: GeneratedMessage[], cuts: number[]) => {
      const texts = batch.map(textOf);
      const stream = Buffer.concat(batch.map((g, i) => encodeFrame(encode(texts[i]!, g.encoding.charset))));
      const { frames } = frameAll(stream, cuts, 64 * 1024);
      assert.equal(frames.length, batch.length);
      frames.forEach((frame, i) => {
        const g = batch[i]!;
        const decoded = decodeMessage(frame, { fallback: 'windows-1252' });
        assert.ok(decoded.ok, 'a clean message must decode');
        assert.equal(decoded.text, texts[i]);
        assert.deepEqual(decoded.repairs, [], 'a clean message needs no repair');
        const parsed = parseMessage(decoded.text);
        assert.ok(parsed.ok, parsed.ok ? '' : parsed.error.message);
        const msg = parsed.message;
        assert.equal(msg.toString(), texts[i]);
        assert.equal(msg.msh().controlId, g.controlId);
        const seen = new Map<string, number>();
        for (const s of g.segments) {
          const n = (seen.get(s.id) ?? 0) + 1;
          seen.set(s.id, n);
          s.fields.forEach((f, fi) => f.forEach((v, ci) => assert.equal(msg.get(`${s.id}[${n}]-${fi + 1}.${ci + 1}`), v)));
        }
        const ack = buildAck({ inbound: msg.msh(), delimiters: msg.delimiters, outcome: 'accepted', mode: 'original', controlId: newControlId(), now: new Date(0) });
        const ackParsed = parseMessage(ack);
        assert.ok(ackParsed.ok, 'the ACK is itself a well-formed message');
        assert.equal(ackParsed.message.get('MSA-1'), 'AA');
        assert.equal(ackParsed.message.get('MSA-2'), g.controlId);
      });
    });
    fc.assert(fc.property(fc.array(messageArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), m.predicate), { numRuns: 1500 });
    return m.outcome();
  },
};

// --- damaged messages ------------------------------------------------------------------------------

/** Damage a sender or a network path could do: bytes changed, inserted, dropped, repeated, cut. */
type Damage =
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'repeat'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const nastyByte = fc.oneof(fc.constantFrom(VT, FS, CR, 0x0a, 0x00, 0x7c, 0x5e, 0x7e, 0x5c, 0x26, 0xc3, 0xa9, 0xff, 0xfe, 0xef, 0xbb, 0xbf, 0x1b), fc.integer({ min: 0, max: 255 }));
const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: nastyByte }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(nastyByte, { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 30 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function damage(bytes: Buffer, ds: readonly Damage[]): Buffer {
  let b = bytes;
  for (const d of ds) {
    const at = b.length === 0 ? 0 : d.at % (b.length + 1);
    switch (d.kind) {
      case 'set':
        if (at < b.length) (b = Buffer.from(b))[at] = d.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(d.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + d.length)]);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at + d.length), b.subarray(at)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

const FALLBACKS = ['windows-1252', 'utf-8', 'reject', 'iso-8859-1', 'shift_jis'];

/**
 * What ingest does with one frame before it answers, minus Kafka: every step must return
 * normally whatever the bytes, and the answer must be an ACK a sender can read.
 */
function ingestSteps(frame: Buffer, fallback: string): void {
  const decoded = decodeMessage(frame, { fallback });
  if (!decoded.ok) {
    assert.ok(decoded.message.length > 0, 'a charset failure says why');
    return;
  }
  const batch = splitBatch(decoded.text);
  for (const text of [decoded.text, ...batch.messages]) {
    const parsed = parseMessage(text);
    if (!parsed.ok) {
      assert.ok(parsed.error.code.length > 0 && parsed.error.message.length > 0);
      const d = readDelimiters(text) ?? DEFAULT_DELIMITERS;
      const ack = buildAck({ inbound: null, delimiters: d, outcome: 'rejected', mode: 'original', controlId: newControlId(), now: new Date(0), error: { code: 100, severity: 'E', text: 'cannot be parsed' } });
      assert.ok(ack.startsWith('MSH'));
      continue;
    }
    const msg = parsed.message;
    assert.equal(msg.toString(), text, 'a message that parses is kept losslessly');
    const msh = msg.msh();
    msg.get('PID-3[1].1');
    msg.getAll('OBX[*]-5[*]');
    for (const s of msg.segments()) s.get('1.1');
    const ack = buildAck({ inbound: msh, delimiters: msg.delimiters, outcome: 'accepted', mode: 'auto', controlId: newControlId(), now: new Date(0) });
    const ackParsed = parseMessage(ack);
    assert.ok(ackParsed.ok, `the ACK to a parsed message is itself well formed: ${ackParsed.ok ? '' : ackParsed.error.code}`);
    assert.equal(ackParsed.message.get('MSA-2'), msh.controlId, 'the ACK names the control id that was sent');
  }
}

const damagedMessages: PropertySpec = {
  title: 'pipeline: well-formed messages damaged (bytes changed, inserted, dropped, repeated, cut) never make framing, decoding, parsing or the ACK throw, and what parses stays lossless',
  run() {
    const m = measured((g: GeneratedMessage, ds: Damage[], fallback: string, cuts: number[]) => {
      const bytes = damage(encode(textOf(g), g.encoding.charset), ds);
      // Framed as a sender would; damage may have put VT or FS inside, which the framer must survive.
      const { frames } = frameAll(encodeFrame(bytes), cuts, 64 * 1024);
      for (const f of frames) ingestSteps(f, fallback);
      ingestSteps(bytes, fallback);
    });
    fc.assert(fc.property(messageArb, fc.array(damageArb, { minLength: 1, maxLength: 5 }), fc.constantFrom(...FALLBACKS), fc.array(fc.nat(), { maxLength: 6 }), m.predicate), { numRuns: 3000 });
    return m.outcome();
  },
};

const arbitraryBytes: PropertySpec = {
  title: 'pipeline: arbitrary bytes (random, or made of HL7 and MLLP fragments) never make decoding, parsing or the ACK throw',
  run() {
    const fragments = ['MSH|^~\\&|', 'MSH', '|', '^', '~', '\\', '&', '\r', '\n', '\x0b', '\x1c', 'PID|1||', 'FHS|^~\\&', 'BHS|^~\\&', 'BTS|1', '\\X0D\\', '\\.br\\', 'Ã©', '\x00', '\uFEFF', 'UNICODE UTF-8', '8859/1', 'ISO IR87', '\x1b$B'];
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
      fc.array(fc.constantFrom(...fragments), { maxLength: 60 }).map((a) => Buffer.from(a.join(''), 'utf8')),
      fc.tuple(fc.array(fc.constantFrom(...fragments), { maxLength: 30 }), fc.uint8Array({ maxLength: 100 })).map(([a, b]) => Buffer.concat([Buffer.from('MSH|^~\\&|' + a.join(''), 'latin1'), Buffer.from(b)])),
    );
    const m = measured((bytes: Buffer, fallback: string) => ingestSteps(bytes, fallback));
    fc.assert(fc.property(input, fc.constantFrom(...FALLBACKS), m.predicate), { numRuns: 4000 });
    return m.outcome();
  },
};

// --- pathological sizes: linear, not quadratic ----------------------------------------------------------

/** Input shapes meant to trip quadratic code, at a given size in bytes. */
export const PATHOLOGICAL_SHAPES: ReadonlyArray<(size: number) => Buffer> = (() => {
  const head = 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5.1\r';
  return [
    (n) => Buffer.from(head + 'PID|' + 'x'.repeat(n)),
    (n) => Buffer.from(head + 'NTE|1|\r'.repeat(n / 7)),
    (n) => Buffer.from(head + 'PID|' + '|'.repeat(n)),
    (n) => Buffer.from(head + 'PID|' + '^~&'.repeat(n / 3)),
    (n) => Buffer.from(head + 'PID|' + '\\'.repeat(n)),
    (n) => Buffer.from(head + 'PID|' + '\\X41\\'.repeat(n / 5)),
    (n) => Buffer.from(head + 'PID|' + '\r\n'.repeat(n / 2)),
    (n) => Buffer.from('\x0bMSH'.repeat(n / 4)),
    (n) => Buffer.from('\x1c\r'.repeat(n / 2)),
    (n) => Buffer.alloc(n, 0xc3),
  ];
})();

/** Framer (two chunkings), decode, parse and field reads of one large input. */
export function throughIngest(input: Buffer): void {
  frameAll(encodeFrame(input), [1, 4096, 65536, input.length >> 1], 4 * input.length);
  frameAll(input, [7, 8191], 4 * input.length);
  ingestSteps(input, 'windows-1252');
  const parsed = parseMessage(input.toString('latin1'));
  if (parsed.ok) {
    parsed.message.getAll('PID[*]-1[*].1');
    parsed.message.get('PID-1');
  }
}

/**
 * The least CPU time of `runs` runs of `work`, in ms. CPU time, not elapsed time: on a shared
 * machine a process waiting for a core is not the code's cost (elapsed time once made a linear
 * shape look 6.9x slower under a load average of 22).
 */
function fastestMs(runs: number, work: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const before = process.cpuUsage();
    work();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

/**
 * One input of PATHOLOGICAL_BYTES against PATHOLOGICAL_PARTS inputs of an eighth of it: the same
 * bytes in total, so linear code takes about as long for both (measured: 0.3× to 2.2×) and
 * quadratic code PATHOLOGICAL_PARTS (8) times longer for the one large input. A relative bound
 * measured in the same run, so a slow or busy machine slows both sides alike. (How long the
 * inputs take in absolute terms is measured in bench/speed-checks.mjs.)
 */
export const PATHOLOGICAL_BYTES = 2 * 1024 * 1024;
export const PATHOLOGICAL_PARTS = 8;
const PATHOLOGICAL_RATIO_BOUND = 5;

const pathological: PropertySpec = {
  title: `pipeline: 2 MB inputs shaped to trip quadratic code (one huge field, 100 000 segments, all delimiters, all escapes, VT storms) cost at most ${PATHOLOGICAL_RATIO_BOUND}× the same bytes in ${PATHOLOGICAL_PARTS} parts`,
  run() {
    let slowestMs = 0;
    for (const [shape, build] of PATHOLOGICAL_SHAPES.entries()) {
      const whole = build(PATHOLOGICAL_BYTES);
      const parts = Array.from({ length: PATHOLOGICAL_PARTS }, () => build(PATHOLOGICAL_BYTES / PATHOLOGICAL_PARTS));
      const partsMs = fastestMs(3, () => parts.forEach(throughIngest));
      const wholeMs = fastestMs(3, () => throughIngest(whole));
      slowestMs = Math.max(slowestMs, wholeMs);
      const ratio = wholeMs / partsMs;
      assert.ok(
        ratio < PATHOLOGICAL_RATIO_BOUND,
        `shape ${shape}: one ${whole.length}-byte input took ${wholeMs.toFixed(1)} ms, ${ratio.toFixed(1)}× the ${partsMs.toFixed(1)} ms of ${PATHOLOGICAL_PARTS} inputs of an eighth of it: super-linear work`,
      );
    }
    return { inputs: PATHOLOGICAL_SHAPES.length * (1 + PATHOLOGICAL_PARTS), slowestMs: Math.round(slowestMs) };
  },
};

export const PROPERTIES: Readonly<Record<string, PropertySpec>> = {
  framerRoundTrip,
  framerNeverStuck,
  wellFormedRoundTrip,
  damagedMessages,
  arbitraryBytes,
  pathological,
};
