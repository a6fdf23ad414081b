import type { Delimiters } from './types.js';

/**
 * Reading the encoding characters from a header segment (MSH, or FHS/BHS for batches).
 *
 * A delimiter must be printable ASCII punctuation: letters and digits would be data, and
 * whitespace or control characters as delimiters only ever come from corrupted input.
 */

export type DelimiterInspection =
  | { readonly ok: true; readonly delimiters: Delimiters }
  | { readonly ok: false; readonly reason: string; readonly field: 1 | 2 };

const CR = 13;
const LF = 10;

/** True for printable ASCII punctuation (0x21-0x7E minus letters and digits). */
export function isDelimiterCode(code: number): boolean {
  if (code < 0x21 || code > 0x7e) return false;
  if (code >= 0x30 && code <= 0x39) return false;
  if (code >= 0x41 && code <= 0x5a) return false;
  if (code >= 0x61 && code <= 0x7a) return false;
  return true;
}

/**
 * Standard role of each conventional character, used only when MSH-2 carries three characters:
 * senders that drop one (seen: "^~&" without an escape character, "^\&" without a repetition
 * character) still use the remaining ones in their usual roles, so placing them positionally
 * would turn "&" into the escape character and corrupt every subcomponent.
 */
const CONVENTIONAL_ROLE: Readonly<Record<string, 0 | 1 | 2 | 3>> = {
  '^': 0,
  '~': 1,
  '\\': 2,
  '&': 3,
};

/**
 * Inspects the header segment starting at `at` (default 0) of `text`, which must begin with a
 * three-character segment id. Never throws; the reason names positions only.
 */
export function inspectDelimiters(text: string, at = 0): DelimiterInspection {
  const fieldPos = at + 3;
  if (text.length <= fieldPos) {
    return { ok: false, field: 1, reason: 'header segment ends before MSH-1 (field separator)' };
  }
  const fieldCode = text.charCodeAt(fieldPos);
  if (!isDelimiterCode(fieldCode)) {
    return {
      ok: false,
      field: 1,
      reason: 'MSH-1 (field separator) is missing or not a printable non-alphanumeric ASCII character',
    };
  }
  // MSH-2 runs to the next field separator or the end of the segment.
  let end = fieldPos + 1;
  const limit = Math.min(text.length, fieldPos + 6);
  while (end < limit) {
    const c = text.charCodeAt(end);
    if (c === fieldCode || c === CR || c === LF) break;
    end++;
  }
  const encLength = end - (fieldPos + 1);
  if (end < text.length) {
    const c = text.charCodeAt(end);
    if (c !== fieldCode && c !== CR && c !== LF) {
      return { ok: false, field: 2, reason: 'MSH-2 (encoding characters) is longer than 5 characters' };
    }
  }
  if (encLength < 3) {
    return {
      ok: false,
      field: 2,
      reason: `MSH-2 (encoding characters) has ${encLength} characters; expected 4 (or 5 with the v2.7 truncation character)`,
    };
  }
  if (encLength === 3 && (end === text.length || text.charCodeAt(end) !== fieldCode)) {
    return { ok: false, field: 2, reason: 'header segment is shorter than 8 characters' };
  }
  const seen: number[] = [fieldCode];
  for (let i = fieldPos + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    const n = i - fieldPos;
    if (!isDelimiterCode(c)) {
      return {
        ok: false,
        field: 2,
        reason: `MSH-2 (encoding characters) character ${n} is not a printable non-alphanumeric ASCII character`,
      };
    }
    if (seen.includes(c)) {
      return {
        ok: false,
        field: 2,
        reason: `MSH-2 (encoding characters) character ${n} repeats another delimiter`,
      };
    }
    seen.push(c);
  }
  const enc = text.slice(fieldPos + 1, end);
  const field = text.charAt(fieldPos);
  if (encLength >= 4) {
    return {
      ok: true,
      delimiters: Object.freeze({
        field,
        component: enc.charAt(0),
        repetition: enc.charAt(1),
        escape: enc.charAt(2),
        subcomponent: enc.charAt(3),
        truncation: encLength === 5 ? enc.charAt(4) : null,
      }),
    };
  }
  return { ok: true, delimiters: threeCharacterDelimiters(field, enc) };
}

/** A role MSH-2 left out is "": such a message simply has no character for it. */
function threeCharacterDelimiters(field: string, enc: string): Delimiters {
  const roles = ['', '', '', ''];
  const unplaced: string[] = [];
  for (const ch of enc) {
    const role = CONVENTIONAL_ROLE[ch];
    if (role !== undefined && roles[role] === '') roles[role] = ch;
    else unplaced.push(ch);
  }
  for (const ch of unplaced) {
    const free = roles.indexOf('');
    roles[free] = ch;
  }
  return Object.freeze({
    field,
    component: roles[0] ?? '',
    repetition: roles[1] ?? '',
    escape: roles[2] ?? '',
    subcomponent: roles[3] ?? '',
    truncation: null,
  });
}

/**
 * Delimiters of a message whose text starts with MSH (or FHS/BHS), or null when they cannot be
 * read. Only the header's first characters are looked at, so it works on otherwise broken text
 * (the ACK builder answers in the sender's own delimiters).
 */
export function readDelimiters(text: string): Delimiters | null {
  if (!isHeaderId(text, 0)) return null;
  const result = inspectDelimiters(text, 0);
  return result.ok ? result.delimiters : null;
}

/** MSH, FHS and BHS carry their own delimiters, which shifts their field numbering by one. */
export function isHeaderId(text: string, at: number): boolean {
  return (
    text.startsWith('MSH', at) || text.startsWith('FHS', at) || text.startsWith('BHS', at)
  );
}

/** MSH-2 as the delimiters would write it, e.g. "^~\\&" or "^~\\&#". */
export function encodingCharacters(d: Delimiters): string {
  return d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
}
