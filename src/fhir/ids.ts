/**
 * Deterministic resource ids: the same site, resource type and business key always give the same
 * id, so converting a message twice (or a correction of it) addresses the same FHIR resource, and
 * no identifier (MRN, order number) ever appears inside an id.
 */
import { createHash } from 'node:crypto';

/**
 * The engine's UUIDv5 namespace, generated once (random v4) for this project and never to change:
 * changing it would re-key every resource already stored downstream.
 */
export const ID_NAMESPACE = 'cff7088f-9ff6-4e00-914b-7b4d6e8bb339';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The namespace's 16 bytes, checked and converted once per namespace (one in practice). */
let lastNamespace = '';
let lastNamespaceBytes: Buffer | null = null;
function namespaceBytes(namespace: string): Buffer {
  if (namespace === lastNamespace && lastNamespaceBytes !== null) return lastNamespaceBytes;
  if (!UUID.test(namespace)) throw new RangeError('uuidv5: namespace is not a UUID in 8-4-4-4-12 hex form');
  lastNamespaceBytes = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  lastNamespace = namespace;
  return lastNamespaceBytes;
}

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1), over the UTF-8 bytes of `name`. */
export function uuidv5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(namespaceBytes(namespace)).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const h = hash.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The id of a resource: UUIDv5(ID_NAMESPACE, "site|type|key"). The site salts the id so two
 * hospitals sending the same MRN never share a Patient. Site and type may not contain "|" (the key
 * may, being last), which keeps the joined name unambiguous; an empty key would collapse every
 * resource of the type into one, so it is refused.
 */
export function deterministicId(site: string, type: string, key: string): string {
  if (site === '' || site.includes('|')) throw new RangeError('deterministicId: site must be non-empty and contain no "|"');
  if (type === '' || type.includes('|')) throw new RangeError('deterministicId: type must be non-empty and contain no "|"');
  if (key === '') throw new RangeError(`deterministicId: empty business key for a ${type} (site ${site})`);
  return uuidv5(`${site}|${type}|${key}`, ID_NAMESPACE);
}

/** The transaction fullUrl of a resource with this id. */
export function uuidUrn(id: string): string {
  return `urn:uuid:${id}`;
}
