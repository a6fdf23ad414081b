/**
 * A destinations folder loaded whole: every destination file and the outbound mapping set each
 * one names (loaded once per folder and site), with every problem at file:line:col.
 */
import type { ConfigError } from '../config/index.js';
import { MappingLoadError } from '../mapping/index.js';
import { loadOutboundSet, type OutboundSet } from '../outbound/index.js';
import { loadDestinations, type Destination } from './destination.js';

export interface Prepared {
  readonly destinations: readonly { readonly destination: Destination; readonly outbound: OutboundSet | null }[];
  readonly errors: readonly ConfigError[];
}

/** Loads the destinations and the outbound set each one names (loaded once per folder and site). */
export function prepareDestinations(dir: string): Prepared {
  const { destinations, errors } = loadDestinations(dir);
  const all: ConfigError[] = [...errors];
  const sets = new Map<string, OutboundSet>();
  const out: { destination: Destination; outbound: OutboundSet | null }[] = [];
  for (const d of destinations) {
    if (d.mapping.passThrough) {
      out.push({ destination: d, outbound: null });
      continue;
    }
    const key = `${d.mapping.outbound}\u0000${d.mapping.site ?? ''}`;
    let set = sets.get(key);
    if (set === undefined) {
      try {
        set = loadOutboundSet(d.mapping.outbound, d.mapping.site ? { site: d.mapping.site } : {});
        sets.set(key, set);
      } catch (err) {
        if (!(err instanceof MappingLoadError)) throw err;
        all.push(...err.errors);
        continue;
      }
    }
    out.push({ destination: d, outbound: set });
  }
  return { destinations: out, errors: all };
}

