/**
 * ISO-2022-JP (with the JIS X 0212 and half-width katakana escapes) for HL7 messages that declare
 * ISO IR87 / ISO IR159. iconv-lite has no ISO-2022 codec, but every ISO-2022-JP set has a fixed
 * byte shift into EUC-JP, which iconv-lite does have: JIS X 0208 pairs get +0x80 per byte, JIS X
 * 0212 pairs additionally an 0x8F prefix, JIS X 0201 katakana an 0x8E prefix. So the escaped
 * runs are shifted and the whole message decoded as EUC-JP in one call.
 */
import iconv from 'iconv-lite';

const ESC = 0x1b;
type Mode = 'ascii' | 'katakana' | 'jis0208' | 'jis0212';

/** Reads the escape sequence at `i`; returns the new mode and its length, or null if unknown. */
function readEscape(bytes: Buffer, i: number): { mode: Mode; length: number } | null {
  const a = bytes[i + 1];
  const b = bytes[i + 2];
  if (a === 0x28 && (b === 0x42 || b === 0x4a)) return { mode: 'ascii', length: 3 }; // ESC ( B, ESC ( J
  if (a === 0x28 && b === 0x49) return { mode: 'katakana', length: 3 }; // ESC ( I
  if (a === 0x24 && (b === 0x40 || b === 0x42)) return { mode: 'jis0208', length: 3 }; // ESC $ @, ESC $ B
  if (a === 0x24 && b === 0x28 && bytes[i + 3] === 0x44) return { mode: 'jis0212', length: 4 }; // ESC $ ( D
  return null;
}

export function decodeIso2022Jp(bytes: Buffer): string {
  if (bytes.indexOf(ESC) < 0) return bytes.toString('latin1');
  const euc = Buffer.allocUnsafe(bytes.length * 2);
  let out = 0;
  let mode: Mode = 'ascii';
  for (let i = 0; i < bytes.length; ) {
    const byte = bytes[i] as number;
    if (byte === ESC) {
      const escape = readEscape(bytes, i);
      if (escape) {
        mode = escape.mode;
        i += escape.length;
        continue;
      }
    }
    // Controls (CR, HL7 framing) and anything outside the 94-character range pass through
    // unchanged in every mode, so a missing shift-back cannot swallow segment terminators.
    if (mode === 'ascii' || byte < 0x21 || byte > 0x7e) {
      euc[out++] = byte;
      i += 1;
    } else if (mode === 'katakana') {
      euc[out++] = 0x8e;
      euc[out++] = byte + 0x80;
      i += 1;
    } else {
      const second = bytes[i + 1];
      if (second === undefined || second < 0x21 || second > 0x7e) {
        euc[out++] = byte;
        i += 1;
        continue;
      }
      if (mode === 'jis0212') euc[out++] = 0x8f;
      euc[out++] = byte + 0x80;
      euc[out++] = second + 0x80;
      i += 2;
    }
  }
  return iconv.decode(euc.subarray(0, out), 'euc-jp');
}

const ESCAPE_FOR: Readonly<Record<Mode, readonly number[]>> = {
  ascii: [ESC, 0x28, 0x42],
  katakana: [ESC, 0x28, 0x49],
  jis0208: [ESC, 0x24, 0x42],
  jis0212: [ESC, 0x24, 0x28, 0x44],
};

export function encodeIso2022Jp(text: string): Buffer {
  const euc = iconv.encode(text, 'euc-jp');
  const out: number[] = [];
  let mode: Mode = 'ascii';
  const switchTo = (next: Mode): void => {
    if (next !== mode) {
      out.push(...ESCAPE_FOR[next]);
      mode = next;
    }
  };
  for (let i = 0; i < euc.length; ) {
    const byte = euc[i] as number;
    if (byte < 0x80) {
      switchTo('ascii');
      out.push(byte);
      i += 1;
    } else if (byte === 0x8e) {
      switchTo('katakana');
      out.push((euc[i + 1] ?? 0xa0) - 0x80);
      i += 2;
    } else if (byte === 0x8f) {
      switchTo('jis0212');
      out.push((euc[i + 1] ?? 0xa0) - 0x80, (euc[i + 2] ?? 0xa0) - 0x80);
      i += 3;
    } else {
      switchTo('jis0208');
      out.push(byte - 0x80, (euc[i + 1] ?? 0xa0) - 0x80);
      i += 2;
    }
  }
  switchTo('ascii');
  return Buffer.from(out);
}
