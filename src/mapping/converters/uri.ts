import type { Converter } from '../types.js';

/**
 * A value made safe to place inside a URI (percent-encoded), for building urn: or url values
 * from names, e.g. concat('urn:x-hl7v2:application:', MSH-3.1 | uriPart). FHIR's uri and url
 * types refuse spaces and most punctuation that v2 names carry.
 */
export const uriPart: Converter = (value) => {
  const t = value.text.trim();
  return t === '' ? undefined : encodeURIComponent(t);
};
