import type { Delimiters } from './types.js';

/**
 * HL7 v2 escape sequences (v2.x chapter 2.7). Unescaping never throws: a sequence we do not
 * understand, or one that is never closed, is kept exactly as sent so no data is lost.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Turns raw (escaped) field text into the value it stands for. */
export function unescapeValue(raw: string, d: Delimiters): string {
  const esc = d.escape;
  if (esc === '') return raw;
  let open = raw.indexOf(esc);
  if (open < 0) return raw;
  // Pieces joined once at the end: appending to one string builds a rope of cons strings whose
  // size the garbage collector walks again and again, which made a 2 MB field of 400,000 \X41\
  // escapes cost about twice the same bytes in eight fields.
  const pieces: string[] = [];
  let copied = 0;
  while (open >= 0) {
    const close = raw.indexOf(esc, open + 1);
    if (close < 0) break;
    const replacement = decodeSequence(raw, open + 1, close, d);
    if (replacement !== null) {
      if (open > copied) pieces.push(raw.slice(copied, open));
      pieces.push(replacement);
      copied = close + 1;
    }
    // An unknown sequence is skipped whole, so its closing character never opens another one.
    open = raw.indexOf(esc, close + 1);
  }
  if (copied === 0) return raw;
  pieces.push(raw.slice(copied));
  return pieces.join('');
}

function decodeSequence(raw: string, start: number, end: number, d: Delimiters): string | null {
  const length = end - start;
  if (length === 0) return null;
  const kind = raw.charCodeAt(start);
  if (length === 1) {
    switch (kind) {
      case 0x46: // F
        return d.field;
      case 0x53: // S
        return orNull(d.component);
      case 0x54: // T
        return orNull(d.subcomponent);
      case 0x52: // R
        return orNull(d.repetition);
      case 0x45: // E
        return d.escape;
      case 0x50: // P
        return d.truncation;
      case 0x48: // H: highlight on, meaningless once the value leaves HL7
      case 0x4e: // N: highlight off
        return '';
      default:
        return null;
    }
  }
  if (kind === 0x58) return decodeHex(raw, start + 1, end); // X
  if (length === 3 && raw.startsWith('.br', start)) return '\n';
  return null;
}

function orNull(s: string): string | null {
  return s === '' ? null : s;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * \Xhh..\ carries bytes. The surrounding text is already characters, so the bytes are read as
 * UTF-8 when they form valid UTF-8 (what modern senders mean) and as ISO-8859-1 otherwise.
 */
function decodeHex(raw: string, start: number, end: number): string | null {
  const digits = end - start;
  if (digits === 0 || digits % 2 !== 0) return null;
  const bytes = new Uint8Array(digits / 2);
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    const hi = hexDigit(raw.charCodeAt(start + 2 * i));
    const lo = hexDigit(raw.charCodeAt(start + 2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    const b = (hi << 4) | lo;
    if (b > 0x7f) ascii = false;
    bytes[i] = b;
  }
  if (!ascii) {
    try {
      return utf8.decode(bytes);
    } catch {
      // not UTF-8: fall through to ISO-8859-1, where every byte is one character
    }
  }
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * The inverse of unescapeValue for text that must travel inside one field, component or
 * subcomponent: delimiters become \F\ \S\ \T\ \R\ \E\ (\P\ for the truncation character), a line
 * feed becomes \.br\ and a carriage return \X0D\ (a raw CR would end the segment).
 */
export function escapeValue(value: string, d: Delimiters): string {
  if (d.escape === '') return value;
  // With "." as a delimiter or the escape character, "\.br\" would itself be cut apart; \X0A\ means the same.
  const lineFeed = isDelimiter('.', d) ? 'X0A' : '.br';
  let out = '';
  let copied = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charAt(i);
    let seq: string | null = null;
    if (ch === d.escape) seq = 'E';
    else if (ch === d.field) seq = 'F';
    else if (ch === d.component) seq = 'S';
    else if (ch === d.subcomponent) seq = 'T';
    else if (ch === d.repetition) seq = 'R';
    else if (ch === d.truncation) seq = 'P';
    else if (ch === '\n') seq = lineFeed;
    else if (ch === '\r') seq = 'X0D';
    if (seq !== null) {
      out += value.slice(copied, i) + d.escape + seq + d.escape;
      copied = i + 1;
    }
  }
  return copied === 0 ? value : out + value.slice(copied);
}

function isDelimiter(ch: string, d: Delimiters): boolean {
  return (
    ch === d.escape ||
    ch === d.field ||
    ch === d.component ||
    ch === d.repetition ||
    ch === d.subcomponent ||
    ch === d.truncation
  );
}
