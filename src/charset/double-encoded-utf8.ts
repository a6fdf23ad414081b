/**
 * Double-encoded UTF-8 ("JosÃ©" for "José"): UTF-8 bytes that were once decoded as windows-1252
 * or ISO-8859-1 and encoded again as UTF-8. Each maximal run of characters that map back to one
 * windows-1252/latin1 byte is re-encoded; the run is replaced only if those bytes are valid UTF-8
 * (which, as every byte is >= 0x80, means whole multi-byte sequences) and decode to no control
 * character. Genuine Latin-1 text almost never forms such runs: it would need an accented capital
 * followed by a symbol such as "©" or "¼".
 */
import { isUtf8 } from 'node:buffer';

/** windows-1252 bytes 0x80-0x9F that are not the C1 control of the same number. */
const CP1252_SPECIALS: ReadonlyMap<number, number> = new Map([
  [0x20ac, 0x80], [0x201a, 0x82], [0x0192, 0x83], [0x201e, 0x84], [0x2026, 0x85], [0x2020, 0x86],
  [0x2021, 0x87], [0x02c6, 0x88], [0x2030, 0x89], [0x0160, 0x8a], [0x2039, 0x8b], [0x0152, 0x8c],
  [0x017d, 0x8e], [0x2018, 0x91], [0x2019, 0x92], [0x201c, 0x93], [0x201d, 0x94], [0x2022, 0x95],
  [0x2013, 0x96], [0x2014, 0x97], [0x02dc, 0x98], [0x2122, 0x99], [0x0161, 0x9a], [0x203a, 0x9b],
  [0x0153, 0x9c], [0x017e, 0x9e], [0x0178, 0x9f],
]);

const SPECIALS = String.fromCharCode(...CP1252_SPECIALS.keys());
/** A UTF-8 lead byte (C2-F4) read as a character, followed by a continuation byte (80-BF). */
const CANDIDATE = new RegExp(`[\\u00c2-\\u00f4][\\u0080-\\u00bf${SPECIALS}]`);
const RUN = new RegExp(`[\\u0080-\\u00ff${SPECIALS}]+`, 'g');
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function toBytes(run: string): Buffer {
  const bytes = Buffer.allocUnsafe(run.length);
  for (let i = 0; i < run.length; i += 1) {
    const code = run.charCodeAt(i);
    bytes[i] = code <= 0xff ? code : (CP1252_SPECIALS.get(code) ?? 0);
  }
  return bytes;
}

export interface MojibakeRepair {
  readonly text: string;
  /** Characters restored. */
  readonly count: number;
  readonly runs: number;
}

export function repairDoubleEncodedUtf8(text: string): MojibakeRepair | null {
  if (!CANDIDATE.test(text)) return null;
  let count = 0;
  let runs = 0;
  const repaired = text.replace(RUN, (run: string) => {
    const bytes = toBytes(run);
    if (!isUtf8(bytes)) return run;
    const decoded = bytes.toString('utf8');
    if (CONTROL.test(decoded)) return run;
    runs += 1;
    count += Array.from(decoded).length; // code points, not UTF-16 units
    return decoded;
  });
  return runs === 0 ? null : { text: repaired, count, runs };
}
