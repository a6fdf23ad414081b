export { decodeMessage, DEFAULT_CHARSET_OPTIONS } from './decode-message.js';
export { decodeBytes, encodeText, isSupportedCharset, resolveCharset } from './codec.js';
export { hl7CharsetToIconv } from './table-0211.js';
export { readMsh18 } from './msh18.js';
export type {
  CharsetDecision,
  CharsetFailure,
  CharsetOptions,
  CharsetSource,
  DecodedText,
  DecodeResult,
  Repair,
  RepairKind,
} from './types.js';
