/** Shared by the charset tests: where the hand-made messages live, and decoding helpers. */
import { fileURLToPath } from 'node:url';
import { decodeMessage, type DecodedText, type CharsetOptions } from '../../src/charset/index.js';

export const MESSAGES_DIR = fileURLToPath(new URL('../../../test-messages/charset/', import.meta.url));

export const WINDOWS_1252: CharsetOptions = { fallback: 'windows-1252' };

/** Decodes and fails the test with the failure message if the decoder refused the bytes. */
export function decodeOk(bytes: Buffer, options: CharsetOptions = WINDOWS_1252): DecodedText {
  const result = decodeMessage(bytes, options);
  if (!result.ok) throw new Error(`expected decoded text, got charset failure: ${result.message}`);
  return result;
}

/** An MSH segment with MSH-18 set (MSH-18 is the 17th piece after "MSH"). */
export function msh(msh18: string): string {
  return `MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||ADT^A01^ADT_A01|CTRL1|P|2.5.1|||AL|NE||${msh18}`;
}

/** Field 5 of the first PID segment: the patient name in all test messages. */
export function pidName(text: string): string | undefined {
  const pid = text.split('\r').find((s) => s.startsWith('PID|'));
  return pid?.split('|')[5];
}
