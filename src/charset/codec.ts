/**
 * Bytes ↔ text for one named charset. Accepts the names decodeMessage puts in a decision
 * (iconv-lite names plus "iso-2022-jp") and, for convenience of channel settings and the ACK
 * builder, HL7 table 0211 values such as "8859/1" or "UNICODE UTF-8".
 */
import iconv from 'iconv-lite';
import { decodeIso2022Jp, encodeIso2022Jp } from './iso-2022-jp.js';
import { hl7CharsetToIconv } from './table-0211.js';

/** Names iconv-lite accepts that are not text charsets and must never decode a message. */
const NOT_A_CHARSET: ReadonlySet<string> = new Set(['base64', 'hex', 'binary']);

/** The decoder name for `name`, or null if neither iconv-lite, ours nor table 0211 knows it. */
export function resolveCharset(name: string): string | null {
  const lower = name.trim().toLowerCase();
  if (lower === 'utf-8' || lower === 'utf8') return 'utf-8';
  if (lower === 'iso-2022-jp') return 'iso-2022-jp';
  if (!NOT_A_CHARSET.has(lower) && iconv.encodingExists(lower)) return lower;
  return hl7CharsetToIconv(name);
}

/** True when `name` can be used as a channel fallback or passed to decodeBytes/encodeText. */
export function isSupportedCharset(name: string): boolean {
  return resolveCharset(name) !== null;
}

/** Decodes with a charset known to resolveCharset; unknown names decode as windows-1252. */
export function decodeBytes(bytes: Buffer, charset: string): string {
  const resolved = resolveCharset(charset) ?? 'windows-1252';
  if (resolved === 'utf-8') return bytes.toString('utf8');
  if (resolved === 'iso-2022-jp') return decodeIso2022Jp(bytes);
  // Node's own latin1 is a straight byte copy; iconv-lite's table lookup is not needed for it.
  if (resolved === 'iso-8859-1' || resolved === 'latin1') return bytes.toString('latin1');
  if (!iconv.encodingExists(resolved)) return iconv.decode(bytes, 'windows-1252');
  return iconv.decode(bytes, resolved);
}

/**
 * Encodes text in the charset of an inbound message (used to write its ACK). No BOM is added.
 * An empty charset means UTF-8. Throws RangeError for a charset name nothing here knows: that is a programming or
 * configuration error, never caused by message content.
 */
export function encodeText(text: string, charset: string): Buffer {
  // An ACK must still go out when a caller has no charset at hand; UTF-8 is the engine default.
  const resolved = charset.trim() === '' ? 'utf-8' : resolveCharset(charset);
  if (resolved === null || (resolved !== 'iso-2022-jp' && !iconv.encodingExists(resolved))) {
    throw new RangeError(
      `cannot encode in charset "${charset}": not an iconv-lite name nor an HL7 table 0211 value`,
    );
  }
  if (resolved === 'utf-8') return Buffer.from(text, 'utf8');
  if (resolved === 'iso-2022-jp') return encodeIso2022Jp(text);
  return iconv.encode(text, resolved);
}
