/**
 * Message type patterns of `accept.messageTypes`: "CODE^EVENT" where either part may be "*", and
 * "CODE" alone means every event of that code. Called for every inbound message, so it compares
 * in place instead of splitting strings.
 */

function partMatches(pattern: string, start: number, end: number, value: string): boolean {
  if (end - start === 1 && pattern.charCodeAt(start) === 42 /* '*' */) return true;
  if (end - start !== value.length) return false;
  for (let i = 0; i < value.length; i++) {
    let a = pattern.charCodeAt(start + i);
    let b = value.charCodeAt(i);
    // Codes are upper case by the standard; a sender writing "adt" still means ADT.
    if (a >= 97 && a <= 122) a -= 32;
    if (b >= 97 && b <= 122) b -= 32;
    if (a !== b) return false;
  }
  return true;
}

/**
 * True when MSH-9.1 `code` and MSH-9.2 `trigger` match `pattern`, e.g.
 * ("ADT^*", "ADT", "A08") and ("ORU^R01", "ORU", "R01") match; ("ADT^A01", "ADT", "A04") does not.
 */
export function matchesMessageType(pattern: string, code: string, trigger: string): boolean {
  const caret = pattern.indexOf('^');
  if (caret < 0) return partMatches(pattern, 0, pattern.length, code);
  return (
    partMatches(pattern, 0, caret, code) &&
    partMatches(pattern, caret + 1, pattern.length, trigger)
  );
}
