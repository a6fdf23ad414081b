import { inspectDelimiters } from './delimiters.js';
import { Hl7Message } from './message.js';
import { isBlank } from './lines.js';
import type { ParseError, ParseErrorCode } from './types.js';

export type ParseResult =
  | { readonly ok: true; readonly message: Hl7Message }
  | { readonly ok: false; readonly error: ParseError };

const CR = 13;
const LF = 10;
const SPACE = 32;

function fail(
  code: ParseErrorCode,
  message: string,
  where: { segmentIndex?: number; segment?: string; field?: number } = {},
): ParseResult {
  return { ok: false, error: { category: 'parse', code, message, ...where } };
}

function isIdCode(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}


/**
 * Parses one message. Segments may end in CR, LF or CRLF (each keeps its own), blank lines are
 * tolerated and kept, and the text must start with MSH: junk before it is the charset stage's
 * to strip, so it is reported here rather than skipped. Never throws.
 */
export function parseMessage(text: string): ParseResult {
  if (!text.startsWith('MSH')) {
    if (/^\s*$/.test(text)) return fail('empty', 'message is empty or whitespace only');
    return fail('no-msh', 'message does not start with an MSH segment', { segmentIndex: 1 });
  }
  const delims = inspectDelimiters(text, 0);
  if (!delims.ok) {
    return fail('bad-delimiters', delims.reason, { segmentIndex: 1, segment: 'MSH', field: delims.field });
  }
  const fieldCode = delims.delimiters.field.charCodeAt(0);

  const starts: number[] = [];
  const ends: number[] = [];
  const n = text.length;
  let cr = text.indexOf('\r');
  let lf = text.indexOf('\n');
  let pos = 0;
  while (pos < n) {
    if (cr !== -1 && cr < pos) cr = text.indexOf('\r', pos);
    if (lf !== -1 && lf < pos) lf = text.indexOf('\n', pos);
    let end: number;
    let next: number;
    if (cr === -1 && lf === -1) {
      end = n;
      next = n;
    } else if (lf === -1 || (cr !== -1 && cr < lf)) {
      end = cr;
      next = lf === cr + 1 ? cr + 2 : cr + 1;
    } else {
      end = lf;
      next = lf + 1;
    }
    if (end > pos && !(text.charCodeAt(pos) <= SPACE && isBlank(text, pos, end))) {
      const ok =
        end - pos >= 3 &&
        isIdCode(text.charCodeAt(pos)) &&
        isIdCode(text.charCodeAt(pos + 1)) &&
        isIdCode(text.charCodeAt(pos + 2)) &&
        (end - pos === 3 || text.charCodeAt(pos + 3) === fieldCode);
      if (!ok) {
        const number = starts.length + 1;
        const last = starts[starts.length - 1] ?? 0;
        const previous = text.slice(last, last + 3);
        return fail(
          'bad-segment',
          `segment ${number} (after ${previous}) does not start with a 3-character id (A-Z, 0-9) followed by the field separator; ` +
            'often a line break sent unescaped inside a field of the previous segment',
          { segmentIndex: number },
        );
      }
      starts.push(pos);
      ends.push(end);
    }
    pos = next;
  }
  return { ok: true, message: new Hl7Message(text, delims.delimiters, starts, ends) };
}
