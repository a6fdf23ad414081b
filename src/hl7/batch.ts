import { isBlank } from './lines.js';

/**
 * Splitting a file or batch (FHS/BHS ... BTS/FTS, or just several MSH messages one after
 * another) into its messages. Boundaries are found only at segment starts, so a field value
 * that happens to contain "MSH" never splits a message.
 */

export interface BatchParts {
  /** FHS and BHS segments, in order, without terminators. */
  readonly header: string[];
  /** BTS and FTS segments, in order, without terminators. */
  readonly trailer: string[];
  /**
   * Each message's exact text, from its MSH up to the next message or batch segment, terminators
   * and blank lines included. Text that is not inside any message (neither blank nor a batch
   * segment) is returned as a message of its own so the parser reports it instead of it being
   * silently dropped.
   */
  readonly messages: string[];
}

type Kind = 'msh' | 'header' | 'trailer' | 'other' | 'blank';

function isIdCode(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
}

function classify(text: string, start: number, end: number): Kind {
  if (isBlank(text, start, end)) return 'blank';
  // The id must be followed by a non-alphanumeric (the field separator) or the end of the line.
  if (end - start < 3 || (end - start > 3 && isIdCode(text.charCodeAt(start + 3)))) return 'other';
  if (text.startsWith('MSH', start)) return 'msh';
  if (text.startsWith('FHS', start) || text.startsWith('BHS', start)) return 'header';
  if (text.startsWith('BTS', start) || text.startsWith('FTS', start)) return 'trailer';
  return 'other';
}

export function splitBatch(text: string): BatchParts {
  const header: string[] = [];
  const trailer: string[] = [];
  const messages: string[] = [];
  let messageStart = -1;
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    let end = pos;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === 13 || c === 10) break;
      end++;
    }
    let next = end;
    if (next < n) next += text.charCodeAt(next) === 13 && text.charCodeAt(next + 1) === 10 ? 2 : 1;
    const kind = classify(text, pos, end);
    if (kind === 'msh' || kind === 'header' || kind === 'trailer') {
      if (messageStart >= 0) messages.push(text.slice(messageStart, pos));
      messageStart = kind === 'msh' ? pos : -1;
      if (kind === 'header') header.push(text.slice(pos, end));
      else if (kind === 'trailer') trailer.push(text.slice(pos, end));
    } else if (kind === 'other' && messageStart < 0) {
      messageStart = pos;
    }
    pos = next;
  }
  if (messageStart >= 0) messages.push(text.slice(messageStart));
  return { header, trailer, messages };
}
