/**
 * Bytes before the first header segment (whitespace, a VT left over from MLLP framing, stray
 * bytes). Only removed when they cannot be a segment of their own: the prefix must not contain
 * the header's field separator, so a headerless message whose data merely contains "MSH" (e.g.
 * OBX-3 "LOCALMSH|") is left for the parser to reject.
 */
const HEADERS = ['MSH', 'FHS', 'BHS'] as const;

function isHeaderAt(text: string, index: number): boolean {
  return HEADERS.some((h) => text.startsWith(h, index));
}

export function removeJunkBeforeHeader(text: string): { text: string; count: number } | null {
  if (isHeaderAt(text, 0)) return null;
  let start = -1;
  for (const header of HEADERS) {
    const at = text.indexOf(header);
    if (at >= 0 && (start < 0 || at < start)) start = at;
  }
  if (start <= 0) return null;
  const separator = text[start + 3];
  if (separator === undefined || /[\p{L}\p{N}\s]/u.test(separator)) return null;
  if (text.lastIndexOf(separator, start - 1) >= 0) return null;
  return { text: text.slice(start), count: start };
}
