/**
 * HL7 table 0211 (alternate character sets) and the spellings senders use instead, mapped to the
 * charset names this module decodes with. Every name returned here is understood by decodeBytes
 * and encodeText; all but "iso-2022-jp" are iconv-lite names (see iso-2022-jp.ts for why that
 * one is ours).
 */

/** How a charset relates to the bytes, which decides how a declaration can be contradicted. */
export type CharsetFamily =
  | 'ascii' // 7-bit only: any byte >= 0x80 contradicts it
  | 'utf-8'
  | 'single-byte' // every byte is a character, so only valid non-ASCII UTF-8 contradicts it
  | 'multi-byte' // CJK double-byte sets: short UTF-8 runs can also be valid here, see detect.ts
  | 'iso-2022' // 7-bit with escape sequences: any byte >= 0x80 contradicts it
  | 'wide'; // UTF-16/32: an MSH-18 that was readable as single bytes already contradicts it

const TABLE: ReadonlyMap<string, string> = new Map([
  ['ASCII', 'us-ascii'],
  ['ISO IR6', 'us-ascii'],
  ['8859/1', 'iso-8859-1'],
  ['8859/2', 'iso-8859-2'],
  ['8859/3', 'iso-8859-3'],
  ['8859/4', 'iso-8859-4'],
  ['8859/5', 'iso-8859-5'],
  ['8859/6', 'iso-8859-6'],
  ['8859/7', 'iso-8859-7'],
  ['8859/8', 'iso-8859-8'],
  ['8859/9', 'iso-8859-9'],
  ['8859/10', 'iso-8859-10'],
  ['8859/11', 'iso-8859-11'],
  ['8859/13', 'iso-8859-13'],
  ['8859/14', 'iso-8859-14'],
  ['8859/15', 'iso-8859-15'],
  ['8859/16', 'iso-8859-16'],
  // JIS X 0201 is a single-byte set (Roman in 0x21-0x7E, half-width katakana in 0xA1-0xDF).
  // Shift_JIS keeps exactly those single bytes and iconv-lite's table maps 0x5C to a backslash,
  // so HL7 escape characters survive; EUC-JP would need an 0x8E prefix before every katakana.
  ['ISO IR14', 'shift_jis'],
  // JIS X 0208 (and X 0212 below) travel in HL7 as 7-bit ISO 2022 with escape sequences
  // (HL7 2.5 §2.14.9.18 with MSH-20 "2022"; JAHIS practice), never as raw EUC-JP bytes, so a
  // declared ISO IR87 message is decoded as ISO-2022-JP. iconv-lite has no ISO-2022-JP codec;
  // iso-2022-jp.ts shifts the escaped runs into EUC-JP and lets iconv-lite decode those.
  ['ISO IR87', 'iso-2022-jp'],
  ['ISO IR159', 'iso-2022-jp'],
  ['GB 18030-2000', 'gb18030'],
  // KS X 1001 is transmitted in its EUC form; iconv-lite's euc-kr is CP949, a superset.
  ['KS X 1001', 'euc-kr'],
  // "UNICODE" fixes no encoding form. Because MSH-18 was readable one byte per character, the
  // only Unicode form the message can be in is UTF-8.
  ['UNICODE', 'utf-8'],
  ['UNICODE UTF-8', 'utf-8'],
  ['UNICODE UTF-16', 'utf-16le'],
  ['UNICODE UTF-32', 'utf-32le'],
  ['BIG-5', 'big5'],
  // Spellings outside the table that senders put in MSH-18.
  ['UTF-8', 'utf-8'],
  ['UTF8', 'utf-8'],
  ['UTF-16', 'utf-16le'],
  ['LATIN1', 'iso-8859-1'],
  ['LATIN-1', 'iso-8859-1'],
  ['BIG5', 'big5'],
  ['GB18030', 'gb18030'],
  ['SHIFT_JIS', 'shift_jis'],
  ['SJIS', 'shift_jis'],
  ['EUC-JP', 'euc-jp'],
  ['EUC-KR', 'euc-kr'],
  ['ISO-2022-JP', 'iso-2022-jp'],
]);

/**
 * In the table but without a decoder: CNS 11643-1992 is sent as EUC-TW, which iconv-lite lacks,
 * and Big5 is not byte-compatible with it. Callers report it as an unusable declaration.
 */
const KNOWN_WITHOUT_DECODER: ReadonlySet<string> = new Set(['CNS 11643-1992']);

const ISO_8859_SPELLING = /^(?:ISO[-_ ]?)?8859[-_/ ]?(\d{1,2})$/;
const WINDOWS_SPELLING = /^(?:WINDOWS|CP|WIN)[-_ ]?(125[0-8])$/;

/** Upper-case, trimmed, inner whitespace collapsed, "ISO-IR 87"/"ISO_IR87" read as "ISO IR87". */
function normalise(value: string): string {
  const upper = value.trim().toUpperCase().replace(/\s+/g, ' ');
  const isoIr = /^ISO[-_ ]?IR[-_ ]?(\d+)$/.exec(upper);
  return isoIr ? `ISO IR${isoIr[1]}` : upper;
}

/** HL7 table 0211 value (or a common spelling of one) → decoder name; null when unknown. */
export function hl7CharsetToIconv(msh18Value: string): string | null {
  const key = normalise(msh18Value);
  const fromTable = TABLE.get(key);
  if (fromTable !== undefined) return fromTable;
  const iso = ISO_8859_SPELLING.exec(key);
  if (iso) {
    const part = Number(iso[1]);
    return part >= 1 && part <= 16 && part !== 12 ? `iso-8859-${part}` : null;
  }
  const windows = WINDOWS_SPELLING.exec(key);
  if (windows) return `windows-${windows[1]}`;
  return null;
}

/** True for table 0211 values that are valid HL7 but cannot be decoded here. */
export function isKnownWithoutDecoder(msh18Value: string): boolean {
  return KNOWN_WITHOUT_DECODER.has(normalise(msh18Value));
}

/** Which family a decoder name (as returned by hl7CharsetToIconv) belongs to. */
export function charsetFamily(charset: string): CharsetFamily {
  if (charset === 'us-ascii') return 'ascii';
  if (charset === 'utf-8') return 'utf-8';
  if (charset === 'iso-2022-jp') return 'iso-2022';
  if (charset.startsWith('utf-16') || charset.startsWith('utf-32')) return 'wide';
  if (charset.startsWith('iso-8859-') || charset.startsWith('windows-')) return 'single-byte';
  return 'multi-byte';
}
