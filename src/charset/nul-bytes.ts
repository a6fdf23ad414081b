/** NUL characters: never meaningful in ER7, and they break string handling downstream. */
export function removeNulBytes(text: string): { text: string; count: number } | null {
  if (text.indexOf('\0') < 0) return null;
  const cleaned = text.replace(/\0/g, '');
  return { text: cleaned, count: text.length - cleaned.length };
}
