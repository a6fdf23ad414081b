/**
 * Splits a file of HL7 messages (one or many, any terminators, optional FHS/BHS wrapper, blank
 * lines between messages) into the exact bytes of each message, for `hl7-engine send`. Works on
 * bytes through latin1 so nothing is re-encoded: what is on disk is what goes on the wire.
 */
import { splitBatch } from '../hl7/index.js';

export function splitMessagesInFile(bytes: Buffer): Buffer[] {
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    // Keep the BOM on the first message: the engine's charset rule 1 relies on it.
    const rest = splitMessagesInFile(bytes.subarray(3));
    if (rest[0]) rest[0] = Buffer.concat([bytes.subarray(0, 3), rest[0]]);
    return rest;
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return [bytes];
  const text = bytes.toString('latin1', start);
  const { messages } = splitBatch(text);
  return messages
    .map((m) => m.replace(/[\r\n]+$/, (t) => (t.includes('\r') ? '\r' : t)))
    .filter((m) => m.trim().length > 0)
    .map((m) => Buffer.from(m, 'latin1'));
}
