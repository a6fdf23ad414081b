/**
 * MSH-18 (character set) read before anything is decoded. The MSH segment up to MSH-18 is ASCII
 * in every charset HL7 allows except UTF-16/32, so it can be read one byte per character.
 */

export interface Msh18 {
  /** MSH-18 exactly as sent, repeats kept, surrounding whitespace trimmed; "" when absent. */
  readonly value: string;
  /** The repetitions split on the repetition character from MSH-2, each trimmed. */
  readonly repetitions: readonly string[];
}

const MSH = Buffer.from('MSH', 'latin1');
const CR = 0x0d;
const LF = 0x0a;
const NONE: Msh18 = Object.freeze({ value: '', repetitions: Object.freeze([]) });
const MSH_FIELD_18_PIECE = 17; // "MSH" is piece 0 and MSH-1 is the separator itself

/** Reads MSH-18 out of the MSH segment text (from "MSH" to its terminator). */
function fromSegment(segment: string): Msh18 {
  const separator = segment[3];
  if (separator === undefined) return NONE;
  const pieces = segment.split(separator);
  return withRepetitions((pieces[MSH_FIELD_18_PIECE] ?? '').trim(), pieces[1]?.[1], separator);
}

function withRepetitions(value: string, repetition: string | undefined, separator: string): Msh18 {
  if (value === '') return NONE;
  const repetitions =
    repetition === undefined || repetition === separator ? [value] : value.split(repetition).map((r) => r.trim());
  return { value, repetitions };
}

/**
 * MSH-18 from raw bytes: the first "MSH" and its field separator, up to the first CR or LF.
 * A byte loop rather than toString + split, which cost several times more on every message.
 */
export function readMsh18Field(bytes: Buffer): Msh18 {
  // Messages almost always start with MSH; indexOf with a needle is far slower than 3 compares.
  const start = bytes[0] === 0x4d && bytes[1] === 0x53 && bytes[2] === 0x48 ? 0 : bytes.indexOf(MSH);
  if (start < 0) return NONE;
  const separator = bytes[start + 3];
  if (separator === undefined || separator === CR || separator === LF) return NONE;
  let piece = 0;
  let valueStart = -1;
  let i = start + 3;
  for (; i < bytes.length; i += 1) {
    const byte = bytes[i];
    if (byte === CR || byte === LF) break;
    if (byte !== separator) continue;
    piece += 1;
    if (piece === MSH_FIELD_18_PIECE) valueStart = i + 1;
    else if (piece > MSH_FIELD_18_PIECE) break;
  }
  if (valueStart < 0) return NONE;
  const repetition = bytes[start + 5];
  return withRepetitions(
    bytes.toString('latin1', valueStart, i).trim(),
    repetition === undefined ? undefined : String.fromCharCode(repetition),
    String.fromCharCode(separator),
  );
}

/** The same, from text already decoded (UTF-16/32 messages, whose bytes are not ASCII-safe). */
export function readMsh18FieldFromText(text: string): Msh18 {
  const start = text.indexOf('MSH');
  if (start < 0) return NONE;
  let end = text.indexOf('\r', start);
  if (end < 0) end = text.length;
  const lf = text.indexOf('\n', start);
  if (lf >= 0 && lf < end) end = lf;
  return fromSegment(text.slice(start, end));
}

/** MSH-18 as sent, repeats kept, "" when the message has no MSH or no MSH-18. */
export function readMsh18(bytes: Buffer): string {
  return readMsh18Field(bytes).value;
}
