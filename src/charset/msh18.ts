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

const NONE: Msh18 = Object.freeze({ value: '', repetitions: Object.freeze([]) });
const MSH_FIELD_18_PIECE = 17; // "MSH" is piece 0 and MSH-1 is the separator itself

/** Reads MSH-18 out of the MSH segment text (from "MSH" to its terminator). */
function fromSegment(segment: string): Msh18 {
  const separator = segment[3];
  if (separator === undefined) return NONE;
  const pieces = segment.split(separator);
  const value = (pieces[MSH_FIELD_18_PIECE] ?? '').trim();
  if (value === '') return NONE;
  const repetition = pieces[1]?.[1];
  const repetitions =
    repetition === undefined || repetition === separator
      ? [value]
      : value.split(repetition).map((r) => r.trim());
  return { value, repetitions };
}

/** MSH-18 from raw bytes: the first "MSH" and its field separator, up to the first CR or LF. */
export function readMsh18Field(bytes: Buffer): Msh18 {
  const start = bytes.indexOf('MSH', 0, 'latin1');
  if (start < 0) return NONE;
  let end = bytes.indexOf(0x0d, start);
  if (end < 0) end = bytes.length;
  const lf = bytes.subarray(start, end).indexOf(0x0a);
  if (lf >= 0) end = start + lf;
  return fromSegment(bytes.toString('latin1', start, end));
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
