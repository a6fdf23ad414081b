/**
 * The outbound stage: FHIR R4 (a Bundle or one resource) → HL7 v2 through declarative mappings
 * (mappings/outbound/), the inbound converters and code tables run backwards.
 */
import { encodeText, hl7CharsetToIconv } from '../charset/index.js';

export { loadOutboundSet, generateMessage, selectMapping, deriveControlId, type OutboundSet, type OutboundSetOptions, type GenerateOptions, type GenerateResult } from './generate.js';
export { parseOutValue, parseOutCondition, OutExpressionError } from './expression.js';
export { parseFilter, passesFilter, type FilterCondition } from './filter.js';
export { toDtm } from './converters.js';
export { runConvertToV2, CONVERT_V2_USAGE, DEFAULT_OUTBOUND_SET } from './convert-command.js';
export type { OutboundIssue, OutboundMapping } from './model.js';

/**
 * The message's bytes in the charset its MSH-18 names (UTF-8 when the name is unknown or empty),
 * so what a receiver decodes by MSH-18 is what was written.
 */
export function encodeOutbound(text: string, msh18: string): Buffer {
  const charset = msh18 === '' ? 'utf-8' : (hl7CharsetToIconv(msh18) ?? 'utf-8');
  return encodeText(text, charset);
}
