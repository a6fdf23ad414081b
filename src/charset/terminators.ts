/**
 * Segment terminators normalised to CR, the only one HL7 allows. CRLF is always a terminator.
 * A lone LF is one too, unless the message also uses bare CRs: then an LF is most likely a line
 * break inside a field (senders paste report text), and it only counts as a terminator when a
 * segment ID and the field separator follow it, or when it ends the message.
 */
export interface TerminatorRepair {
  readonly text: string;
  readonly crlf: number;
  readonly lf: number;
}

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;

function startsSegment(text: string, index: number, separator: string): boolean {
  if (index >= text.length) return true;
  return SEGMENT_ID.test(text.slice(index, index + 3)) && text[index + 3] === separator;
}

export function normaliseTerminators(text: string): TerminatorRepair | null {
  if (text.indexOf('\n') < 0) return null;
  const hasBareCr = /\r(?!\n)/.test(text);
  const separator = text.startsWith('MSH') || text.startsWith('FHS') || text.startsWith('BHS') ? (text[3] ?? '|') : '|';
  let crlf = 0;
  let lf = 0;
  const normalised = text.replace(/\r\n|\n/g, (match: string, offset: number) => {
    if (match.length === 2) {
      crlf += 1;
      return '\r';
    }
    if (hasBareCr && !startsSegment(text, offset + 1, separator)) return match;
    lf += 1;
    return '\r';
  });
  if (crlf === 0 && lf === 0) return null;
  return { text: normalised, crlf, lf };
}
