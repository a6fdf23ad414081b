const SPACE = 32;

/**
 * A line of only spaces, tabs, vertical tabs or form feeds is a blank line, not a segment: editors
 * leave trailing spaces, and a stray MLLP start byte (0x0B) on its own line is common in files.
 */
export function isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && (c < 9 || c > 12 || c === 10)) return false;
  }
  return true;
}
