/**
 * The inbound lookups run backwards: FHIR code → v2 code through the same code tables, code
 * system URI → v2 coding system name, identifier system → assigning authority (HD). Where a
 * FHIR value has several v2 codes (official ← L and R), the first in the table file wins, so the
 * analyst decides the outbound code by the order of the table.
 */
import type { CodeTables, SiteConfig } from '../mapping/index.js';
import { STANDARD_CODE_SYSTEMS } from '../mapping/index.js';

export interface ReverseEnv {
  readonly site: SiteConfig;
  readonly tables: CodeTables;
}

const V2_TABLE_SYSTEM = /^http:\/\/terminology\.hl7\.org\/CodeSystem\/v2-(\d{4})$/;

/** The v2 code for a FHIR code in `table`; `system` (when known) must match the hit's system. */
export function v2CodeFor(env: ReverseEnv, table: string, code: string, system?: string): string | undefined {
  const t = env.tables.get(table);
  if (t === undefined) return undefined;
  // A coding already in the v2 table's own system is the v2 code itself.
  const own = V2_TABLE_SYSTEM.exec(system ?? '');
  if (own && table.startsWith(`hl7-${own[1]}`)) return code;
  for (const [v2, hit] of t.entries) {
    if (hit.unmapped) continue;
    const hitSystem = hit.system ?? t.targetSystem;
    if (hit.code === code && (system === undefined || hitSystem === system)) return v2;
  }
  return undefined;
}

/** The FHIR system a table's codes are in (to pick the right coding of a CodeableConcept). */
export function tableSystem(env: ReverseEnv, table: string): string | undefined {
  return env.tables.get(table)?.targetSystem;
}

/** A code system URI → v2 coding system name (CWE.3): site names first, then the standard list. */
export function codeSystemName(env: ReverseEnv, uri: string): string | undefined {
  for (const [name, u] of Object.entries(env.site.codeSystems)) if (u === uri) return name;
  for (const [name, u] of Object.entries(STANDARD_CODE_SYSTEMS)) if (u === uri) return name;
  const table = V2_TABLE_SYSTEM.exec(uri);
  if (table?.[1] !== undefined) return `HL7${table[1]}`;
  const fallback = /^urn:x-v2-cs:([^:]+):(.+)$/.exec(uri);
  if (fallback?.[2] !== undefined && decodeURIComponent(fallback[1] ?? '') === env.site.name) return decodeURIComponent(fallback[2]);
  return undefined;
}

/** HD: namespace id, universal id, universal id type. */
export type Hd = readonly [string, string, string];

const OID = /^\d+(\.\d+)+$/;

/**
 * An identifier system (and its assigner.display, where inbound conversion kept HD.1 beside the
 * universal id that gave the system) → the assigning authority that became them.
 */
export function authorityFor(env: ReverseEnv, system: string | undefined, assigner?: string): Hd | undefined {
  const ns = assigner ?? '';
  if (system === undefined || system === '') return assigner === undefined ? undefined : [assigner, '', ''];
  for (const [name, a] of Object.entries(env.site.assigningAuthorities)) {
    if (a.system === system) return OID.test(name) ? [ns, name, 'ISO'] : [name, '', ''];
  }
  const template = env.site.unknownAuthoritySystem;
  if (template !== null) {
    const [before, after] = template.replace('{site}', env.site.name).split('{name}');
    if (before !== undefined && after !== undefined && system.startsWith(before) && system.endsWith(after) && system.length > before.length + after.length) {
      // Inbound encoded the name into the URI (spaces, slashes); the HD gets the name as sent.
      return [safeDecode(system.slice(before.length, system.length - after.length)), '', ''];
    }
  }
  if (system.startsWith('urn:oid:')) return [ns, system.slice(8), 'ISO'];
  if (system.startsWith('urn:uuid:')) return [ns, system.slice(9), 'UUID'];
  return [ns, system, 'URI'];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
