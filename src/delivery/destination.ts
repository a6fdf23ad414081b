/**
 * Destination files (destinations/*.yaml): one downstream system each. Validated against
 * schemas/destination.schema.json (what editors check too), with every problem at file:line:col,
 * then defaulted into a Destination.
 */
import { readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { byPosition, compileSchema, ConfigError, readYaml, schemaErrors, type SchemaWording } from '../config/index.js';
import { OutExpressionError, parseFilter, type FilterCondition } from '../outbound/index.js';
import type { ThrottlePolicy } from './throttle.js';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
}

export interface Destination {
  readonly name: string;
  readonly file: string;
  readonly source: {
    readonly topic: string;
    readonly resourceTypes: readonly string[] | null;
    /** Only records for which this condition holds are sent; the others are committed and counted (outcome "filtered"). */
    readonly filter: { readonly text: string; readonly condition: FilterCondition } | null;
  };
  readonly mapping: {
    readonly passThrough: boolean;
    /** Absolute folder of the outbound set. */
    readonly outbound: string;
    readonly site: string | null;
    readonly message: string | null;
    readonly sendingApplication: string | null;
    readonly sendingFacility: string | null;
    readonly receivingApplication: string | null;
    readonly receivingFacility: string | null;
    readonly charset: string;
  };
  readonly target: {
    readonly host: string;
    readonly port: number;
    readonly tls: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly servername?: string } | null;
    readonly ackTimeoutMs: number;
    /**
     * original: the receiver's one ACK decides (AA or CA). enhanced: messages carry MSH-15/16 = AL;
     * a CA is only the commit, and the record is done at the application ACK that follows it.
     */
    readonly acknowledgment: 'original' | 'enhanced';
  };
  readonly retry: RetryPolicy;
  /** null: no limit. */
  readonly throttle: ThrottlePolicy | null;
  /** The console's queue of this destination's dead letters: minutes one may wait before it is overdue. */
  readonly review: { readonly slaMinutes: number };
}

/** review.slaMinutes when a destination file gives none (the channels' default too). */
export const DESTINATION_REVIEW_SLA_MINUTES = 240;

interface RawDestination {
  name: string;
  source: { topic: string; resourceTypes?: string[]; filter?: string };
  mapping?: {
    outbound?: string;
    site?: string;
    message?: string;
    passThrough?: boolean;
    sendingApplication?: string;
    sendingFacility?: string;
    receivingApplication?: string;
    receivingFacility?: string;
    charset?: string;
  };
  target: { host: string; port: number; tls?: { ca?: string; cert?: string; key?: string; servername?: string }; ackTimeoutMs?: number; acknowledgment?: 'original' | 'enhanced' };
  retry?: Partial<RetryPolicy>;
  throttle?: { messagesPerSecond: number; burst?: number };
  review?: { slaMinutes?: number };
}

const WORDING: SchemaWording = { kind: 'destination', typeWords: 'values' };
let validator: ValidateFunction<RawDestination> | null = null;

/** Reads one destination file; errors (all of them) instead of a destination when it is wrong. */
export function loadDestination(file: string): { destination: Destination | null; errors: ConfigError[] } {
  const yaml = readYaml(file, 'destination', { emptyHint: 'a destination needs name, source and target' });
  if (yaml.errors.length > 0) return { destination: null, errors: [...yaml.errors] };
  validator ??= compileSchema<RawDestination>('destination.schema.json');
  const invalid = schemaErrors(yaml, validator, WORDING);
  if (invalid.length > 0) return { destination: null, errors: invalid };
  const raw = yaml.value as RawDestination;
  const errors: ConfigError[] = [];
  const m = raw.mapping ?? {};
  if (m.passThrough === true && (m.message !== undefined || m.outbound !== undefined)) {
    errors.push(yaml.error(['mapping', 'passThrough'], 'passThrough sends records as they are; remove outbound and message, or passThrough', 'pass-through', true));
  }
  const tls = raw.target.tls;
  if (tls !== undefined && (tls.cert === undefined) !== (tls.key === undefined)) {
    errors.push(yaml.error(['target', 'tls'], 'mutual TLS needs both cert and key', 'tls'));
  }
  let filter: Destination['source']['filter'] = null;
  if (raw.source.filter !== undefined) {
    if (m.passThrough === true) {
      errors.push(yaml.error(['source', 'filter'], 'a filter reads FHIR records; a passThrough destination sends v2 bytes as they are: remove filter or passThrough', 'filter'));
    } else {
      try {
        filter = { text: raw.source.filter, condition: parseFilter(raw.source.filter) };
      } catch (err) {
        if (!(err instanceof OutExpressionError)) throw err;
        const pos = yaml.charAt(['source', 'filter'], err.column - 1);
        errors.push(new ConfigError(file, pos.line, pos.col, `source.filter: ${err.message}`, 'expression'));
      }
    }
  }
  if (errors.length > 0) return { destination: null, errors };
  const here = resolve(file, '..');
  const at = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(here, p));
  return {
    destination: {
      name: raw.name,
      file,
      source: { topic: raw.source.topic, resourceTypes: raw.source.resourceTypes ?? null, filter },
      mapping: {
        passThrough: m.passThrough === true,
        outbound: at(m.outbound) ?? resolve(here, '../mappings/outbound'),
        site: m.site ?? null,
        message: m.message ?? null,
        sendingApplication: m.sendingApplication ?? null,
        sendingFacility: m.sendingFacility ?? null,
        receivingApplication: m.receivingApplication ?? null,
        receivingFacility: m.receivingFacility ?? null,
        charset: m.charset ?? 'UNICODE UTF-8',
      },
      target: {
        host: raw.target.host,
        port: raw.target.port,
        tls:
          tls === undefined
            ? null
            : {
                ...(tls.ca !== undefined ? { ca: at(tls.ca) } : {}),
                ...(tls.cert !== undefined ? { cert: at(tls.cert) } : {}),
                ...(tls.key !== undefined ? { key: at(tls.key) } : {}),
                ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
              },
        ackTimeoutMs: raw.target.ackTimeoutMs ?? 30_000,
        acknowledgment: raw.target.acknowledgment ?? 'original',
      },
      retry: {
        maxAttempts: raw.retry?.maxAttempts ?? 10,
        backoffMs: raw.retry?.backoffMs ?? 1000,
        maxBackoffMs: raw.retry?.maxBackoffMs ?? 60_000,
      },
      throttle: raw.throttle === undefined ? null : { messagesPerSecond: raw.throttle.messagesPerSecond, burst: raw.throttle.burst ?? 1 },
      review: { slaMinutes: raw.review?.slaMinutes ?? DESTINATION_REVIEW_SLA_MINUTES },
    },
    errors: [],
  };
}

/** Every *.yaml in `dir`; names must be unique across files. */
export function loadDestinations(dir: string): { destinations: Destination[]; errors: ConfigError[] } {
  if (!existsSync(dir)) return { destinations: [], errors: [new ConfigError(dir, 1, 1, 'the destinations folder does not exist', 'read')] };
  const destinations: Destination[] = [];
  const errors: ConfigError[] = [];
  const seen = new Map<string, string>();
  for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort()) {
    const file = join(dir, f);
    const r = loadDestination(file);
    errors.push(...r.errors);
    if (r.destination === null) continue;
    const first = seen.get(r.destination.name);
    if (first !== undefined) {
      const yaml = readYaml(file, 'destination');
      errors.push(yaml.error(['name'], `destination name "${r.destination.name}" is already used by ${first}`, 'duplicate-name'));
      continue;
    }
    seen.set(r.destination.name, file);
    destinations.push(r.destination);
  }
  return { destinations, errors: errors.sort(byPosition) };
}
