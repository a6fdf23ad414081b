/**
 * What a dry run shows: per message, the resources a replay would write compared with the
 * Bundle the fhir topic already holds for the same raw record. Resources are named by type and
 * deterministic id (never by identifier values, which can be MRNs), so the diff carries no PHI.
 */
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';

export interface ResourceDiff {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
  readonly removed: readonly string[];
}

/** "Patient/<uuid>": the id, or the uuid of the entry's urn:uuid fullUrl for conditional writes. */
export function entryName(e: BundleEntry, index: number): string {
  const type = e.resource?.resourceType ?? 'Unknown';
  const id = e.resource?.id ?? (e.fullUrl?.startsWith('urn:uuid:') ? e.fullUrl.slice('urn:uuid:'.length) : `#${index}`);
  return `${type}/${id}`;
}

function byName(b: Bundle | null): Map<string, string> {
  const out = new Map<string, string>();
  (b?.entry ?? []).forEach((e, i) => out.set(entryName(e, i), JSON.stringify(e)));
  return out;
}

export function diffBundles(before: Bundle | null, after: Bundle | null): ResourceDiff {
  const old = byName(before);
  const now = byName(after);
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [name, json] of now) {
    const was = old.get(name);
    if (was === undefined) added.push(name);
    else if (was === json) unchanged.push(name);
    else changed.push(name);
  }
  const removed = [...old.keys()].filter((n) => !now.has(n));
  return { added, changed, unchanged, removed };
}

export function formatDiff(d: ResourceDiff): string {
  const parts = [
    ...d.added.map((n) => `+${n}`),
    ...d.changed.map((n) => `~${n}`),
    ...d.removed.map((n) => `-${n}`),
  ];
  const tail = d.unchanged.length > 0 ? ` (${d.unchanged.length} unchanged)` : '';
  return parts.length > 0 ? `${parts.join(' ')}${tail}` : `no change${tail}`;
}
