import { unescapeValue } from './escape.js';
import { parseFieldPath, parsePath, type FieldPath } from './path.js';
import type { Delimiters, MshSummary } from './types.js';

/**
 * A parsed HL7 v2 message: the original text plus where each segment starts and ends. Fields,
 * repetitions and components are located only when asked for and sliced out of the text, so a
 * message that is only routed and stored never pays for splitting.
 */

function segmentKey(text: string, at: number): number {
  return (text.charCodeAt(at) << 16) | (text.charCodeAt(at + 1) << 8) | text.charCodeAt(at + 2);
}

const MSH_KEY = segmentKey('MSH', 0);
const FHS_KEY = segmentKey('FHS', 0);
const BHS_KEY = segmentKey('BHS', 0);

function codeOf(delimiter: string): number {
  return delimiter === '' ? -1 : delimiter.charCodeAt(0);
}

function manyValuesError(path: string): Error {
  return new Error(`HL7 path "${path}" selects several values ("*"); use getAll()`);
}

export class Hl7Message {
  readonly text: string;
  readonly delimiters: Delimiters;
  readonly #starts: readonly number[];
  readonly #ends: readonly number[];
  readonly #keys: readonly number[];
  readonly #fieldStarts: (number[] | undefined)[];
  readonly #repetitionCode: number;
  readonly #componentCode: number;
  readonly #subcomponentCode: number;
  #summary: MshSummary | undefined;
  // The range found by the last #select call; kept on the instance to avoid allocating tuples.
  #from = 0;
  #to = 0;
  #atomic = false;

  /**
   * Use parseMessage(); this constructor trusts that `starts`/`ends` delimit valid segments of
   * `text` (no terminators inside, ids already checked).
   */
  constructor(
    text: string,
    delimiters: Delimiters,
    starts: readonly number[],
    ends: readonly number[],
  ) {
    this.text = text;
    this.delimiters = delimiters;
    this.#starts = starts;
    this.#ends = ends;
    const keys: number[] = new Array<number>(starts.length);
    for (let i = 0; i < starts.length; i++) keys[i] = segmentKey(text, starts[i] ?? 0);
    this.#keys = keys;
    this.#fieldStarts = new Array<number[] | undefined>(starts.length);
    this.#repetitionCode = codeOf(delimiters.repetition);
    this.#componentCode = codeOf(delimiters.component);
    this.#subcomponentCode = codeOf(delimiters.subcomponent);
  }

  /** Number of segments, not counting blank lines. */
  get segmentCount(): number {
    return this.#starts.length;
  }

  /** Segment ids in message order, e.g. ["MSH", "EVN", "PID", "PV1"]. */
  segmentIds(): string[] {
    const ids: string[] = new Array<string>(this.#starts.length);
    for (let i = 0; i < ids.length; i++) ids[i] = this.segmentIdAt(i);
    return ids;
  }

  /** Id of the segment at 0-based `index` (MSH is 0). */
  segmentIdAt(index: number): string {
    const start = this.#starts[index];
    if (start === undefined) throw new RangeError(`segment index ${index} is out of range`);
    return this.text.slice(start, start + 3);
  }

  /** Raw text of the segment at 0-based `index`, without its terminator. */
  segmentTextAt(index: number): string {
    const start = this.#starts[index];
    const end = this.#ends[index];
    if (start === undefined || end === undefined) {
      throw new RangeError(`segment index ${index} is out of range`);
    }
    return this.text.slice(start, end);
  }

  /** The `occurrence`-th (1-based) segment with this id, or undefined. */
  segment(id: string, occurrence = 1): Hl7Segment | undefined {
    const index = this.#find(id.length === 3 ? segmentKey(id, 0) : -1, occurrence);
    return index < 0 ? undefined : new Hl7Segment(this, index);
  }

  /** Every segment with this id in order, or every segment when no id is given. */
  segments(id?: string): Hl7Segment[] {
    const out: Hl7Segment[] = [];
    const key = id === undefined ? -1 : id.length === 3 ? segmentKey(id, 0) : -2;
    if (key === -2) return out;
    for (let i = 0; i < this.#keys.length; i++) {
      if (key === -1 || this.#keys[i] === key) out.push(new Hl7Segment(this, i));
    }
    return out;
  }

  /** The unescaped value at `path` ("PID-5.1"); undefined when the segment, field or repetition is absent. */
  get(path: string): string | undefined {
    return this.#value(path, false);
  }

  /** Like get() but the text exactly as sent, escape sequences and all. */
  getRaw(path: string): string | undefined {
    return this.#value(path, true);
  }

  /**
   * Every value a path selects, unescaped: "PID-3[*]" gives each repetition, "OBX[*]-5" each
   * OBX. An empty field has no repetitions. Without "*" it gives the one value get() would, if any.
   */
  getAll(path: string): string[] {
    return this.#values(path, false);
  }

  /** getAll() without unescaping. */
  getAllRaw(path: string): string[] {
    return this.#values(path, true);
  }

  /** Value at a segment-relative path ("5", "3[2].4.1") in the segment at 0-based `index`. */
  getIn(index: number, path: string | number, raw = false): string | undefined {
    const p = typeof path === 'number' ? parseFieldPath(String(path)) : parseFieldPath(path);
    if (p.repetition === 0) throw manyValuesError(p.text);
    if (index < 0 || index >= this.#starts.length) return undefined;
    return this.#read(index, p, raw);
  }

  /** getAll() for a segment-relative path in the segment at 0-based `index`. */
  getAllIn(index: number, path: string | number, raw = false): string[] {
    const p = typeof path === 'number' ? parseFieldPath(String(path)) : parseFieldPath(path);
    const out: string[] = [];
    if (index >= 0 && index < this.#starts.length) this.#collect(index, p, raw, out);
    return out;
  }

  /**
   * getAllIn() with a path parsed beforehand (parseFieldPath), for callers that read the same path
   * per message; `max` stops after that many values (the first repetition is all most paths want).
   */
  getAllAt(index: number, path: FieldPath, raw = false, max = Infinity): string[] {
    const out: string[] = [];
    if (index >= 0 && index < this.#starts.length) this.#collect(index, path, raw, out, max);
    return out;
  }

  /**
   * The raw text of repetition `rep` (1-based) of `field` in the segment at 0-based `index`: what
   * getAllAt(index, "<field>[*]", true)[rep - 1] gives, without building the array. Undefined
   * when the field is absent or empty (an empty field has no repetitions) or has fewer repetitions.
   */
  repetitionRawAt(index: number, field: number, rep: number): string | undefined {
    if (index < 0 || index >= this.#starts.length || !this.#select(index, field, 0, 0, 0)) return undefined;
    if (this.#atomic) return rep === 1 ? this.text.slice(this.#from, this.#to) : undefined;
    const fieldEnd = this.#to;
    let start = this.#from;
    if (start === fieldEnd) return undefined;
    const text = this.text;
    const code = this.#repetitionCode;
    for (let k = 1; ; k++) {
      let end = start;
      if (code >= 0) while (end < fieldEnd && text.charCodeAt(end) !== code) end++;
      else end = fieldEnd;
      if (k === rep) return text.slice(start, end);
      if (end >= fieldEnd) return undefined;
      start = end + 1;
    }
  }

  /** Number of fields in the segment at 0-based `index` (for MSH, MSH-1 counts). */
  fieldCountAt(index: number): number {
    if (index < 0 || index >= this.#starts.length) return 0;
    const pieces = this.#fields(index).length - 1;
    return this.#isHeader(index) ? pieces : pieces - 1;
  }

  /** What the ACK, the Kafka key and the envelope need from MSH. */
  msh(): MshSummary {
    if (this.#summary !== undefined) return this.#summary;
    const raw = (field: number): string => {
      if (!this.#select(0, field, 0, 0, 0)) return '';
      return this.text.slice(this.#from, this.#to);
    };
    const value = (field: number, component = 0): string =>
      this.#read(0, { text: '', field, repetition: 1, component, subcomponent: 0 }, false) ?? '';
    this.#summary = Object.freeze({
      sendingApplication: raw(3),
      sendingFacility: raw(4),
      receivingApplication: raw(5),
      receivingFacility: raw(6),
      dateTime: value(7),
      messageType: raw(9),
      messageCode: value(9, 1),
      triggerEvent: value(9, 2),
      messageStructure: value(9, 3),
      controlId: value(10),
      processingId: raw(11),
      version: value(12, 1),
      acceptAckType: value(15),
      applicationAckType: value(16),
      characterSet: raw(18),
    });
    return this.#summary;
  }

  /** The message text rebuilt from its segments and the terminators each one used. */
  toString(): string {
    return serializeMessage(this);
  }

  /** The separator text after segment `index`: its terminator plus any blank lines that follow. */
  gapAfter(index: number): string {
    const end = this.#ends[index];
    if (end === undefined) throw new RangeError(`segment index ${index} is out of range`);
    const next = this.#starts[index + 1] ?? this.text.length;
    return this.text.slice(end, next);
  }

  #value(path: string, raw: boolean): string | undefined {
    const p = parsePath(path);
    if (p.occurrence === 0 || p.repetition === 0) throw manyValuesError(path);
    const index = this.#find(segmentKey(p.segment, 0), p.occurrence);
    if (index < 0) return undefined;
    return this.#read(index, p, raw);
  }

  #values(path: string, raw: boolean): string[] {
    const p = parsePath(path);
    const key = segmentKey(p.segment, 0);
    const out: string[] = [];
    if (p.occurrence !== 0) {
      const index = this.#find(key, p.occurrence);
      if (index >= 0) this.#collect(index, p, raw, out);
      return out;
    }
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === key) this.#collect(i, p, raw, out);
    }
    return out;
  }

  #collect(index: number, p: FieldPath, raw: boolean, out: string[], max = Infinity): void {
    if (p.repetition !== 0) {
      const v = this.#read(index, p, raw);
      if (v !== undefined) out.push(v);
      return;
    }
    if (!this.#select(index, p.field, 0, 0, 0)) return;
    if (this.#atomic) {
      // MSH-1 and MSH-2 are one value each, never split into repetitions.
      const v = this.#read(index, { ...p, repetition: 1 }, raw);
      if (v !== undefined) out.push(v);
      return;
    }
    // One pass over the field. Looking up the n-th repetition from the field's start for each n
    // was quadratic: 64 000 repetitions (128 KB of "a~") held the event loop for 12 s, and a
    // mapping reads PID-3[*] from whatever a sender puts there.
    const fieldEnd = this.#to;
    let start = this.#from;
    if (start === fieldEnd) return; // an empty field has no repetitions
    const text = this.text;
    const code = this.#repetitionCode;
    for (;;) {
      let end = start;
      if (code >= 0) while (end < fieldEnd && text.charCodeAt(end) !== code) end++;
      else end = fieldEnd;
      this.#from = start;
      this.#to = end;
      if (p.component > 0 && !this.#narrow(this.#componentCode, p.component)) this.#to = this.#from;
      if (p.subcomponent > 0 && !this.#narrow(this.#subcomponentCode, p.subcomponent)) this.#to = this.#from;
      out.push(this.#slice(raw));
      if (end >= fieldEnd || out.length >= max) return;
      start = end + 1;
    }
  }

  #read(index: number, p: FieldPath, raw: boolean): string | undefined {
    if (!this.#select(index, p.field, p.repetition, p.component, p.subcomponent)) return undefined;
    return this.#slice(raw);
  }

  #slice(raw: boolean): string {
    const s = this.text.slice(this.#from, this.#to);
    return raw || this.#atomic ? s : unescapeValue(s, this.delimiters);
  }

  #find(key: number, occurrence: number): number {
    let seen = 0;
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key && ++seen === occurrence) return i;
    }
    return -1;
  }

  #isHeader(index: number): boolean {
    const key = this.#keys[index];
    return key === MSH_KEY || key === FHS_KEY || key === BHS_KEY;
  }

  /** Start offsets of each field-separated piece, plus end + 1 as a sentinel. Cached per segment. */
  #fields(index: number): number[] {
    const cached = this.#fieldStarts[index];
    if (cached !== undefined) return cached;
    const start = this.#starts[index] ?? 0;
    const end = this.#ends[index] ?? 0;
    const text = this.text;
    const separator = this.delimiters.field;
    const starts = [start];
    // indexOf is far faster than a charCodeAt loop; it may look one segment id past `end`.
    let at = text.indexOf(separator, start);
    while (at !== -1 && at < end) {
      starts.push(at + 1);
      at = text.indexOf(separator, at + 1);
    }
    starts.push(end + 1);
    this.#fieldStarts[index] = starts;
    return starts;
  }

  /**
   * Narrows #from/#to to the requested field, repetition (0 = whole field), component and
   * subcomponent (0 = whole). False when the field or repetition does not exist; a missing
   * component or subcomponent is an empty range, as HL7 treats trailing empties as omitted.
   */
  #select(index: number, field: number, rep: number, comp: number, subc: number): boolean {
    const header = this.#isHeader(index);
    if (header && field <= 2) {
      // MSH-1 and MSH-2 hold the delimiters themselves: never split or unescape them.
      const start = this.#starts[index] ?? 0;
      if (field === 1) {
        this.#from = start + 3;
        this.#to = start + 4;
      } else {
        const bounds = this.#fields(index);
        if (bounds.length < 3) return false;
        this.#from = bounds[1] ?? 0;
        this.#to = (bounds[2] ?? 0) - 1;
      }
      this.#atomic = true;
      if (rep > 1) return false;
      if (comp > 1 || subc > 1) this.#to = this.#from;
      return true;
    }
    const bounds = this.#fields(index);
    const piece = header ? field - 1 : field;
    if (piece + 1 >= bounds.length) return false;
    this.#from = bounds[piece] ?? 0;
    this.#to = (bounds[piece + 1] ?? 0) - 1;
    this.#atomic = false;
    if (rep > 0 && !this.#narrow(this.#repetitionCode, rep)) return false;
    if (comp > 0 && !this.#narrow(this.#componentCode, comp)) this.#to = this.#from;
    if (subc > 0 && !this.#narrow(this.#subcomponentCode, subc)) this.#to = this.#from;
    return true;
  }

  /** Narrows #from/#to to its n-th (1-based) piece separated by `code`; false if there is none. */
  #narrow(code: number, n: number): boolean {
    const text = this.text;
    const end = this.#to;
    let pieceStart = this.#from;
    let found = 1;
    if (code >= 0) {
      for (let i = pieceStart; i < end && found < n; i++) {
        if (text.charCodeAt(i) === code) {
          found++;
          pieceStart = i + 1;
        }
      }
    }
    if (found < n) return false;
    let pieceEnd = pieceStart;
    if (code >= 0) {
      while (pieceEnd < end && text.charCodeAt(pieceEnd) !== code) pieceEnd++;
    } else {
      pieceEnd = end;
    }
    this.#from = pieceStart;
    this.#to = pieceEnd;
    return true;
  }
}

/** One segment of a message, with field access relative to it ("5", "3[2].4.1"). */
export class Hl7Segment {
  readonly #message: Hl7Message;
  /** 0-based position in the message (MSH is 0). */
  readonly index: number;

  constructor(message: Hl7Message, index: number) {
    this.#message = message;
    this.index = index;
  }

  get id(): string {
    return this.#message.segmentIdAt(this.index);
  }

  get fieldCount(): number {
    return this.#message.fieldCountAt(this.index);
  }

  get(path: string | number): string | undefined {
    return this.#message.getIn(this.index, path, false);
  }

  getRaw(path: string | number): string | undefined {
    return this.#message.getIn(this.index, path, true);
  }

  getAll(path: string | number): string[] {
    return this.#message.getAllIn(this.index, path, false);
  }

  toString(): string {
    return this.#message.segmentTextAt(this.index);
  }
}

/** The exact text of the message: every segment followed by the terminator it was sent with. */
export function serializeMessage(message: Hl7Message): string {
  let out = '';
  for (let i = 0; i < message.segmentCount; i++) {
    out += message.segmentTextAt(i) + message.gapAfter(i);
  }
  return out;
}
